package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
)

// Stepper reports progress on Walk and then waits to be released or
// cancelled, for the tests of progress and cancellation through serve.
type Stepper struct {
	started chan struct{}
	ended   chan error
}

func (s *Stepper) Walk(ctx context.Context, n int) (int, error) {
	for i := 1; i <= n; i++ {
		plugin.Progress(ctx, float64(i), float64(n), "walking")
	}
	s.started <- struct{}{}
	<-ctx.Done()
	s.ended <- ctx.Err()
	return 0, ctx.Err()
}

// connectPlugin connects v to the serve under name and returns once
// serve has logged it.
func connectPlugin(t *testing.T, s *adminServe, v any, name string) {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() {
		started <- (&plugin.Plugin{Logger: quiet}).Start(v, &envelope.PluginInfo{Name: name, Version: "1.0.0"}, conn, nil)
	}()
	s.logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": name})
	t.Cleanup(func() {
		s.stop() // the plugin is unplugged as serve stops
		<-started
	})
}

// bearer adds the admin token to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// syncBuffer is a bytes.Buffer for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeMCP: serve's /mcp wants the admin token and exposes what
// --mcp-tools lets through; 'plugsock mcp' relays the official Go SDK's
// client on stdio to it, with tools, calls, errors, progress,
// cancellation and list changes, and ends when its stdin does.
func TestServeMCP(t *testing.T) {
	s := startAdminServe(t, "mcp-token", "--admin-token", "mcp-token", "--mcp-tools", "calc.Add,calc.Div,walker.*,later.*")
	connectPlugin(t, s, testplugins.NewCalc(), "calc")
	walker := &Stepper{started: make(chan struct{}, 1), ended: make(chan error, 1)}
	connectPlugin(t, s, walker, "walker")
	s.logs.waitFor(t, "plugsock: MCP server listening, behind the admin token", map[string]any{"url": s.url + "/mcp"})

	// The token is wanted, and a page elsewhere is refused.
	post := func(auth, origin string) int {
		req, err := http.NewRequest(http.MethodPost, s.url+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, post("", ""))
	assert.Equal(t, http.StatusUnauthorized, post("Bearer wrong", ""))
	assert.Equal(t, http.StatusForbidden, post("Bearer mcp-token", "https://evil.example"))
	assert.Equal(t, http.StatusOK, post("Bearer mcp-token", ""))

	// Over HTTP, with the token.
	client := sdk.NewClient(&sdk.Implementation{Name: "http-test", Version: "1"}, nil)
	cs, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{
		Endpoint: s.url + "/mcp", HTTPClient: &http.Client{Transport: bearer{"mcp-token"}}, MaxRetries: -1}, nil)
	require.NoError(t, err)
	res, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	assert.Equal(t, []string{"calc.Add", "calc.Div", "walker.Walk"}, names, "--mcp-tools chose them")
	require.NoError(t, cs.Close())

	// Over stdio, through the relay.
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	old := stdin
	stdin = inR
	t.Cleanup(func() { stdin = old })
	var stderr syncBuffer
	relayed := make(chan int, 1)
	go func() {
		relayed <- run(context.Background(), []string{"mcp", "--admin", s.url, "--admin-token", "mcp-token"}, outW, &stderr)
		_ = outW.Close()
	}()
	changed := make(chan struct{}, 8)
	var mu sync.Mutex
	var progress []*sdk.ProgressNotificationParams
	stdioClient := sdk.NewClient(&sdk.Implementation{Name: "stdio-test", Version: "1"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
		ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, r.Params)
			mu.Unlock()
		},
	})
	ss, err := stdioClient.Connect(context.Background(), &sdk.IOTransport{Reader: outR, Writer: inW}, nil)
	require.NoError(t, err)
	assert.Equal(t, "2026-07-28", ss.InitializeResult().ProtocolVersion, "the SDK's latest, without a session (the TypeScript test relays 2025-11-25)")

	sum, err := ss.CallTool(context.Background(), &sdk.CallToolParams{Name: "calc.Add", Arguments: map[string]int{"a": 20, "b": 22}})
	require.NoError(t, err)
	require.Len(t, sum.Content, 1)
	assert.Equal(t, "42", sum.Content[0].(*sdk.TextContent).Text)
	div, err := ss.CallTool(context.Background(), &sdk.CallToolParams{Name: "calc.Div", Arguments: map[string]int{"a": 1, "b": 0}})
	require.NoError(t, err)
	assert.True(t, div.IsError)
	assert.Equal(t, "division by zero", div.Content[0].(*sdk.TextContent).Text)
	_, err = ss.CallTool(context.Background(), &sdk.CallToolParams{Name: "calc.Echo", Arguments: map[string]string{"value": "x"}})
	require.Error(t, err, "left out by --mcp-tools")

	ctx, cancel := context.WithCancel(context.Background())
	params := &sdk.CallToolParams{Name: "walker.Walk", Arguments: map[string]int{"value": 2}}
	params.SetProgressToken(7)
	walked := make(chan error, 1)
	go func() {
		_, err := ss.CallTool(ctx, params)
		walked <- err
	}()
	<-walker.started
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(progress) > 0 && progress[len(progress)-1].Progress == 2
	}, 10*time.Second, 5*time.Millisecond, "no progress came through the relay")
	cancel()
	select {
	case err := <-walker.ended:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling through the relay did not reach the plugin")
	}
	assert.ErrorIs(t, <-walked, context.Canceled)

	connectPlugin(t, s, testplugins.NewCalc(), "later")
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no notifications/tools/list_changed came through the relay")
	}
	require.Eventually(t, func() bool {
		res, err := ss.ListTools(context.Background(), nil)
		if err != nil {
			return false
		}
		for _, tl := range res.Tools {
			if tl.Name == "later.Add" {
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)

	require.NoError(t, ss.Close()) // closes the relay's stdin
	select {
	case code := <-relayed:
		assert.Equal(t, exitOK, code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("plugsock mcp did not end with its stdin")
	}
	assert.Empty(t, stderr.String())
}

// TestMCPRelayFailures: the relay says why it cannot work, and ends.
func TestMCPRelayFailures(t *testing.T) {
	s := startAdminServe(t, "right", "--admin-token", "right")
	old := stdin
	t.Cleanup(func() { stdin = old })

	stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"mcp", "--admin", s.url, "--admin-token", "wrong"}, &out, &errOut)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut.String(), "401 Unauthorized")
	assert.Contains(t, errOut.String(), "--admin-token")
	assert.Contains(t, out.String(), `"id":1,"error":{"code":-32603`, "the request is answered")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}` + "\n")
	out.Reset()
	errOut.Reset()
	code = run(context.Background(), []string{"mcp", "--admin", addr}, &out, &errOut)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut.String(), "reaching http://"+addr+"/mcp")

	stdin = strings.NewReader(strings.Repeat("x", 5<<20) + "\n")
	errOut.Reset()
	code = run(context.Background(), []string{"mcp", "--admin", s.url, "--admin-token", "right"}, &out, &errOut)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut.String(), "a line of stdin is longer than 4194304 bytes")

	code = run(context.Background(), []string{"mcp", "extra"}, &out, &errOut)
	assert.Equal(t, exitUsage, code)
}

// TestServeMCPOff: --mcp=false serves no /mcp, and the relay says so.
func TestServeMCPOff(t *testing.T) {
	s := startAdminServe(t, "t0", "--admin-token", "t0", "--mcp=false")
	status, _ := s.get(t, "/mcp", "Bearer t0", "")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Nil(t, s.logs.find(t, "plugsock: MCP server listening, behind the admin token", nil))

	old := stdin
	t.Cleanup(func() { stdin = old })
	stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}` + "\n")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"mcp", "--admin", s.url, "--admin-token", "t0"}, &out, &errOut)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut.String(), "404 Not Found")
	assert.Contains(t, errOut.String(), "--mcp=false")
}

// TestMCPRelayPipedLines: lines that arrive all at once, as from a
// script, are relayed in order: initialize first, answered before the
// rest, and the calls still in flight when stdin ends are answered
// before the relay ends.
func TestMCPRelayPipedLines(t *testing.T) {
	s := startAdminServe(t, "pipe", "--admin-token", "pipe")
	connectPlugin(t, s, testplugins.NewCalc(), "calc")
	old := stdin
	t.Cleanup(func() { stdin = old })
	stdin = strings.NewReader(strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		``,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"calc.Add","arguments":{"a":40,"b":2}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"calc.Div","arguments":{"a":1,"b":0}}}`,
	}, "\n") + "\n")
	var out, errOut syncBuffer
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "pipe")
	code := run(context.Background(), []string{"mcp", "--admin", s.url}, &out, &errOut)
	require.Equal(t, exitOK, code, errOut.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Contains(t, lines[0], `"id":1,"result":{`)
	assert.Contains(t, lines[0], `"protocolVersion":"2025-06-18"`)
	assert.ElementsMatch(t, []string{
		`{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"42"}]}}`,
		`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"division by zero"}],"isError":true}}`,
	}, lines[1:])
	assert.Empty(t, errOut.String())
}
