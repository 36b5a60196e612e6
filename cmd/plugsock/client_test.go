package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/calc/calc"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/typedesc"
)

// fakeAdmin stands in for admin.Client and records what it was asked.
type fakeAdmin struct {
	baseURL string
	cfg     adminConfig // what the command configured
	err     error       // returned by every method when set

	plugins   map[string]*envelope.PluginInfo
	result    json.RawMessage
	broadcast map[string]admin.BroadcastResult

	name, method string
	payload      json.RawMessage
}

func (f *fakeAdmin) List(context.Context) (map[string]*envelope.PluginInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]*envelope.PluginInfo{}
	for n, p := range f.plugins {
		out[n] = p.DeepCopy(false)
	}
	return out, nil
}

func (f *fakeAdmin) Describe(_ context.Context, name string) (*envelope.PluginInfo, error) {
	f.name = name
	if f.err != nil {
		return nil, f.err
	}
	p := f.plugins[name]
	if p == nil {
		return nil, &admin.APIError{Status: http.StatusNotFound, Message: `no such plugin: "` + name + `"`}
	}
	return p.DeepCopy(true), nil
}

func (f *fakeAdmin) Call(_ context.Context, name, method string, payload json.RawMessage) (json.RawMessage, error) {
	f.name, f.method, f.payload = name, method, payload
	return f.result, f.err
}

func (f *fakeAdmin) Broadcast(_ context.Context, method string, payload json.RawMessage) (map[string]admin.BroadcastResult, error) {
	f.method, f.payload = method, payload
	return f.broadcast, f.err
}

func (f *fakeAdmin) Unplug(_ context.Context, name string) error {
	f.name = name
	return f.err
}

// useFake makes the commands talk to f.
func useFake(t *testing.T, f *fakeAdmin) {
	t.Helper()
	t.Setenv("PLUGSOCK_ADMIN", "")
	old := newAdmin
	newAdmin = func(cfg adminConfig) adminAPI {
		f.baseURL, f.cfg = cfg.BaseURL, cfg
		return f
	}
	t.Cleanup(func() { newAdmin = old })
}

// useStdin makes "-" payloads read s.
func useStdin(t *testing.T, s string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	t.Cleanup(func() { stdin = old })
}

func info(name, version string, v any) *envelope.PluginInfo {
	p := &envelope.PluginInfo{Name: name, Version: version, Functions: map[string]typedesc.Function{}}
	// Describe v's methods the way plugin.Start does, by hand: the fake
	// server only needs something realistic to render.
	switch v.(type) {
	case *calc.Calc:
		for _, m := range []string{"Add", "Sub", "Mul", "Div"} {
			p.Functions[m] = typedesc.Function{Name: m, Input: typedesc.TypeDescription(calc.Args{}), Output: typedesc.TypeDescription(0.0)}
		}
	case *kv.Store:
		p.Functions["Set"] = typedesc.Function{Name: "Set", Input: typedesc.TypeDescription(kv.Entry{}), Output: typedesc.TypeDescription(false)}
		p.Functions["Keys"] = typedesc.Function{Name: "Keys", Output: typedesc.TypeDescription([]string{})}
	}
	return p
}

func twoPlugins() *fakeAdmin {
	return &fakeAdmin{plugins: map[string]*envelope.PluginInfo{
		"kv":   info("kv", "1.0.0", new(kv.Store)),
		"calc": info("calc", "1.0.0", new(calc.Calc)),
		"bare": {Name: "bare"},
	}}
}

func TestAdminAddress(t *testing.T) {
	f := twoPlugins()
	useFake(t, f)

	code, _, _ := runCLI(t, "list")
	require.Equal(t, exitOK, code)
	assert.Equal(t, "http://127.0.0.1:7701", f.baseURL, "the default")

	t.Setenv("PLUGSOCK_ADMIN", "10.0.0.1:9000")
	runCLI(t, "list")
	assert.Equal(t, "http://10.0.0.1:9000", f.baseURL, "the environment")

	runCLI(t, "list", "--admin", "https://admin.example/")
	assert.Equal(t, "https://admin.example", f.baseURL, "the flag wins; a scheme is kept")
}

func TestList(t *testing.T) {
	useFake(t, twoPlugins())
	code, out, errOut := runCLI(t, "list")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, errOut)
	assert.Equal(t, ""+
		"NAME  VERSION\n"+
		"bare  -\n"+
		"calc  1.0.0\n"+
		"kv    1.0.0\n", out)

	code, out, _ = runCLI(t, "list", "--json")
	assert.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"plugins":[{"name":"bare","version":""},{"name":"calc","version":"1.0.0"},{"name":"kv","version":"1.0.0"}]}`, out)
}

func TestListEmpty(t *testing.T) {
	useFake(t, &fakeAdmin{})
	code, out, _ := runCLI(t, "list")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "No plugins connected.\n", out)

	_, out, _ = runCLI(t, "list", "--json")
	assert.JSONEq(t, `{"plugins":[]}`, out, "an empty list, not null, for scripts")
}

func TestDescribe(t *testing.T) {
	f := twoPlugins()
	useFake(t, f)
	code, out, errOut := runCLI(t, "describe", "kv")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, errOut)
	assert.Equal(t, "kv", f.name)
	assert.Equal(t, ""+
		"kv 1.0.0 — 2 functions\n"+
		"\n"+
		"FUNCTION  INPUT                    OUTPUT\n"+
		"Keys      -                        []string\n"+
		"Set       {key string, value any}  bool\n"+
		"\n"+
		"\"?\" marks an optional field; \"-\" means nothing is described.\n", out)

	code, out, _ = runCLI(t, "describe", "bare")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "bare — 0 functions\n\n", out)

	code, out, _ = runCLI(t, "describe", "calc", "--json")
	assert.Equal(t, exitOK, code)
	var got envelope.PluginInfo
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, f.plugins["calc"], &got)
}

func TestDescribeUnknown(t *testing.T) {
	useFake(t, twoPlugins())
	code, out, errOut := runCLI(t, "describe", "nosuch")
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugsock describe: no such plugin: \"nosuch\"\n", errOut)
}

func TestCall(t *testing.T) {
	f := &fakeAdmin{result: json.RawMessage(`{"key":"color","value":["blue","green"]}`)}
	useFake(t, f)
	code, out, errOut := runCLI(t, "call", "kv", "Get", `{"key":"color"}`)
	assert.Equal(t, exitOK, code)
	assert.Empty(t, errOut)
	assert.Equal(t, "kv", f.name)
	assert.Equal(t, "Get", f.method)
	assert.JSONEq(t, `{"key":"color"}`, string(f.payload))
	assert.Equal(t, "{\n  \"key\": \"color\",\n  \"value\": [\n    \"blue\",\n    \"green\"\n  ]\n}\n", out)

	code, out, _ = runCLI(t, "call", "--json", "kv", "Get", `{"key":"color"}`)
	assert.Equal(t, exitOK, code)
	assert.Equal(t, `{"key":"color","value":["blue","green"]}`+"\n", out, "one line for scripts")
}

func TestCallPayloadFromStdin(t *testing.T) {
	f := &fakeAdmin{result: json.RawMessage(`5`)}
	useFake(t, f)

	useStdin(t, `{"a": 2, "b": 3}`)
	code, out, _ := runCLI(t, "call", "calc", "Add", "-")
	assert.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"a":2,"b":3}`, string(f.payload))
	assert.Equal(t, "5\n", out)

	useStdin(t, `{"a": 4, "b": 1}`)
	code, _, _ = runCLI(t, "call", "calc", "Sub")
	assert.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"a":4,"b":1}`, string(f.payload), "no argument reads stdin too")

	useStdin(t, "  \n")
	code, _, _ = runCLI(t, "call", "calc", "Stats")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "null", string(f.payload), "empty stdin is a null payload")

	useStdin(t, "{")
	code, _, errOut := runCLI(t, "call", "calc", "Add")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "payload is not valid JSON")
}

func TestCallMethodError(t *testing.T) {
	useFake(t, &fakeAdmin{err: &admin.APIError{Status: http.StatusUnprocessableEntity, Code: -32000, Message: "division by zero"}})
	code, out, errOut := runCLI(t, "call", "calc", "Div", `{"a":1,"b":0}`)
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugsock call: division by zero (code -32000, method error)\n", errOut)

	useFake(t, &fakeAdmin{err: &admin.APIError{Status: http.StatusNotFound, Code: -32601, Message: "method not found: Pow"}})
	code, _, errOut = runCLI(t, "call", "calc", "Pow", `{}`)
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock call: method not found: Pow (code -32601, method not found)\n", errOut)
}

func TestBroadcast(t *testing.T) {
	f := &fakeAdmin{broadcast: map[string]admin.BroadcastResult{
		"kv":   {Result: json.RawMessage(`{"keys":1,"changes":3}`)},
		"calc": {Result: json.RawMessage(`{"calls":2}`)},
	}}
	useFake(t, f)
	code, out, errOut := runCLI(t, "broadcast", "Stats")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, errOut)
	assert.Equal(t, "Stats", f.method)
	assert.Equal(t, "null", string(f.payload))
	assert.Equal(t, ""+
		"PLUGIN  RESULT\n"+
		"calc    {\"calls\": 2}\n"+
		"kv      {\"keys\": 1, \"changes\": 3}\n", out)
}

func TestBroadcastPartialFailure(t *testing.T) {
	useFake(t, &fakeAdmin{broadcast: map[string]admin.BroadcastResult{
		"kv":   {Result: json.RawMessage(`["color"]`)},
		"calc": {Error: &admin.ErrorBody{Code: -32601, Message: "method not found: Keys"}},
	}})
	code, out, errOut := runCLI(t, "broadcast", "Keys", "{}")
	assert.Equal(t, exitFail, code, "any plugin failing fails the command")
	assert.Equal(t, ""+
		"PLUGIN  RESULT\n"+
		"calc    error: method not found: Keys (code -32601, method not found)\n"+
		"kv      [\"color\"]\n", out)
	assert.Equal(t, "plugsock broadcast: 1 of 2 plugins failed\n", errOut)

	code, out, _ = runCLI(t, "broadcast", "Keys", "--json")
	assert.Equal(t, exitFail, code)
	assert.JSONEq(t, `{"results":{"calc":{"error":{"code":-32601,"message":"method not found: Keys"}},"kv":{"result":["color"]}}}`, out)
}

func TestBroadcastNobody(t *testing.T) {
	useFake(t, &fakeAdmin{})
	code, out, _ := runCLI(t, "broadcast", "Stats")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "No plugins connected.\n", out)
	_, out, _ = runCLI(t, "broadcast", "Stats", "--json")
	assert.JSONEq(t, `{"results":{}}`, out)
}

func TestUnplug(t *testing.T) {
	f := &fakeAdmin{}
	useFake(t, f)
	code, out, _ := runCLI(t, "unplug", "calc")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "calc", f.name)
	assert.Equal(t, "Unplugged calc.\n", out)

	useFake(t, &fakeAdmin{err: &admin.APIError{Status: http.StatusNotFound, Message: `no such plugin: "calc"`}})
	code, _, errOut := runCLI(t, "unplug", "calc")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock unplug: no such plugin: \"calc\"\n", errOut)
}

// TestUnreachable gives the commands the error a real HTTP client returns
// for an address where nothing listens.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	resp, dialErr := http.Get("http://" + addr + "/api/plugins")
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, dialErr, "nothing listens on %s", addr)

	useFake(t, &fakeAdmin{err: dialErr})
	for _, args := range [][]string{{"list"}, {"describe", "calc"}, {"call", "calc", "Add", "{}"}, {"broadcast", "Stats", "{}"}, {"unplug", "calc"}} {
		code, out, errOut := runCLI(t, append(args, "--admin", addr)...)
		assert.Equal(t, exitFail, code, args)
		assert.Empty(t, out)
		assert.Equal(t, "plugsock "+args[0]+": cannot reach the admin API at http://"+addr+
			" (is 'plugsock serve' running?): connection refused\n", errOut)
	}
}

func TestTimeout(t *testing.T) {
	f := &fakeAdmin{err: context.DeadlineExceeded}
	useFake(t, f)
	code, _, errOut := runCLI(t, "list", "--timeout", "2s")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock list: no answer from the admin API at http://127.0.0.1:7701 within 2s\n", errOut)
	assert.Zero(t, f.cfg.Timeout, "list calls no plugin: the API is given no timeout")
}

func TestOtherErrorsOnOneLine(t *testing.T) {
	useFake(t, &fakeAdmin{err: errors.New("decoding answer:\n  unexpected EOF")})
	code, _, errOut := runCLI(t, "list")
	assert.Equal(t, exitFail, code)
	assert.Equal(t, "plugsock list: decoding answer: unexpected EOF\n", errOut)
}
