package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
)

// TestEveryNameRoutes is issue 9 B13: every valid plugin name (no '@',
// '/', spaces or unprintable characters) reaches its plugin through every
// route and every Client method, however it must be escaped.
func TestEveryNameRoutes(t *testing.T) {
	names := []string{
		"100%", "%", "%%", "%2F", "%zz", "%2E", "%2E%2E", "a#b", "#", "q?x=1", "?", "c++", "+",
		"日本語", "ünïcødé", "emoji😀", "semi;colon", `back\slash`, "a&b=c", "~tilde", `quote"d`,
		"'single'", "<tag>", "dots.in.name", "...", ".hidden", "trailing.", "colon:x", "$dollar",
		"$", "comma,", "[brackets]", "{braces}", "pipe|", "^caret", "`tick`", "*", "!", "=",
	}
	e := newEnv(t)
	for _, name := range names {
		e.attach(Greeter{}, name, "1.0.0")
	}
	ctx := context.Background()
	list, err := e.c.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, len(names))
	all, err := e.c.Broadcast(ctx, "Hello", json.RawMessage(`"x"`))
	require.NoError(t, err)
	assert.Len(t, all, len(names))

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			info, err := e.c.Describe(ctx, name)
			require.NoError(t, err)
			assert.Equal(t, name, info.Name)
			assert.Contains(t, info.Functions, "Hello")

			doc, err := e.c.OpenRPC(ctx, name)
			require.NoError(t, err)
			var d struct{ Info struct{ Title string } }
			require.NoError(t, json.Unmarshal(doc, &d))
			assert.Equal(t, name, d.Info.Title)

			res, err := e.c.Call(ctx, name, "Hello", json.RawMessage(`"ann"`))
			require.NoError(t, err)
			assert.JSONEq(t, `"hello, ann"`, string(res))
			assert.JSONEq(t, `"hello, x"`, string(all[name].Result), "broadcast result of %q", name)

			require.NoError(t, e.c.Unplug(ctx, name))
			assert.Nil(t, e.s.PluginInfo(name))
			_, err = e.c.Describe(ctx, name)
			var apiErr *admin.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, fmt.Sprintf("no plugin named %q is connected", name), apiErr.Message)
		})
	}
}

// TestDotNames checks that "." and "..", which URL rules resolve away,
// never address another route: the Client refuses them before sending
// anything, and the server answers them with 400 instead of redirecting.
func TestDotNames(t *testing.T) {
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"plugins":[]}`))
	}))
	defer ts.Close()
	c := &admin.Client{BaseURL: ts.URL, HTTP: ts.Client()}
	ctx := context.Background()
	for _, name := range []string{".", "..", ""} {
		_, err := c.Describe(ctx, name)
		require.Error(t, err, "Describe(%q)", name)
		assert.Contains(t, err.Error(), "admin: plugin name")
		_, err = c.OpenRPC(ctx, name)
		require.Error(t, err)
		_, err = c.Call(ctx, name, "M", nil)
		require.Error(t, err)
		_, err = c.Call(ctx, "p", name, nil)
		require.Error(t, err)
		_, err = c.Broadcast(ctx, name, nil)
		require.Error(t, err)
		require.Error(t, c.Unplug(ctx, name))
	}
	_, err := c.Describe(ctx, ".")
	assert.EqualError(t, err, `admin: plugin name "." cannot be addressed: URLs resolve "." away, and no plugin or method may be named so`)
	_, err = c.Describe(ctx, "")
	assert.EqualError(t, err, `admin: plugin name is empty`)
	assert.Equal(t, int64(0), hits.Load(), "nothing was sent")

	e := newEnv(t)
	e.attach(newCalc(), "calc", "")
	for _, path := range []string{"/api/plugins/.", "/api/plugins/..", "/api/plugins/%2E", "/api/plugins/%2e%2E/openrpc", "/api/plugins/calc/call/.", "/api/broadcast/..", "/api/plugins/./call/Add"} {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			r := e.do(method, path, "")
			require.Equal(t, http.StatusBadRequest, r.status, "%s %s: %s", method, path, r.body)
			_, msg := r.apiError(t)
			assert.Contains(t, msg, `no plugin or method is named "." or ".."`)
		}
	}
	assert.NotNil(t, e.s.PluginInfo("calc"))
}

// TestReservedMethodsRefused is issue 9 A7: one POST to
// /api/broadcast/$%2Fshutdown made every Go plugin leave. Methods of the
// protocol itself are refused on every route, before any plugin is
// looked at.
func TestReservedMethodsRefused(t *testing.T) {
	e := newEnv(t)
	e.forward()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, streamDone := e.events(ctx)
	e.attach(newCalc(), "calc", "")
	e.dial(Greeter{}, "greeter", "") // a real plugin over TCP, which $/shutdown would stop
	for range 2 {
		select {
		case ev := <-events:
			require.Equal(t, admin.EventConnected, ev.Type)
		case <-time.After(5 * time.Second):
			t.Fatal("no connected event")
		}
	}

	for _, method := range []string{"$/shutdown", "$/handshake", "$/ping", "$/cancelRequest", "$/async", "$/anything"} {
		for _, path := range []string{"/api/broadcast/", "/api/plugins/greeter/call/", "/api/plugins/calc/call/", "/api/plugins/nosuch/call/"} {
			r := e.do("POST", path+"$%2F"+method[2:], "")
			require.Equal(t, http.StatusBadRequest, r.status, "%s%s: %s", path, method, r.body)
			code, msg := r.apiError(t)
			assert.Equal(t, int64(0), code)
			assert.Equal(t, fmt.Sprintf(`method %q is reserved: names starting with "$/" belong to the plugsock protocol itself (handshake, ping, shutdown, ...) and cannot be called through the admin API`, method), msg)
		}
		_, err := e.c.Broadcast(context.Background(), method, nil)
		var apiErr *admin.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusBadRequest, apiErr.Status)
	}
	// Both plugins are still there and answer; nothing left.
	res, err := e.c.Broadcast(context.Background(), "Hello", json.RawMessage(`"still"`))
	require.NoError(t, err)
	assert.JSONEq(t, `"hello, still"`, string(res["greeter"].Result))
	require.Len(t, res, 2)
	select {
	case ev := <-events:
		t.Fatalf("no plugin may come or go, got %s %s", ev.Type, ev.Name)
	default:
	}
	// "$" alone, or "$x", is no reserved name: it goes to the plugin,
	// which has no such method.
	r := e.do("POST", "/api/broadcast/$x", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	cancel()
	<-streamDone
}

// Coder answers with whatever JSON-RPC error code it is given.
type Coder struct{}

func (Coder) Fail(_ context.Context, code int64) (int, error) {
	return 0, &envelope.Error{Code: code, Message: fmt.Sprintf("failed with code %d", code)}
}

// TestStatusByKind is issue 9 B22: the HTTP status says what kind of
// error a call met; a method's own error, whatever its code, is 422, and
// only the plugin failing (a panic) is 500.
func TestStatusByKind(t *testing.T) {
	e := newEnv(t)
	e.dial(Coder{}, "coder", "")
	e.attach(newCalc(), "calc", "")
	for _, tc := range []struct {
		code   int64
		status int
	}{
		{envelope.CodeMethodError, 422},
		{42, 422},
		{-1, 422},
		{-32099, 422},
		{envelope.CodeNameTaken, 422},
		{envelope.CodeUnauthorized, 422},
		{envelope.CodeInvalidParams, 400},
		{envelope.CodeMethodNotFound, 404},
		{envelope.CodeInternalError, 500},
		{envelope.CodeShuttingDown, 503},
		{envelope.CodeOverloaded, 503},
		{envelope.CodeRequestCancelled, 504},
		{envelope.CodeParseError, 502},
		{envelope.CodeInvalidRequest, 502},
	} {
		r := e.do("POST", "/api/plugins/coder/call/Fail", fmt.Sprint(tc.code))
		require.Equal(t, tc.status, r.status, "code %d: %s", tc.code, r.body)
		code, msg := r.apiError(t)
		assert.Equal(t, tc.code, code)
		assert.Equal(t, fmt.Sprintf("failed with code %d", tc.code), msg)

		// The Go client carries status and code.
		_, err := e.c.Call(context.Background(), "coder", "Fail", json.RawMessage(fmt.Sprint(tc.code)))
		var apiErr *admin.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, &admin.APIError{Status: tc.status, Code: tc.code, Message: msg}, apiErr)
	}

	// The server's own kinds.
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             int64
	}{
		{"panic", "/api/plugins/calc/call/Panic", "{}", 500, envelope.CodeInternalError},
		{"invalid params, checked by the host", "/api/plugins/calc/call/Add", `{"a":"x"}`, 400, envelope.CodeInvalidParams},
		{"no plugin", "/api/plugins/nosuch/call/Add", "{}", 404, 0},
		{"no function", "/api/plugins/calc/call/Nope", "{}", 404, envelope.CodeMethodNotFound},
		{"reserved method", "/api/plugins/calc/call/$%2Fping", "", 400, 0},
		{"timeout", "/api/plugins/calc/call/Block?timeout=10ms", "1", 504, 0},
	} {
		r := e.do("POST", tc.path, tc.body)
		require.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.body)
		code, _ := r.apiError(t)
		assert.Equal(t, tc.code, code, tc.name)
	}
}
