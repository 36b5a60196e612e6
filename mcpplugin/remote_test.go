package mcpplugin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/mcpplugin"
	"github.com/plugsock/plugsock/socket"
)

// remoteServer is an MCP server written with the Go SDK, served over
// Streamable HTTP by httptest, with the tools checkTools and
// checkProgressAndCancel call. Its handler can be replaced, as by a
// server that restarts and forgets its sessions.
type remoteServer struct {
	*httptest.Server
	handler atomic.Pointer[http.Handler]
	logs    *logBuffer // where its slow tool says it was cancelled

	mu      sync.Mutex
	servers []*mcp.Server // every one put behind the URL
}

func newRemoteServer(t *testing.T, logs *logBuffer) *remoteServer {
	t.Helper()
	rs := &remoteServer{logs: logs}
	rs.restart()
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*rs.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		rs.CloseClientConnections()
		rs.Close()
		// The handler keeps each session until it is closed or times out.
		rs.mu.Lock()
		defer rs.mu.Unlock()
		for _, s := range rs.servers {
			for ss := range s.Sessions() {
				_ = ss.Close()
			}
		}
	})
	return rs
}

// restart puts a new server behind the URL, which knows none of the
// sessions of the one before.
func (rs *remoteServer) restart() {
	s := mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "2.0.0"}, nil)
	type addOut struct {
		Sum int `json:"sum"`
	}
	type none struct{}
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two integers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in struct {
			A int `json:"a"`
			B int `json:"b"`
		}) (*mcp.CallToolResult, addOut, error) {
			return nil, addOut{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, any, error) {
		return text(in.Text), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, any, error) {
		return nil, nil, errors.New("it failed, as asked")
	})
	mcp.AddTool(s, &mcp.Tool{Name: "pid"}, func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, map[string]int, error) {
		return nil, map[string]int{"pid": os.Getpid()}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, in struct {
		MS int `json:"ms"`
	}) (*mcp.CallToolResult, any, error) {
		deadline := time.Now().Add(time.Duration(in.MS) * time.Millisecond)
		for step := 1; time.Now().Before(deadline); step++ {
			if tok := req.Params.GetProgressToken(); tok != nil {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(step), Message: "waiting"})
			}
			t := time.NewTimer(min(10*time.Millisecond, time.Until(deadline)))
			select {
			case <-ctx.Done():
				t.Stop()
				fmt.Fprintf(rs.logs, "msg=\"remote output\" plugin=remote stream=stderr line=\"slow: cancelled: %v\"\n", ctx.Err())
				return nil, nil, ctx.Err()
			case <-t.C:
			}
		}
		return text(fmt.Sprintf("waited %d ms", in.MS)), nil, nil
	})
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	rs.mu.Lock()
	rs.servers = append(rs.servers, s)
	rs.mu.Unlock()
	rs.handler.Store(&h)
}

func TestDialRemoteServer(t *testing.T) {
	s, logs := newSocket(t)
	rs := newRemoteServer(t, logs)
	r, err := mcpplugin.Dial(t.Context(), s, rs.URL, mcpplugin.Config{})
	require.NoError(t, err)
	assert.Equal(t, "remote", r.Name(), "the server's own name")
	assert.Equal(t, "2.0.0", s.PluginInfo("remote").Version)
	checkTools(t, s, "remote")
	checkProgressAndCancel(t, s, logs, "remote")

	// Unplugging it is for good.
	s.Unplug("", "remote")
	recv(t, r.Done(), "the remote plugin's end")
	assert.ErrorIs(t, r.Err(), socket.ErrShutdown)
	assert.Empty(t, s.Connected(false))
	r.Close() // after the end, a no-op
}

func TestDialRemoteServerReconnects(t *testing.T) {
	s, logs := newSocket(t)
	gone := disconnects(s)
	rs := newRemoteServer(t, logs)
	// Sessions are stateful up to 2025-11-25: a server that restarts
	// forgets them, and answers 404 to the old one.
	cfg := mcpplugin.Config{Name: "far", ProtocolVersion: "2025-11-25", RetryBackoff: 10 * time.Millisecond, RetryMaxDelay: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	r, err := mcpplugin.Dial(t.Context(), s, rs.URL, cfg)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	got, err := s.Call("", "far", "echo", map[string]string{"text": "before"})
	require.NoError(t, err)
	assert.Equal(t, "before", got)

	rs.restart()
	// The next request finds the session gone, which ends it; the plugin
	// leaves as a crashed one does, and comes back with a new session.
	_, err = s.Call("", "far", "echo", map[string]string{"text": "lost"})
	require.Error(t, err)
	assert.Equal(t, "far graceful=false", recv(t, gone, "the lost session's disconnect"))
	require.Eventually(t, func() bool {
		got, err := s.Call("", "far", "echo", map[string]string{"text": "after"})
		return err == nil && got == "after"
	}, 20*time.Second, 5*time.Millisecond, "reconnected")
	logs.wait(t, "plugsock: MCP server lost; reconnecting", "plugin=far")

	// Close leaves in good order.
	r.Close()
	assert.Equal(t, "far graceful=true", recv(t, gone, "Close's disconnect"))
	assert.NoError(t, r.Err())
	assert.Empty(t, s.Connected(false))
}

func TestDialRemoteServerDown(t *testing.T) {
	s, _ := newSocket(t)
	rs := newRemoteServer(t, new(logBuffer))
	url := rs.URL
	rs.CloseClientConnections()
	rs.Close()
	_, err := mcpplugin.Dial(t.Context(), s, url, mcpplugin.Config{Timeout: time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "plugsock: MCP server "+url+": initialize: ")
	assert.Empty(t, s.Connected(false))
}

func TestDialRemoteServerBounded(t *testing.T) {
	s, _ := newSocket(t)
	// A server whose JSON answer never ends.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"junk":"`))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 1024 && r.Context().Err() == nil; i++ { // 64 MiB at most
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	_, err := mcpplugin.Dial(t.Context(), s, ts.URL, mcpplugin.Config{MaxMessageSize: 1 << 20, Timeout: 5 * time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "response body larger than Config.MaxMessageSize")
}

func TestDialCtxEnds(t *testing.T) {
	s, _ := newSocket(t)
	gone := disconnects(s)
	rs := newRemoteServer(t, new(logBuffer))
	ctx, cancel := context.WithCancel(t.Context())
	r, err := mcpplugin.Dial(ctx, s, rs.URL, mcpplugin.Config{Name: "short"})
	require.NoError(t, err)
	require.True(t, s.WaitFor("short", 0))
	cancel()
	recv(t, r.Done(), "the end")
	assert.ErrorIs(t, r.Err(), context.Canceled)
	assert.Equal(t, "short graceful=true", recv(t, gone, "the disconnect"), "the end of ctx is a goodbye")
}
