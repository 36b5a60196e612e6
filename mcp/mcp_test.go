package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/mcp"
	"github.com/plugsock/plugsock/socket"
)

// connect opens a session of the official Go SDK's client with the env's
// /mcp, asking for protocol version v ("" for the SDK's latest), and
// returns it with the tools/list_changed notifications and progress
// reports it receives.
func connect(t *testing.T, e *env, v string) (*sdk.ClientSession, chan struct{}, *eventually[*sdk.ProgressNotificationParams]) {
	t.Helper()
	changed := make(chan struct{}, 16)
	progress := &eventually[*sdk.ProgressNotificationParams]{}
	client := sdk.NewClient(&sdk.Implementation{Name: "go-test", Version: "1"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
		ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) { progress.add(r.Params) },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: e.url, MaxRetries: -1}, &sdk.ClientSessionOptions{ProtocolVersion: v})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs, changed, progress
}

func toolNames(t *testing.T, cs *sdk.ClientSession) map[string]*sdk.Tool {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	out := map[string]*sdk.Tool{}
	for _, tl := range res.Tools {
		out[tl.Name] = tl
	}
	return out
}

func text(t *testing.T, res *sdk.CallToolResult) string {
	t.Helper()
	require.Len(t, res.Content, 1)
	tc, ok := res.Content[0].(*sdk.TextContent)
	require.True(t, ok, "content is %T", res.Content[0])
	return tc.Text
}

func call(t *testing.T, cs *sdk.ClientSession, name string, args any) *sdk.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err)
	return res
}

func schemaOf(t *testing.T, s any) map[string]any {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// TestGoSDKClient drives /mcp with the official Go SDK's client, at its
// latest protocol version (2026-07-28, which has no session) and at the
// two before it: it lists the tools, calls calc.Add, sees isError for a
// division by zero, gets progress from a slow function and cancels it,
// which ends the plugin method's context, and hears of a plugin that
// connects and of one that leaves.
func TestGoSDKClient(t *testing.T) {
	for _, tc := range []struct{ ask, want string }{
		{"", "2026-07-28"},
		{"2025-11-25", "2025-11-25"},
		{"2025-06-18", "2025-06-18"},
	} {
		t.Run("version "+tc.want, func(t *testing.T) {
			e := newEnv(t, mcp.Config{}, socket.Config{})
			e.calc()
			slow := newSlow()
			e.dial(slow, "slow", "0.1.0")
			cs, changed, progress := connect(t, e, tc.ask)
			require.Equal(t, tc.want, cs.InitializeResult().ProtocolVersion)

			tools := toolNames(t, cs)
			for _, name := range []string{"calc.Add", "calc.Div", "calc.Echo", "calc.Block", "calc.Emit", "calc.Panic", "slow.Wait"} {
				assert.Contains(t, tools, name)
			}
			assert.Len(t, tools, 7)
			add := schemaOf(t, tools["calc.Add"].InputSchema)
			assert.Equal(t, "object", add["type"])
			assert.Contains(t, add["properties"], "a")
			assert.Contains(t, add["properties"], "b")
			assert.Nil(t, tools["calc.Add"].OutputSchema, "an int output has no outputSchema")
			echo := schemaOf(t, tools["calc.Echo"].InputSchema)
			assert.Equal(t, []any{"value"}, echo["required"])
			assert.Equal(t, "object", echo["type"])
			assert.Contains(t, tools["calc.Echo"].Description, `"value"`)

			res := call(t, cs, "calc.Add", map[string]int{"a": 2, "b": 3})
			assert.False(t, res.IsError)
			assert.Equal(t, "5", text(t, res))
			assert.Nil(t, res.StructuredContent, "a number is no structuredContent")

			res = call(t, cs, "calc.Div", map[string]int{"a": 1, "b": 0})
			assert.True(t, res.IsError)
			assert.Equal(t, "division by zero", text(t, res))

			res = call(t, cs, "calc.Echo", map[string]string{"value": "hi"})
			assert.False(t, res.IsError)
			assert.Equal(t, `"hi"`, text(t, res))

			// Progress, then cancellation.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			params := &sdk.CallToolParams{Name: "slow.Wait", Arguments: map[string]int{"value": 3}}
			params.SetProgressToken("tok-1")
			callErr := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(ctx, params)
				callErr <- err
			}()
			select {
			case n := <-slow.Started:
				require.Equal(t, 3, n)
			case <-time.After(10 * time.Second):
				t.Fatal("slow.Wait did not start")
			}
			require.Eventually(t, func() bool {
				seen := progress.all()
				return len(seen) > 0 && seen[len(seen)-1].Progress == 3
			}, 10*time.Second, 5*time.Millisecond, "no progress report arrived")
			last := progress.all()[len(progress.all())-1]
			assert.Equal(t, "tok-1", last.ProgressToken)
			assert.Equal(t, float64(3), last.Total)
			assert.Equal(t, "step", last.Message)
			cancel()
			select {
			case err := <-slow.Ended:
				assert.ErrorIs(t, err, context.Canceled, "the plugin method's context ends with the client's cancellation")
			case <-time.After(10 * time.Second):
				t.Fatal("cancelling the tool call did not end the plugin method's context")
			}
			assert.ErrorIs(t, <-callErr, context.Canceled)

			// A plugin connects, and another leaves.
			drain(changed)
			e.dial(Geo{}, "geo", "1.0.0")
			waitChanged(t, changed)
			tools = toolNames(t, cs)
			require.Contains(t, tools, "geo.Mirror")
			out := schemaOf(t, tools["geo.Mirror"].OutputSchema)
			assert.Equal(t, "object", out["type"])
			assert.Nil(t, tools["geo.Tags"].OutputSchema, "a map may be null: no outputSchema")
			res = call(t, cs, "geo.Mirror", map[string]int{"x": 1, "y": 2})
			assert.False(t, res.IsError)
			assert.JSONEq(t, `{"x":2,"y":1}`, text(t, res))
			assert.Equal(t, map[string]any{"x": float64(2), "y": float64(1)}, res.StructuredContent)

			drain(changed)
			e.s.Unplug("", "slow")
			waitChanged(t, changed)
			require.Eventually(t, func() bool {
				_, ok := toolNames(t, cs)["slow.Wait"]
				return !ok
			}, 5*time.Second, 5*time.Millisecond)
		})
	}
}

func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func waitChanged(t *testing.T, c chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("no notifications/tools/list_changed arrived")
	}
}

// TestRawInitialize checks, with hand-written requests, that clients of
// the versions in use today are answered in their version and can list
// the tools.
func TestRawInitialize(t *testing.T) {
	e := newEnv(t, mcp.Config{}, socket.Config{})
	e.calc()
	for _, v := range []string{"2025-06-18", "2025-11-25", "2025-03-26"} {
		t.Run(v, func(t *testing.T) {
			c := &rawClient{t: t, url: e.url}
			require.Equal(t, v, c.initialize(v))
			require.NotEmpty(t, c.session, "a session id")
			status, body, msgs := c.post(context.Background(), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
			require.Equal(t, http.StatusOK, status, body)
			require.Len(t, msgs, 1)
			assert.Contains(t, string(msgs[0].Result), `"name":"calc.Add"`)
		})
	}
	// A version the server does not know is answered with one it does.
	c := &rawClient{t: t, url: e.url}
	assert.Equal(t, "2025-11-25", c.initialize("2099-01-01"))
}

// TestWireExchange logs a tools/list and a tools/call as they are on the
// wire (go test -v -run TestWireExchange ./mcp), with an allow-list that
// keeps the list short.
func TestWireExchange(t *testing.T) {
	e := newEnv(t, mcp.Config{Tools: []string{"calc.Add,calc.Div"}}, socket.Config{})
	e.calc()
	c := &rawClient{t: t, url: e.url}
	c.initialize("2025-11-25")
	c.log = true
	status, _, msgs := c.post(context.Background(), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	require.Equal(t, http.StatusOK, status)
	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	require.NoError(t, json.Unmarshal(msgs[0].Result, &list))
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	assert.Equal(t, []string{"calc.Add", "calc.Div"}, names)

	status, _, msgs = c.post(context.Background(), `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"calc.Add","arguments":{"a":2,"b":3}}}`)
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"content":[{"type":"text","text":"5"}]}`, string(msgs[0].Result))

	status, _, msgs = c.post(context.Background(), `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"calc.Div","arguments":{"a":1,"b":0}}}`)
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"content":[{"type":"text","text":"division by zero"}],"isError":true}`, string(msgs[0].Result))
}

// TestClosedStreamCancels closes the HTTP request that carries a call:
// the plugin's call is cancelled, though no notifications/cancelled was
// sent.
func TestClosedStreamCancels(t *testing.T) {
	e := newEnv(t, mcp.Config{}, socket.Config{})
	slow := newSlow()
	e.dial(slow, "slow", "0.1.0")
	c := &rawClient{t: t, url: e.url}
	c.initialize("2025-11-25")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(
			`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slow.Wait","arguments":{"value":1}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", c.session)
		req.Header.Set("Mcp-Protocol-Version", c.version)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	select {
	case <-slow.Started:
	case <-time.After(10 * time.Second):
		t.Fatal("slow.Wait did not start")
	}
	cancel()
	select {
	case err := <-slow.Ended:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("closing the call's request did not cancel the plugin's call")
	}
	<-done
	// The session lives on.
	status, body, _ := c.post(context.Background(), `{"jsonrpc":"2.0","id":10,"method":"tools/list"}`)
	assert.Equal(t, http.StatusOK, status, body)
}

// Sleepy answers after a while: work that takes longer than the HTTP
// server's WriteTimeout.
type Sleepy struct{ d time.Duration }

func (s Sleepy) Nap(ctx context.Context, _ struct{}) (string, error) {
	select {
	case <-time.After(s.d): // the work under test: it takes this long
		return "rested", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// TestLongCallOutlivesWriteTimeout: a call answered after the
// http.Server's WriteTimeout still gets its answer, as does an open
// stream, since each write has its own deadline.
func TestLongCallOutlivesWriteTimeout(t *testing.T) {
	e := newEnv(t, mcp.Config{}, socket.Config{})
	const writeTimeout = 200 * time.Millisecond
	ts := httptest.NewUnstartedServer(e.m)
	ts.Config.WriteTimeout = writeTimeout
	ts.Start()
	defer ts.Close()
	e.dial(Sleepy{d: 3 * writeTimeout}, "sleepy", "1.0.0")
	e.url = ts.URL
	cs, _, _ := connect(t, e, "2025-11-25")
	res := call(t, cs, "sleepy.Nap", nil)
	assert.False(t, res.IsError)
	assert.Equal(t, `"rested"`, text(t, res))
	cs2, _, _ := connect(t, e, "")
	res = call(t, cs2, "sleepy.Nap", nil)
	assert.Equal(t, `"rested"`, text(t, res))
	require.NoError(t, cs.Close())
	require.NoError(t, cs2.Close())
}

// TestAllowList exposes only the functions the patterns name.
func TestAllowList(t *testing.T) {
	e := newEnv(t, mcp.Config{Tools: []string{"calc.Add, calc.E*", "slow"}}, socket.Config{})
	e.calc()
	e.dial(newSlow(), "slow", "0.1.0")
	e.dial(Geo{}, "geo", "1.0.0")
	cs, _, _ := connect(t, e, "")
	tools := toolNames(t, cs)
	assert.ElementsMatch(t, []string{"calc.Add", "calc.Echo", "calc.Emit", "slow.Wait"}, keys(tools))
	_, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "calc.Div", Arguments: map[string]int{"a": 1, "b": 1}})
	require.Error(t, err, "a function left out is no tool")
	assert.Contains(t, err.Error(), "unknown tool")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Calc2 is a second version of calc, whose Add says which it is.
type Calc2 struct{}

func (Calc2) Add(_ context.Context, in struct {
	A int `json:"a"`
	B int `json:"b"`
}) (string, error) {
	return "v2", nil
}

// TestVersionsAndClashes: a second version of a plugin has its own
// tools, named after its assigned name; a plugin whose name maps to the
// same tool names withholds both, until it leaves.
func TestVersionsAndClashes(t *testing.T) {
	log := &testplugins.Log{}
	e := newEnv(t, mcp.Config{Logger: slog.New(slog.NewTextHandler(log, nil))}, socket.Config{})
	e.calc()
	e.dial(Calc2{}, "calc", "2.0.0") // assigned calc@2.0.0
	cs, changed, _ := connect(t, e, "2025-11-25")
	tools := toolNames(t, cs)
	require.Contains(t, tools, "calc_v2.0.0.Add")
	assert.Equal(t, "calc@2.0.0.Add", tools["calc_v2.0.0.Add"].Title)
	assert.Equal(t, `"v2"`, text(t, call(t, cs, "calc_v2.0.0.Add", map[string]int{"a": 1, "b": 2})))
	assert.Equal(t, "3", text(t, call(t, cs, "calc.Add", map[string]int{"a": 1, "b": 2})))

	drain(changed)
	e.dial(Calc2{}, "calc_v2.0.0", "1.0.0")
	waitChanged(t, changed)
	require.Eventually(t, func() bool {
		_, ok := toolNames(t, cs)["calc_v2.0.0.Add"]
		return !ok
	}, 5*time.Second, 5*time.Millisecond, "a clash withholds both")
	assert.Contains(t, log.String(), "functions map to the same tool name")
	assert.Contains(t, log.String(), "calc@2.0.0.Add")

	drain(changed)
	e.s.Unplug("", "calc_v2.0.0")
	waitChanged(t, changed)
	require.Eventually(t, func() bool {
		_, ok := toolNames(t, cs)["calc_v2.0.0.Add"]
		return ok
	}, 5*time.Second, 5*time.Millisecond, "once the clash is gone, the tool is back")
	assert.Equal(t, `"v2"`, text(t, call(t, cs, "calc_v2.0.0.Add", map[string]int{"a": 1, "b": 2})))
}

// TestHostileCalls: unknown and absurd tool names, arguments of the
// wrong shape and payloads the schema refuses are JSON-RPC errors; a
// panic and a custom error code are results with isError.
func TestHostileCalls(t *testing.T) {
	e := newEnv(t, mcp.Config{}, socket.Config{})
	e.calc()
	e.dial(Geo{}, "geo", "1.0.0")
	c := &rawClient{t: t, url: e.url}
	c.initialize("2025-11-25")
	callRaw := func(params string) rpc {
		t.Helper()
		status, body, msgs := c.post(context.Background(), `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":`+params+`}`)
		require.Equal(t, http.StatusOK, status, body)
		require.Len(t, msgs, 1, body)
		return msgs[0]
	}
	for _, tc := range []struct{ params, message string }{
		{`{"name":"nope.Add","arguments":{}}`, `unknown tool "nope.Add"`},
		{`{"name":"` + strings.Repeat("x", 100_000) + `","arguments":{}}`, "unknown tool"},
		{`{"name":"calc.$/shutdown","arguments":{}}`, "unknown tool"},
		{`{"name":"calc.Add","arguments":[1,2]}`, "arguments must be a JSON object, not an array"},
		{`{"name":"calc.Add","arguments":"x"}`, "not a string"},
		{`{"name":"calc.Add","arguments":{"a":"two","b":3}}`, "invalid params"},
		{`{"name":"calc.Echo","arguments":{}}`, `missing argument "value"`},
		{`{"name":"calc.Echo"}`, `missing argument "value"`},
		{`{"name":"calc.Echo","arguments":{"value":"a","extra":1}}`, `unknown argument "extra"`},
		{`{"name":"calc.Echo","arguments":{"value":5}}`, "invalid params"},
	} {
		m := callRaw(tc.params)
		require.NotNil(t, m.Error, "%s: %s", clipped(tc.params), m.Result)
		assert.Equal(t, int64(-32602), m.Error.Code, clipped(tc.params))
		assert.Contains(t, m.Error.Message, tc.message, clipped(tc.params))
		assert.Less(t, len(m.Error.Message), 100_000, "an error does not echo a huge name in full")
	}
	m := callRaw(`{"name":"calc.Panic","arguments":{}}`)
	require.Nil(t, m.Error)
	assert.JSONEq(t, `{"content":[{"type":"text","text":"panic in Panic: boom"}],"isError":true}`, string(m.Result))
	m = callRaw(`{"name":"geo.Fail","arguments":{}}`)
	require.Nil(t, m.Error)
	assert.JSONEq(t, `{"content":[{"type":"text","text":"out of paper"}],"isError":true}`, string(m.Result))
	m = callRaw(`{"name":"geo.Tags","arguments":{"value":0}}`)
	assert.JSONEq(t, `{"content":[{"type":"text","text":"null"}]}`, string(m.Result))
	m = callRaw(`{"name":"geo.Tags","arguments":{"value":2}}`)
	assert.JSONEq(t, `{"content":[{"type":"text","text":"{\"n\":2}"}],"structuredContent":{"n":2}}`, string(m.Result))
	// Bodies are bounded.
	status, _, _ := c.post(context.Background(), `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"calc.Echo","arguments":{"value":"`+strings.Repeat("a", mcp.MaxMessageSize)+`"}}}`)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
}

func clipped(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// TestSessionsBounded: past MaxSessions, a new session ends the one idle
// longest; when every one is busy, it is refused.
func TestSessionsBounded(t *testing.T) {
	e := newEnv(t, mcp.Config{MaxSessions: 2}, socket.Config{})
	calc := e.calc()
	first := &rawClient{t: t, url: e.url}
	first.initialize("2025-11-25")
	second := &rawClient{t: t, url: e.url}
	second.initialize("2025-11-25")
	third := &rawClient{t: t, url: e.url}
	third.initialize("2025-11-25")
	status, _, _ := first.post(context.Background(), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	assert.Equal(t, http.StatusNotFound, status, "the first session, idle longest, made room")
	status, _, _ = second.post(context.Background(), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	assert.Equal(t, http.StatusOK, status)

	// Both sessions busy: a fourth is refused.
	busy := make(chan struct{}, 2)
	for _, c := range []*rawClient{second, third} {
		go func() {
			defer func() { busy <- struct{}{} }()
			c.post(context.Background(), `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"calc.Block","arguments":{"value":1}}}`)
		}()
	}
	for range 2 {
		select {
		case <-calc.Entered:
		case <-time.After(10 * time.Second):
			t.Fatal("calc.Block did not start")
		}
	}
	fourth := &rawClient{t: t, url: e.url}
	status, body, _ := fourth.post(context.Background(), `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	assert.Contains(t, body, "too many MCP sessions")
	close(calc.Release)
	<-busy
	<-busy
}

// TestServeStdio serves one client over pipes, as a process's stdin and
// stdout: the Go SDK's client lists and calls, and the session ends when
// the client closes its end.
func TestServeStdio(t *testing.T) {
	e := newEnv(t, mcp.Config{}, socket.Config{})
	e.calc()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- e.m.ServeStdio(context.Background(), inR, outW)
		_ = outW.Close()
	}()
	client := sdk.NewClient(&sdk.Implementation{Name: "stdio-test", Version: "1"}, nil)
	cs, err := client.Connect(context.Background(), &sdk.IOTransport{Reader: outR, Writer: inW}, nil)
	require.NoError(t, err)
	assert.Contains(t, toolNames(t, cs), "calc.Add")
	assert.Equal(t, "7", text(t, call(t, cs, "calc.Add", map[string]int{"a": 3, "b": 4})))
	require.NoError(t, cs.Close())
	select {
	case err := <-served:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("ServeStdio did not return when its input ended")
	}
}

// TestClose ends the sessions and refuses new ones.
func TestClose(t *testing.T) {
	e := newEnv(t, mcp.Config{}, socket.Config{})
	e.calc()
	c := &rawClient{t: t, url: e.url}
	c.initialize("2025-11-25")
	e.m.Close()
	status, _, _ := c.post(context.Background(), `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	err := e.m.ServeStdio(context.Background(), strings.NewReader(""), io.Discard)
	assert.True(t, errors.Is(err, mcp.ErrClosed), "%v", err)
	e.m.Close() // idempotent
}
