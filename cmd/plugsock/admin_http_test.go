package main

// Tests of the client commands through the real admin.Client, against an
// HTTP server that speaks the admin API's documented shapes, and of serve
// end to end.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/calc/calc"
	"github.com/plugsock/plugsock/plugin"
)

// apiServer answers like the admin API, for a calc and a kv plugin.
func apiServer(t *testing.T) *httptest.Server {
	t.Helper()
	calcInfo := info("calc", "1.0.0", new(calc.Calc))
	fail := func(w http.ResponseWriter, status int, code int64, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":%q}}`, code, msg)
	}
	reply := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/plugins", func(w http.ResponseWriter, r *http.Request) {
		reply(w, `{"plugins":[{"name":"calc","version":"1.0.0"},{"name":"kv","version":"1.0.0"}]}`)
	})
	mux.HandleFunc("GET /api/plugins/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != "calc" {
			fail(w, http.StatusNotFound, 0, fmt.Sprintf("no such plugin: %q", r.PathValue("name")))
			return
		}
		b, _ := json.Marshal(calcInfo)
		reply(w, string(b))
	})
	mux.HandleFunc("POST /api/plugins/{name}/call/{method}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) > 0 && !json.Valid(body) {
			fail(w, http.StatusBadRequest, 0, "body is not JSON")
			return
		}
		var args calc.Args
		_ = json.Unmarshal(body, &args)
		switch r.PathValue("method") {
		case "Add":
			reply(w, fmt.Sprintf(`{"result":%v}`, args.A+args.B))
		case "Div":
			fail(w, http.StatusUnprocessableEntity, envelope.CodeMethodError, "division by zero")
		default:
			fail(w, http.StatusNotFound, envelope.CodeMethodNotFound, "method not found: "+r.PathValue("method"))
		}
	})
	mux.HandleFunc("POST /api/broadcast/{method}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, `{"results":{"calc":{"result":{"calls":2}},"kv":{"error":{"code":-32601,"message":"method not found: Stats"}}}}`)
	})
	mux.HandleFunc("DELETE /api/plugins/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != "calc" {
			fail(w, http.StatusNotFound, 0, fmt.Sprintf("no such plugin: %q", r.PathValue("name")))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestClientCommandsOverHTTP(t *testing.T) {
	srv := apiServer(t)
	t.Setenv("PLUGSOCK_ADMIN", srv.URL)

	code, out, errOut := runCLI(t, "list")
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "NAME  VERSION\ncalc  1.0.0\nkv    1.0.0\n", out)

	code, out, errOut = runCLI(t, "describe", "calc")
	assert.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "calc 1.0.0 — 4 functions\n")
	assert.Contains(t, out, "Add       {a float64, b float64}  float64\n")

	code, _, errOut = runCLI(t, "describe", "nosuch")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock describe: no such plugin: \"nosuch\"\n", errOut)

	code, out, errOut = runCLI(t, "call", "calc", "Add", `{"a":2,"b":3}`)
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "5\n", out)

	code, out, errOut = runCLI(t, "call", "calc", "Div", `{"a":1,"b":0}`)
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugsock call: division by zero (code -32000, method error)\n", errOut)

	code, out, errOut = runCLI(t, "broadcast", "Stats")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "PLUGIN  RESULT\ncalc    {\"calls\": 2}\nkv      error: method not found: Stats (code -32601, method not found)\n", out)
	assert.Equal(t, "plugsock broadcast: 1 of 2 plugins failed\n", errOut)

	code, out, _ = runCLI(t, "unplug", "calc")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "Unplugged calc.\n", out)
	code, _, errOut = runCLI(t, "unplug", "kv2")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock unplug: no such plugin: \"kv2\"\n", errOut)
}

func TestUnreachableOverHTTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	code, out, errOut := runCLI(t, "list", "--admin", addr)
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugsock list: cannot reach the admin API at http://"+addr+" (is 'plugsock serve' running?): connection refused\n", errOut)
}

func TestServeWithAdmin(t *testing.T) {
	logs, stop := startServe(t, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--admin-token", "tok")
	addr := logs.waitFor(t, "plugsock: socket listening", nil)["addr"].(string)
	url := logs.waitFor(t, "plugsock: admin API listening", nil)["url"].(string)
	req, err := http.NewRequest("GET", url+"/api/plugins", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t.Setenv("PLUGSOCK_ADMIN", url)
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "tok")

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() {
		started <- (&plugin.Plugin{Logger: quiet}).Start(new(calc.Calc), &envelope.PluginInfo{Name: "calc", Version: "1.0.0"}, conn, nil)
	}()
	logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": "calc"})

	code, out, errOut := runCLI(t, "list")
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "NAME  VERSION\ncalc  1.0.0\n", out)

	code, out, errOut = runCLI(t, "call", "calc", "Mul", `{"a":6,"b":7}`)
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "42\n", out)

	code, _, errOut = runCLI(t, "call", "calc", "Div", `{"a":1,"b":0}`)
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock call: division by zero (code -32000, method error)\n", errOut)

	code, out, errOut = runCLI(t, "describe", "calc")
	assert.Equal(t, exitOK, code, errOut)
	assert.True(t, strings.HasPrefix(out, "calc 1.0.0 — 5 functions\n"), out)

	code, _, errOut = runCLI(t, "unplug", "calc")
	assert.Equal(t, exitOK, code, errOut)
	assert.NoError(t, <-started)
	logs.waitFor(t, "plugsock: disconnected", map[string]any{"plugin": "calc", "graceful": true})

	assert.Equal(t, exitOK, stop())
}
