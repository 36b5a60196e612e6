package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
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
)

func TestHealth(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/health", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, map[string]any{"plugins": 0.0, "subscribers": 0.0, "eventsDropped": 0.0}, r.json(t))

	e.attach(newCalc(), "calc", "1.0.0")
	e.dial(Greeter{}, "greeter", "")
	r = e.do("GET", "/api/health", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, 2.0, r.json(t)["plugins"])
}

func TestList(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/plugins", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"plugins":[]}`, string(r.body))

	e.dial(Greeter{}, "greeter", "0.1.0")
	e.attach(newCalc(), "calc", "1.0.0")
	r = e.do("GET", "/api/plugins", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	// Sorted by name, without functions.
	assert.JSONEq(t, `{"plugins":[{"name":"calc","version":"1.0.0"},{"name":"greeter","version":"0.1.0"}]}`, string(r.body))
}

func TestDescribe(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "1.0.0")

	r := e.do("GET", "/api/plugins/calc", "")
	require.Equal(t, http.StatusOK, r.status)
	var info envelope.PluginInfo
	require.NoError(t, json.Unmarshal(r.body, &info))
	assert.Equal(t, "calc", info.Name)
	assert.Equal(t, "1.0.0", info.Version)
	assert.ElementsMatch(t, []string{"Add", "Block", "Div", "Echo", "Emit", "Panic", "Total"}, keys(info.Functions))
	add := info.Functions["Add"]
	require.NotNil(t, add.Input)
	assert.Equal(t, "struct", add.Input.Type)
	require.Len(t, add.Input.Fields, 2)
	assert.Equal(t, "a", add.Input.Fields[0].Name)
	assert.Equal(t, "int", add.Input.Fields[0].Type)
	assert.True(t, add.Input.Fields[0].Mandatory)
	assert.Equal(t, "int", add.Output.Type)

	r = e.do("GET", "/api/plugins/nope", "")
	require.Equal(t, http.StatusNotFound, r.status)
	code, msg := r.apiError(t)
	assert.Equal(t, int64(0), code)
	assert.Equal(t, `no plugin named "nope" is connected`, msg)

	r = e.do("HEAD", "/api/plugins/calc", "")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Empty(t, r.body)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOpenRPC(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "1.0.0")
	e.attach(Greeter{}, "greeter", "")

	r := e.do("GET", "/api/plugins/calc/openrpc", "")
	require.Equal(t, http.StatusOK, r.status)
	var doc admin.OpenRPC
	require.NoError(t, json.Unmarshal(r.body, &doc), "%s", r.body)
	assert.Equal(t, "1.3.2", doc.OpenRPC)
	assert.Equal(t, "calc", doc.Info.Title)
	assert.Equal(t, "1.0.0", doc.Info.Version)

	var names []string
	methods := map[string]admin.OpenRPCMethod{}
	for _, m := range doc.Methods {
		names = append(names, m.Name)
		methods[m.Name] = m
		// Params by name, and a result, each with a schema: the shape
		// OpenRPC tools expect.
		assert.Equal(t, "by-name", m.ParamStructure, m.Name)
		for _, p := range m.Params {
			assert.NotNil(t, p.Schema, m.Name)
		}
		require.NotNil(t, m.Result, m.Name)
		assert.Equal(t, "result", m.Result.Name, m.Name)
		assert.NotNil(t, m.Result.Schema, m.Name)
	}
	assert.Equal(t, []string{"Add", "Block", "Div", "Echo", "Emit", "Panic", "Total"}, names, "sorted by name")

	// An object input: a param per member, in order.
	info := e.s.PluginInfo("calc")
	paramNames := func(m admin.OpenRPCMethod) []string {
		var out []string
		for _, p := range m.Params {
			out = append(out, p.Name)
		}
		return out
	}
	add := methods["Add"]
	assert.Equal(t, []string{"a", "b"}, paramNames(add))
	// An Entity's mandatory field is a required param; a Go schema
	// requires nothing that encoding/json does not.
	mandatory := info.Functions["Add"].InputSchema == nil
	for _, p := range add.Params {
		assert.True(t, typeIncludes(p.Schema, "integer"), "%s: %v", p.Name, p.Schema)
		assert.Equal(t, mandatory, p.Required, p.Name)
	}
	assert.True(t, typeIncludes(add.Result.Schema, "integer"), "%v", add.Result.Schema)

	total := methods["Total"]
	assert.Equal(t, []string{"id", "items", "note"}, paramNames(total))
	assert.True(t, typeIncludes(total.Params[1].Schema, "array"), "%v", total.Params[1].Schema)
	assert.True(t, typeIncludes(total.Result.Schema, "number"), "%v", total.Result.Schema)

	// Any other input: one param, "value".
	echo := methods["Echo"]
	require.Equal(t, []string{"value"}, paramNames(echo))
	assert.False(t, echo.Params[0].Required, "a string payload may be left out: null decodes")
	assert.True(t, typeIncludes(echo.Params[0].Schema, "string"), "%v", echo.Params[0].Schema)
	// struct{} has no Entity, but its schema is an object's: it goes by
	// name, and has no member to list.
	panicky := methods["Panic"]
	assert.Empty(t, paramNames(panicky))

	r = e.do("GET", "/api/plugins/greeter/openrpc", "")
	require.Equal(t, http.StatusOK, r.status)
	var g map[string]any
	require.NoError(t, json.Unmarshal(r.body, &g))
	assert.Equal(t, "unversioned", g["info"].(map[string]any)["version"], "info.version is required by OpenRPC")

	r = e.do("GET", "/api/plugins/nope/openrpc", "")
	require.Equal(t, http.StatusNotFound, r.status)
	_, msg := r.apiError(t)
	assert.Contains(t, msg, `"nope"`)
}

// typeIncludes reports whether a JSON Schema's type is want, or a list
// of types with want in it.
func typeIncludes(schema map[string]any, want string) bool {
	switch t := schema["type"].(type) {
	case string:
		return t == want
	case []any:
		for _, e := range t {
			if e == want {
				return true
			}
		}
	}
	return false
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestCall(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "1.0.0")
	e.dial(Greeter{}, "greeter", "")

	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		result                   string // JSON, for 200
		code                     int64
		message                  string // substring, for errors
	}{
		{name: "ok", path: "/api/plugins/calc/call/Add", body: `{"a":2,"b":3}`, status: 200, result: `5`},
		{name: "ok over TCP", path: "/api/plugins/greeter/call/Hello", body: `"ann"`, status: 200, result: `"hello, ann"`},
		{name: "nested", path: "/api/plugins/calc/call/Total", body: `{"id":1,"items":[{"name":"x","price":1.5},{"name":"y","price":2}]}`, status: 200, result: `3.5`},
		{name: "empty body is null", path: "/api/plugins/calc/call/Echo", status: 200, result: `""`},
		{name: "whitespace body is null", path: "/api/plugins/calc/call/Echo", body: " \n ", status: 200, result: `""`},
		{name: "method's own error", path: "/api/plugins/calc/call/Div", body: `{"a":1,"b":0}`, status: 422, code: -32000, message: "division by zero"},
		// The socket does not validate: the plugin decodes the payload.
		{name: "plugin-side validation", path: "/api/plugins/calc/call/Add", body: `{"a":"x","b":1}`, status: 400, code: -32602, message: `invalid params for Add: field "a": expected int, got string`},
		{name: "missing mandatory field", path: "/api/plugins/calc/call/Add", body: `{"a":1}`, status: 200, result: `1`},
		{name: "panic", path: "/api/plugins/calc/call/Panic", body: `{}`, status: 500, code: -32603, message: "boom"},
		{name: "unknown function", path: "/api/plugins/calc/call/Nope", body: `{}`, status: 404, code: -32601, message: `plugin "calc" has no function "Nope"`},
		{name: "unknown plugin", path: "/api/plugins/nope/call/Add", body: `{}`, status: 404, code: 0, message: `no plugin named "nope" is connected`},
		{name: "not JSON", path: "/api/plugins/calc/call/Add", body: `{"a":1,`, status: 400, code: 0, message: "request body is not JSON"},
		{name: "two values", path: "/api/plugins/calc/call/Add", body: `{} {}`, status: 400, code: 0, message: "request body is not JSON"},
		{name: "too large", path: "/api/plugins/calc/call/Echo", body: `"` + strings.Repeat("x", admin.MaxBodySize) + `"`, status: 413, code: 0, message: "larger than 4194304 bytes"},
		{name: "bad timeout", path: "/api/plugins/calc/call/Add?timeout=soon", body: `{"a":1,"b":1}`, status: 400, code: 0, message: `timeout "soon"`},
		{name: "negative timeout", path: "/api/plugins/calc/call/Add?timeout=-1s", body: `{"a":1,"b":1}`, status: 400, code: 0, message: "positive duration"},
		{name: "cross-origin", path: "/api/plugins/calc/call/Add", body: `{"a":1,"b":1}`, header: []string{"Origin", "http://evil.example"}, status: 403, code: 0, message: "cross-origin"},
		{name: "same origin", path: "/api/plugins/calc/call/Add", body: `{"a":1,"b":1}`, header: []string{"Origin", e.ts.URL}, status: 200, result: `2`},
		{name: "wrong method", method: "GET", path: "/api/plugins/calc/call/Add", status: 405, code: 0, message: "method GET is not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "POST"
			}
			r := e.do(method, tc.path, tc.body, tc.header...)
			require.Equal(t, tc.status, r.status, "body: %.300s", r.body)
			if tc.status == 200 {
				assert.JSONEq(t, `{"result":`+tc.result+`}`, string(r.body))
				assert.NotEmpty(t, r.header.Get(admin.TraceHeader))
				return
			}
			code, msg := r.apiError(t)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, msg, tc.message)
			if tc.status == 405 {
				assert.Equal(t, "POST", r.header.Get("Allow"))
			}
		})
	}
}

func TestCallTraceHeader(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "")
	r := e.do("POST", "/api/plugins/calc/call/Add", `{"a":1,"b":1}`, admin.TraceHeader, "trace-42")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "trace-42", r.header.Get(admin.TraceHeader))
}

func TestCallTimeout(t *testing.T) {
	e := newEnv(t)
	c := newCalc()
	e.attach(c, "calc", "")
	r := e.do("POST", "/api/plugins/calc/call/Block?timeout=20ms", `7`)
	require.Equal(t, http.StatusGatewayTimeout, r.status, "%s", r.body)
	code, msg := r.apiError(t)
	assert.Equal(t, int64(0), code)
	assert.Equal(t, "call calc.Block timed out after 20ms", msg)
	// The plugin was told to give up.
	select {
	case <-c.CtxDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the method's context was not cancelled")
	}
}

func TestCallClientHangUpCancels(t *testing.T) {
	e := newEnv(t)
	c := newCalc()
	e.attach(c, "calc", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/api/plugins/calc/call/Block", strings.NewReader("1"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := e.ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-c.Entered:
	case <-time.After(5 * time.Second):
		t.Fatal("Block was not called")
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	select {
	case <-c.CtxDone:
	case <-time.After(5 * time.Second):
		t.Fatal("hanging up did not cancel the call in the plugin")
	}
}

func TestCallWhileUnplugging(t *testing.T) {
	e := newEnv(t)
	c := newCalc()
	e.attach(c, "calc", "")
	blocked := make(chan response, 1)
	go func() { blocked <- e.do("POST", "/api/plugins/calc/call/Block", `3`) }()
	<-c.Entered
	unplugged := make(chan response, 1)
	go func() { unplugged <- e.do("DELETE", "/api/plugins/calc", "") }()

	// While the plugin finishes its call in flight, new calls are refused.
	var last response
	require.Eventually(t, func() bool {
		last = e.do("POST", "/api/plugins/calc/call/Add", `{"a":1,"b":1}`)
		return last.status != http.StatusOK
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, http.StatusServiceUnavailable, last.status, "%s", last.body)
	code, msg := last.apiError(t)
	assert.Equal(t, int64(-32003), code)
	// The host refuses a call once the stop has begun; a call it let
	// through a moment before, which reached the plugin after $/shutdown,
	// is refused by the plugin, with its own words.
	assert.True(t, strings.Contains(msg, "being unplugged") || strings.Contains(msg, "plugin is shutting down"), msg)

	close(c.Release)
	r := <-blocked
	require.Equal(t, http.StatusOK, r.status, "the call in flight is answered: %s", r.body)
	assert.JSONEq(t, `{"result":3}`, string(r.body))
	assert.Equal(t, http.StatusNoContent, (<-unplugged).status)
}

func TestBroadcast(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "a", "")
	e.dial(newCalc(), "b", "")
	e.attach(Greeter{}, "greeter", "")

	r := e.do("POST", "/api/broadcast/Add", `{"a":1,"b":2}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.NotEmpty(t, r.header.Get(admin.TraceHeader))
	assert.JSONEq(t, `{"results":{
		"a":{"result":3},
		"b":{"result":3},
		"greeter":{"error":{"code":-32601,"message":"method not found: Add"}}}}`, string(r.body))

	r = e.do("POST", "/api/broadcast/Div", `{"a":1,"b":0}`)
	require.Equal(t, http.StatusOK, r.status)
	var body struct {
		Results map[string]admin.BroadcastResult `json:"results"`
	}
	require.NoError(t, json.Unmarshal(r.body, &body))
	require.Len(t, body.Results, 3)
	assert.Equal(t, &admin.ErrorBody{Code: -32000, Message: "division by zero"}, body.Results["a"].Error)
	assert.Equal(t, &admin.ErrorBody{Code: -32000, Message: "division by zero"}, body.Results["b"].Error)

	// Each plugin decodes the payload as its own function's input.
	r = e.do("POST", "/api/broadcast/Add", `{"a":"x","b":2}`)
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, json.Unmarshal(r.body, &body))
	require.NotNil(t, body.Results["a"].Error)
	assert.Equal(t, int64(-32602), body.Results["a"].Error.Code)
	assert.Equal(t, `invalid params for Add: field "a": expected int, got string`, body.Results["a"].Error.Message)

	r = e.do("POST", "/api/broadcast/Add", `nope`)
	require.Equal(t, http.StatusBadRequest, r.status)
	_, msg := r.apiError(t)
	assert.Contains(t, msg, "not JSON")

	r = e.do("PUT", "/api/broadcast/Add", `{}`)
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "POST", r.header.Get("Allow"))
}

func TestBroadcastTimeout(t *testing.T) {
	e := newEnv(t)
	c := newCalc()
	e.attach(c, "calc", "")
	e.attach(Greeter{}, "greeter", "")
	r := e.do("POST", "/api/broadcast/Block?timeout=20ms", `1`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `{"results":{
		"calc":{"error":{"code":0,"message":"call calc.Block timed out after 20ms"}},
		"greeter":{"error":{"code":-32601,"message":"method not found: Block"}}}}`, string(r.body))
	<-c.CtxDone
}

func TestUnplug(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "")
	e.dial(Greeter{}, "greeter", "")

	r := e.do("DELETE", "/api/plugins/greeter", "")
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	assert.Empty(t, r.body)
	assert.Nil(t, e.s.PluginInfo("greeter"))
	assert.NotNil(t, e.s.PluginInfo("calc"))

	r = e.do("DELETE", "/api/plugins/greeter", "")
	require.Equal(t, http.StatusNotFound, r.status)
	_, msg := r.apiError(t)
	assert.Equal(t, `no plugin named "greeter" is connected`, msg)

	r = e.do("DELETE", "/api/plugins/calc", "", "Origin", "null")
	require.Equal(t, http.StatusForbidden, r.status)
	assert.NotNil(t, e.s.PluginInfo("calc"), "a refused request changes nothing")

	r = e.do("PATCH", "/api/plugins/calc", "")
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "DELETE, GET, HEAD", r.header.Get("Allow"))
}

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/nope", "/api/plugins/a/b/c", "/api"} {
		r := e.do("GET", path, "")
		require.Equal(t, http.StatusNotFound, r.status, path)
		_, msg := r.apiError(t)
		assert.Contains(t, msg, path)
	}
	r := e.do("POST", "/api/health", "")
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
	_, msg := r.apiError(t)
	assert.Equal(t, "method POST is not allowed on /api/health; use GET, HEAD", msg)
}

func TestConsole(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "text/html")
	assert.Contains(t, r.header.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	assert.Contains(t, string(r.body), "<title>plugsock console</title>")

	for path, typ := range map[string]string{"/assets/console.js": "javascript", "/assets/console.css": "text/css"} {
		r = e.do("GET", path, "")
		require.Equal(t, http.StatusOK, r.status, path)
		assert.Contains(t, r.header.Get("Content-Type"), typ, path)
		assert.NotEmpty(t, r.body, path)
	}
	// Nothing in the console is fetched from elsewhere.
	for _, path := range []string{"/", "/assets/console.js", "/assets/console.css"} {
		assert.NotRegexp(t, `(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`, string(e.do("GET", path, "").body), path)
	}

	r = e.do("GET", "/nope.html", "")
	require.Equal(t, http.StatusNotFound, r.status)
	_, msg := r.apiError(t)
	assert.Contains(t, msg, "/nope.html")

	r = e.do("POST", "/", "x")
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
}

// TestMountedUnderPrefix checks that the console and API work when a host
// serves them under a path of its own.
func TestMountedUnderPrefix(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "")
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", e.a))
	h := &prefixed{mux}
	require.Equal(t, http.StatusForbidden, h.get(t, "/admin/api/plugins").Code, "httptest's Host example.com is no name of this server")
	e = newEnv(t, admin.Config{Hosts: []string{"example.com"}})
	e.attach(newCalc(), "calc", "")
	mux = http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", e.a))
	h = &prefixed{mux}
	r := h.get(t, "/admin/api/plugins")
	assert.Equal(t, http.StatusOK, r.Code)
	assert.JSONEq(t, `{"plugins":[{"name":"calc"}]}`, r.Body.String())
	assert.Equal(t, http.StatusOK, h.get(t, "/admin/").Code)
}

func TestErrorBodiesAreJSON(t *testing.T) {
	// Every error class answers with the same shape; a sample of each is
	// checked above, this checks the shape itself once more by status.
	e := newEnv(t)
	e.attach(newCalc(), "calc", "")
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/plugins/x", "", 404},
		{"POST", "/api/plugins/calc/call/Add", "]", 400},
		{"POST", "/api/plugins/calc/call/Div", `{"a":1,"b":0}`, 422},
		{"DELETE", "/api/health", "", 405},
	} {
		r := e.do(tc.method, tc.path, tc.body)
		require.Equal(t, tc.status, r.status, fmt.Sprint(tc))
		var raw map[string]map[string]any
		require.NoError(t, json.Unmarshal(r.body, &raw))
		require.Len(t, raw, 1)
		assert.ElementsMatch(t, []string{"code", "message"}, keys(raw["error"]))
	}
}

// prefixed serves requests straight to a handler, without a network.
type prefixed struct{ h http.Handler }

func (p *prefixed) get(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", path, nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	p.h.ServeHTTP(w, r)
	return w
}

// Counter counts the calls that reach it.
type Counter struct{ calls atomic.Int64 }

// Add takes a count to add.
func (c *Counter) Add(_ context.Context, in struct {
	N int `json:"n"`
}) (int64, error) {
	return c.calls.Add(1), nil
}

// The admin API checks payloads as the socket does: not at all when it
// does not validate, and with its check when it does, for a call and
// for each plugin of a broadcast.
func TestValidationFollowsTheSocket(t *testing.T) {
	for _, validating := range []bool{false, true} {
		t.Run(fmt.Sprint(validating), func(t *testing.T) {
			e := newEnv(t)
			if validating {
				e = newValidatingEnv(t)
			}
			c := new(Counter)
			e.attach(c, "counter", "")
			r := e.do("POST", "/api/plugins/counter/call/Add", `{"n":"two"}`)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			code, msg := r.apiError(t)
			assert.EqualValues(t, envelope.CodeInvalidParams, code)
			r = e.do("POST", "/api/broadcast/Add", `{"n":"two"}`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var body struct {
				Results map[string]admin.BroadcastResult `json:"results"`
			}
			require.NoError(t, json.Unmarshal(r.body, &body))
			require.NotNil(t, body.Results["counter"].Error)
			assert.EqualValues(t, envelope.CodeInvalidParams, body.Results["counter"].Error.Code)
			if validating {
				assert.Contains(t, msg, "plugsock: call counter.Add: invalid params: ", "refused by the socket")
				assert.Contains(t, body.Results["counter"].Error.Message, "plugsock: call counter.Add: invalid params: ")
			} else {
				assert.Equal(t, `invalid params for Add: field "n": expected int, got string`, msg, "refused by the plugin")
			}
			assert.Zero(t, c.calls.Load(), "the method ran")

			r = e.do("POST", "/api/plugins/counter/call/Add", `{"n":2}`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.EqualValues(t, 1, c.calls.Load())
		})
	}
}
