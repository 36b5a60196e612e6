package mcp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/mcp"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet keeps expected warnings out of test output.
var quiet = slog.New(slog.DiscardHandler)

// Slow is a plugin whose Wait reports its progress and then waits, for
// the tests of progress and cancellation.
type Slow struct {
	// Started receives n once Wait has sent its reports.
	Started chan int
	// Ended receives the error of Wait's context once it ends.
	Ended chan error
	// Release, once closed, lets every Wait return.
	Release chan struct{}
}

func newSlow() *Slow {
	return &Slow{Started: make(chan int, 16), Ended: make(chan error, 16), Release: make(chan struct{})}
}

// Wait reports progress 1 to n of n, then waits until released or
// cancelled.
func (s *Slow) Wait(ctx context.Context, n int) (string, error) {
	for i := 1; i <= n; i++ {
		plugin.Progress(ctx, float64(i), float64(n), "step")
	}
	s.Started <- n
	select {
	case <-s.Release:
		return "done", nil
	case <-ctx.Done():
		s.Ended <- ctx.Err()
		return "", ctx.Err()
	}
}

// Point is an object output, whose tool has an outputSchema.
type Point struct {
	X int `json:"x"`
	Y int `json:"y"`
}

// Geo has object outputs and a function that misbehaves.
type Geo struct{}

// Mirror returns its input's coordinates swapped.
func (Geo) Mirror(_ context.Context, p Point) (Point, error) { return Point{X: p.Y, Y: p.X}, nil }

// Tags returns a map, which may be null: no outputSchema.
func (Geo) Tags(_ context.Context, n int) (map[string]int, error) {
	if n == 0 {
		return nil, nil
	}
	return map[string]int{"n": n}, nil
}

// Fail fails with a code of its own.
func (Geo) Fail(context.Context, struct{}) (int, error) {
	return 0, &envelope.Error{Code: 4001, Message: "out of paper"}
}

// env is a socket with plugins and an MCP server for it behind a loopback
// HTTP server.
type env struct {
	t     *testing.T
	s     *socket.Socket
	l     net.Listener
	m     *mcp.Server
	ts    *httptest.Server
	url   string
	ended []chan error
	// connects holds the name of each plugin whose Connected event the
	// Server has been handed, once Publish has returned.
	connects *eventually[string]
}

func newEnv(t *testing.T, cfg mcp.Config, sc socket.Config) *env {
	t.Helper()
	s := new(socket.Socket)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet, ShutdownTimeout: 5 * time.Second, Validation: true}, sc)
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	m := mcp.New(s, cfg)
	connects := &eventually[string]{}
	// The host's one reader of the async queue, as plugsock serve has.
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for {
			item, err := s.Async()
			if err != nil {
				return
			}
			m.Publish(item)
			if _, ok := item.Payload.(envelope.Connected); ok {
				connects.add(item.Name)
			}
		}
	}()
	ts := httptest.NewServer(m)
	e := &env{t: t, s: s, l: l, m: m, ts: ts, url: ts.URL, connects: connects}
	t.Cleanup(func() {
		m.Close()
		require.NoError(t, s.Shutdown(""))
		<-forwarded
		for _, done := range e.ended {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("a plugin did not stop after Shutdown")
			}
		}
		ts.Close()
	})
	return e
}

// dial connects v over TCP under name, as a plugin process would, and
// returns once the Server has its tools. When name is taken, the plugin
// is another version, assigned name@version.
func (e *env) dial(v any, name, version string) {
	e.t.Helper()
	assigned := name
	if info := e.s.PluginInfo(name); info != nil && info.Name == name {
		assigned = name + "@" + version
	}
	before := e.connected(assigned)
	conn, err := net.Dial("tcp", e.l.Addr().String())
	require.NoError(e.t, err)
	p := &plugin.Plugin{Logger: quiet}
	done := make(chan error, 1)
	go func() { done <- p.Start(v, &envelope.PluginInfo{Name: name, Version: version}, conn, nil) }()
	e.ended = append(e.ended, done)
	require.Eventually(e.t, func() bool { return e.connected(assigned) > before }, 5*time.Second, time.Millisecond,
		"plugin %s did not connect, or the MCP server was not told", assigned)
}

// connected counts the Connected events of plugins with the assigned
// name that the Server has been handed.
func (e *env) connected(name string) int {
	n := 0
	for _, c := range e.connects.all() {
		if c == name {
			n++
		}
	}
	return n
}

// calc connects testplugins' Calc as "calc" 1.0.0.
func (e *env) calc() *testplugins.Calc {
	c := testplugins.NewCalc()
	e.dial(c, "calc", "1.0.0")
	return c
}

// rpc is one JSON-RPC message as the raw tests read it.
type rpc struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// rawClient speaks the Streamable HTTP transport by hand, so that tests
// see and log the bytes on the wire.
type rawClient struct {
	t       *testing.T
	url     string
	session string
	version string
	header  http.Header
	log     bool
}

// post sends one message and returns the HTTP status, the body as it
// came, and the JSON-RPC messages in it (one JSON body, or the data of
// each server-sent event).
func (c *rawClient) post(ctx context.Context, body string) (int, string, []rpc) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	if c.version != "" {
		req.Header.Set("Mcp-Protocol-Version", c.version)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
		c.session = sid
	}
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	if c.log {
		c.t.Logf("--> POST %s\n%s", c.url, body)
		c.t.Logf("<-- %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	return resp.StatusCode, string(raw), parseMessages(c.t, resp.Header.Get("Content-Type"), raw)
}

func parseMessages(t *testing.T, contentType string, raw []byte) []rpc {
	t.Helper()
	var out []rpc
	if strings.HasPrefix(contentType, "application/json") {
		var m rpc
		require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
		return []rpc{m}
	}
	if !strings.HasPrefix(contentType, "text/event-stream") {
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var m rpc
			require.NoError(t, json.Unmarshal([]byte(data), &m), "%s", data)
			out = append(out, m)
		}
	}
	return out
}

// initialize opens a session at the protocol version v and returns the
// version the server answered.
func (c *rawClient) initialize(v string) string {
	c.t.Helper()
	status, body, msgs := c.post(context.Background(), `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+v+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	require.Equal(c.t, http.StatusOK, status, body)
	require.Len(c.t, msgs, 1, body)
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
		Capabilities    struct {
			Tools *struct {
				ListChanged bool `json:"listChanged"`
			} `json:"tools"`
		} `json:"capabilities"`
		ServerInfo struct {
			Name string `json:"name"`
		} `json:"serverInfo"`
	}
	require.NoError(c.t, json.Unmarshal(msgs[0].Result, &res), body)
	require.Equal(c.t, "plugsock", res.ServerInfo.Name)
	require.NotNil(c.t, res.Capabilities.Tools, body)
	require.True(c.t, res.Capabilities.Tools.ListChanged, body)
	c.version = res.ProtocolVersion
	status, body, _ = c.post(context.Background(), `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	require.Equal(c.t, http.StatusAccepted, status, body)
	return res.ProtocolVersion
}

// eventually collects values from any goroutine, for tests to wait on.
type eventually[T any] struct {
	mu   sync.Mutex
	seen []T
}

func (e *eventually[T]) add(v T) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen = append(e.seen, v)
}

func (e *eventually[T]) all() []T {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]T(nil), e.seen...)
}
