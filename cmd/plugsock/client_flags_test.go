package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// TestNegativePayloads: a negative number is a payload, not a flag, and
// so is anything after "--".
func TestNegativePayloads(t *testing.T) {
	f := &fakeAdmin{result: json.RawMessage(`5`)}
	useFake(t, f)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"call", "calc", "Neg", "-5"}, "-5"},
		{[]string{"call", "calc", "Neg", "--", "-5"}, "-5"},
		{[]string{"call", "-json", "calc", "Neg", "-5"}, "-5"},
		{[]string{"call", "calc", "Neg", "-5", "--json"}, "-5"},
		{[]string{"call", "calc", "Neg", "-1e3"}, "-1e3"},
		{[]string{"call", "--", "calc", "Neg", "-0.25"}, "-0.25"},
		{[]string{"call", "calc", "Echo", "--", `"--json"`}, `"--json"`},
	} {
		f.payload = nil
		code, out, errOut := runCLI(t, tc.args...)
		assert.Equal(t, exitOK, code, "%v: %s", tc.args, errOut)
		assert.Equal(t, tc.want, string(f.payload), tc.args)
		assert.Equal(t, "calc", f.name, tc.args)
		if strings.Contains(strings.Join(tc.args, " "), "json") && tc.args[2] != "Echo" {
			assert.Equal(t, "5\n", out)
		}
	}

	f = &fakeAdmin{broadcast: map[string]admin.BroadcastResult{"calc": {Result: json.RawMessage(`1.5`)}}}
	useFake(t, f)
	code, out, errOut := runCLI(t, "broadcast", "M", "-1.5")
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "M", f.method)
	assert.Equal(t, "-1.5", string(f.payload))
	assert.Equal(t, "PLUGIN  RESULT\ncalc    1.5\n", out)

	code, _, errOut = runCLI(t, "call", "calc", "Neg", "-x")
	assert.Equal(t, exitUsage, code, "a dash and a letter is still a flag")
	assert.Contains(t, errOut, "flag provided but not defined: -x")
}

func TestIsFlag(t *testing.T) {
	for a, want := range map[string]bool{
		"-json": true, "--json": true, "-h": true, "--admin=x": true,
		"-5": false, "--5": false, "-1.5": false, "-": false, "--": false, "---x": false, "-.5": false, "x": false, "": false,
	} {
		assert.Equal(t, want, isFlag(a), "%q", a)
	}
}

// TestAdminToken: every client command sends --admin-token, else
// $PLUGSOCK_ADMIN_TOKEN, else a token= in the admin URL, through the real
// admin.Client, as "Authorization: Bearer".
func TestAdminToken(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != "Bearer right" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":0,"message":"missing or wrong token"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.Contains(r.URL.Path, "/call/"):
			io.WriteString(w, `{"result":1}`)
		case strings.Contains(r.URL.Path, "/broadcast/"):
			io.WriteString(w, `{"results":{"calc":{"result":1}}}`)
		case r.URL.Path == "/api/plugins":
			io.WriteString(w, `{"plugins":[{"name":"calc"}]}`)
		default:
			io.WriteString(w, `{"name":"calc"}`)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("PLUGSOCK_ADMIN", srv.URL)
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "")

	commands := [][]string{{"list"}, {"describe", "calc"}, {"call", "calc", "Add", "{}"}, {"broadcast", "Stats", "{}"}, {"unplug", "calc"}}
	for _, args := range commands {
		code, _, errOut := runCLI(t, append(args, "--admin-token", "right")...)
		assert.Equal(t, exitOK, code, "%v: %s", args, errOut)
		assert.Equal(t, "Bearer right", got.Load(), args)

		code, out, errOut := runCLI(t, args...)
		assert.Equal(t, exitFail, code, args)
		assert.Empty(t, out)
		assert.Equal(t, "plugsock "+args[0]+": the admin API at "+srv.URL+" needs a token; "+
			"set --admin-token or $PLUGSOCK_ADMIN_TOKEN to the token 'plugsock serve' printed\n", errOut)
	}

	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "right")
	code, _, errOut := runCLI(t, "list")
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "Bearer right", got.Load(), "the environment")

	code, _, errOut = runCLI(t, "list", "--admin-token", "wrong")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "Bearer wrong", got.Load(), "the flag wins")
	assert.Equal(t, "plugsock list: the admin API at "+srv.URL+" refused the token from --admin-token; "+
		"set --admin-token or $PLUGSOCK_ADMIN_TOKEN to the token 'plugsock serve' printed\n", errOut)
	assert.NotContains(t, errOut, "wrong", "the token is not shown")

	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "")
	code, _, errOut = runCLI(t, "list", "--admin", srv.URL+"/?token=right")
	assert.Equal(t, exitOK, code, "the console URL serve prints is an admin address: %s", errOut)
	assert.Equal(t, "Bearer right", got.Load())
}

// TestNoSecretInHelp: no command's --help shows a token from the
// environment as a flag's default.
func TestNoSecretInHelp(t *testing.T) {
	const secret = "s3cr3t-b12"
	for _, env := range []string{"PLUGSOCK_TOKEN", "PLUGSOCK_ADMIN_TOKEN"} {
		t.Setenv(env, secret)
	}
	t.Setenv("PLUGSOCK_ADMIN", "http://user:"+secret+"@127.0.0.1:1/?token="+secret)
	require.NotEmpty(t, commands)
	for name := range commands {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			code, out, errOut := runCLI(t, args...)
			assert.Equal(t, exitOK, code, args)
			assert.NotContains(t, out+errOut, secret, "%v prints a secret", args)
		}
	}
	code, out, errOut := runCLI(t, "help")
	assert.Equal(t, exitOK, code)
	assert.NotContains(t, out+errOut, secret)
}

// TestNoSecretInErrors: an admin address with a password or a token in
// it is shown without them, and the token sent is never printed.
func TestNoSecretInErrors(t *testing.T) {
	const secret = "s3cr3t-b12"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", secret)
	for _, admin := range []string{"http://user:" + secret + "@" + addr, "http://" + addr + "/?token=" + secret + "#" + secret} {
		for _, args := range [][]string{{"list"}, {"call", "calc", "Add", "{}"}, {"unplug", "calc"}} {
			code, out, errOut := runCLI(t, append(args, "--admin", admin, "--admin-token", secret)...)
			assert.Equal(t, exitFail, code)
			assert.Equal(t, "plugsock "+args[0]+": cannot reach the admin API at http://"+addr+
				" (is 'plugsock serve' running?): connection refused\n", errOut)
			assert.NotContains(t, out+errOut, secret)
		}
	}
}

// slow is a plugin whose Slow never answers before its caller gives up.
type slow struct{ cancelled chan struct{} }

func (s *slow) Slow(ctx context.Context, _ struct{}) (int, error) {
	<-ctx.Done()
	s.cancelled <- struct{}{}
	return 0, ctx.Err()
}

func (s *slow) Fast(context.Context, struct{}) (int, error) { return 1, nil }

// TestCallTimeoutNamesPlugin runs call and broadcast with --timeout
// against the real admin API, with its token, and a plugin that does not
// answer: the API is asked to give up first, so the report names the
// plugin and method.
func TestCallTimeoutNamesPlugin(t *testing.T) {
	var s socket.Socket
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet})
	a := admin.New(&s, admin.Config{Logger: quiet, Token: "t0ken"})
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		a.Close()
		require.NoError(t, s.Shutdown(""))
		srv.Close()
	})
	p := &slow{cancelled: make(chan struct{}, 4)}
	for _, name := range []string{"calc", "kv"} {
		got, err := s.Attach(p, &envelope.PluginInfo{Name: name})
		require.NoError(t, err)
		require.Equal(t, name, got)
	}
	t.Setenv("PLUGSOCK_ADMIN", srv.URL)
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "")

	code, out, errOut := runCLI(t, "call", "calc", "Fast", "{}")
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugsock call: the admin API at "+srv.URL+" needs a token; "+
		"set --admin-token or $PLUGSOCK_ADMIN_TOKEN to the token 'plugsock serve' printed\n", errOut)
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "t0ken")

	start := time.Now()
	code, out, errOut = runCLI(t, "call", "--timeout", "300ms", "calc", "Slow", "{}")
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugsock call: calc.Slow did not answer within 300ms (--timeout)\n", errOut)
	assert.Less(t, time.Since(start), 300*time.Millisecond+callGrace, "the API's answer came before the command gave up")
	waitCancelled(t, p, 1)

	code, out, errOut = runCLI(t, "broadcast", "--timeout", "300ms", "Slow", "{}")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock broadcast: 2 of 2 plugins failed\n", errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	for i, name := range []string{"calc", "kv"} {
		assert.True(t, strings.HasPrefix(lines[i+1], name+" "), out)
		assert.Contains(t, lines[i+1], "Slow", out)
		assert.Contains(t, lines[i+1], "300ms", out)
	}
	waitCancelled(t, p, 2)

	code, out, errOut = runCLI(t, "call", "--timeout", "300ms", "calc", "Fast", "{}")
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "1\n", out)
}

func waitCancelled(t *testing.T, p *slow, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-p.cancelled:
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d of Slow was not cancelled", i+1)
		}
	}
}

// TestCallTimeoutWithoutAnswer: when the admin API itself does not answer
// in time, the command says so, and which call it was making.
func TestCallTimeoutWithoutAnswer(t *testing.T) {
	f := &fakeAdmin{err: fmt.Errorf("admin: %w", context.DeadlineExceeded)}
	useFake(t, f)
	code, _, errOut := runCLI(t, "call", "calc", "Slow", "{}", "--timeout", "2s")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock call: no answer from the admin API at http://127.0.0.1:7701 within 3s (calling calc.Slow)\n", errOut)
	assert.Equal(t, 2*time.Second, f.cfg.Timeout, "the API is asked to wait --timeout for the plugin")

	useFake(t, &fakeAdmin{err: &admin.APIError{Status: http.StatusGatewayTimeout, Message: "call calc.Slow timed out after 2s"}})
	code, _, errOut = runCLI(t, "call", "calc", "Slow", "{}", "--timeout", "2s")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock call: calc.Slow did not answer within 2s (--timeout)\n", errOut)
}

// TestCallTimeoutQuery: the ?timeout= the API is sent, on calls and
// broadcasts only.
func TestCallTimeoutQuery(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method + " " + r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(r.URL.Path, "/call/"):
			io.WriteString(w, `{"result":1}`)
		case strings.Contains(r.URL.Path, "/broadcast/"):
			io.WriteString(w, `{"results":{}}`)
		default:
			io.WriteString(w, `{"plugins":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("PLUGSOCK_ADMIN", srv.URL)
	runCLI(t, "call", "calc", "Add", "{}", "--timeout", "1500ms")
	assert.Equal(t, "POST /api/plugins/calc/call/Add?timeout=1.5s", got.Load())
	runCLI(t, "broadcast", "Stats", "{}")
	assert.Equal(t, "POST /api/broadcast/Stats?timeout=30s", got.Load())
	runCLI(t, "list", "--timeout", "1s")
	assert.Equal(t, "GET /api/plugins", got.Load())
}
