package plugintest_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugintest"
	"github.com/plugsock/plugsock/socket"
)

// The plugin in testdata/jrpc2 is built on github.com/creachadair/jrpc2
// alone, from the documents: jrpc2 frames, serves and sends the plugin's
// own requests, with none of plugsock's code between it and the socket.
// It is a module of its own, so that the main module does not require
// jrpc2.

// jrpc2Bin builds testdata/jrpc2 once and returns the executable's path.
// It skips the test when jrpc2's module cannot be had (no module cache
// and no proxy).
func jrpc2Bin(t *testing.T) string {
	t.Helper()
	const name = "jrpc2"
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if p, ok := builds.paths[name]; ok {
		return p
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "plugintest-")
		require.NoError(t, err)
		builds.dir, builds.paths = dir, make(map[string]string)
	}
	gocmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join("testdata", name)
		// go.sum is complete: nothing may change go.mod, and no
		// workspace may stand in for the module's requirements.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off")
		return cmd
	}
	if out, err := gocmd("mod", "download").CombinedOutput(); err != nil {
		t.Skipf("the modules of testdata/%s cannot be downloaded: %v\n%s", name, err, out)
	}
	path := filepath.Join(builds.dir, name)
	out, err := gocmd("build", "-o", path, ".").CombinedOutput()
	require.NoError(t, err, "building testdata/%s:\n%s", name, out)
	builds.paths[name] = path
	return path
}

func TestCheckPassesAJrpc2Plugin(t *testing.T) {
	var out bytes.Buffer
	// Slow waits for its cancellation or its deadline, which protocol 2
	// sends it: the battery's call gets -32800 when the second is up.
	report, err := plugintest.Check(t.Context(), exec.Command(jrpc2Bin(t)), &out,
		plugintest.CheckConfig{CallTimeout: time.Second})
	require.NoError(t, err)
	assert.True(t, report.Passed(), "%s", &out)
	assert.Empty(t, report.Failures(), "%s", &out)
	assertLines(t, out.String(), report)
	assert.Contains(t, out.String(), "protocol 2")
	assert.Equal(t, 2, report.Protocol)

	require.NotNil(t, report.Plugin)
	assert.Equal(t, "jrpc2calc", report.Plugin.Name)
	assert.Equal(t, "1.0.0", report.Plugin.Version)
	assert.Len(t, report.Plugin.Functions, 8)
	res := results(report)
	for _, name := range []string{"handshake", "functions", "ping", "unknown method", "bad params Add",
		"call Add", "call Div", "call Echo", "cancel", "shutdown answers", "shutdown in flight",
		"shutdown refuses calls", "shutdown closes", "exit", "framing"} {
		assert.Equal(t, plugintest.Pass, res[name].Status, "%s: %s", name, res[name].Detail)
	}
	assert.Contains(t, res["call Div"].Detail, `-32000 (method error) "division by zero"`)
	assert.Equal(t, plugintest.Pass, res["call Slow"].Status, "%s", res["call Slow"].Detail)
	assert.Contains(t, res["call Slow"].Detail, `gave up at the deadline it was sent, 1s on, with -32800`)
	assert.Contains(t, res["unknown method"].Detail, "-32601")
	assert.Contains(t, res["exit"].Detail, "status 0")
}

// echoService is the host service the plugin's HostEcho calls; it keeps
// who called it, and with which trace id.
type echoService struct {
	mu      sync.Mutex
	plugins []string
	traces  []string
}

func (e *echoService) Echo(ctx context.Context, v any) (any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.plugins = append(e.plugins, socket.PluginFrom(ctx))
	e.traces = append(e.traces, envelope.TraceFrom(ctx))
	return v, nil
}

func (e *echoService) seen() (plugins, traces []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.plugins...), append([]string(nil), e.traces...)
}

// lines is a process's standard error, kept whole, with a way to wait
// for a line.
type lines struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{} // closed and replaced on every write
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until s has been written, or ctx ends.
func (l *lines) waitFor(ctx context.Context, s string) error {
	for {
		l.mu.Lock()
		found, changed := strings.Contains(l.b.String(), s), l.changed
		l.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestJrpc2PluginOnARealSocket(t *testing.T) {
	path := jrpc2Bin(t)
	s := new(socket.Socket)
	echo := new(echoService)
	require.NoError(t, s.RegisterName("Util", echo))
	gone := make(chan bool, 1)
	s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		if info.Name == "jrpc2calc" {
			gone <- graceful
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet()})
	defer func() { _ = s.Shutdown("") }()

	stderr := newLines()
	cmd := exec.Command(path)
	cmd.Stderr = stderr
	name, err := s.Launch(t.Context(), cmd)
	require.NoError(t, err, "%s", stderr)
	assert.Equal(t, "jrpc2calc", name)
	info := s.PluginInfo(name)
	require.NotNil(t, info)
	assert.Len(t, info.Functions, 8)

	var sum int
	require.NoError(t, s.CallContext(t.Context(), name, "Add", map[string]int{"a": 1, "b": 2}, &sum))
	assert.Equal(t, 3, sum)

	var e *envelope.Error
	require.ErrorAs(t, s.CallContext(t.Context(), name, "Div", map[string]float64{"a": 1, "b": 0}, nil), &e)
	assert.Equal(t, int64(envelope.CodeMethodError), int64(e.Code))
	assert.Equal(t, "division by zero", e.Message)

	var echoed string
	require.NoError(t, s.CallContext(t.Context(), name, "Echo", "Zürich", &echoed))
	assert.Equal(t, "Zürich", echoed)

	var trace string
	require.NoError(t, s.CallContext(envelope.WithTrace(t.Context(), "trace-xyz"), name, "Trace", nil, &trace))
	assert.Equal(t, "trace-xyz", trace)

	deadline := time.Now().Add(20 * time.Second)
	dctx, cancel := context.WithDeadline(t.Context(), deadline)
	var sent string
	require.NoError(t, s.CallContext(dctx, name, "Deadline", nil, &sent))
	cancel()
	got, err := time.Parse(time.RFC3339Nano, sent)
	require.NoError(t, err, "%q", sent)
	assert.False(t, got.After(deadline), "%s is after the deadline %s", got, deadline)
	assert.Less(t, deadline.Sub(got), time.Millisecond, "%s against the deadline %s", got, deadline)

	var back string
	require.NoError(t, s.CallContext(envelope.WithTrace(t.Context(), "trace-echo"), name, "HostEcho", "hi", &back))
	assert.Equal(t, "hi", back)
	plugins, traces := echo.seen()
	assert.Equal(t, []string{name}, plugins, "the service knows who called it")
	assert.Equal(t, []string{"trace-echo"}, traces, "and the trace id of the call it serves")

	// Slow returns only when cancelled: cancel it once it has begun.
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan error, 1)
	go func() {
		wait, stop := context.WithTimeout(ctx, 10*time.Second)
		defer stop()
		started <- stderr.waitFor(wait, "slow started")
		cancel()
	}()
	begun := time.Now()
	err = s.CallContext(ctx, name, "Slow", nil, nil)
	require.NoError(t, <-started, "the plugin never logged that Slow started:\n%s", stderr)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(begun), 10*time.Second, "Slow waits 30 s unless cancelled")
	require.Eventually(t, func() bool {
		var n int
		return s.CallContext(t.Context(), name, "Cancelled", nil, &n) == nil && n == 1
	}, 10*time.Second, 10*time.Millisecond, "the plugin to count the cancelled call:\n%s", stderr)
	wait, stop := context.WithTimeout(t.Context(), 10*time.Second)
	defer stop()
	assert.NoError(t, stderr.waitFor(wait, "slow ended: context canceled"), "%s", stderr)

	s.Unplug("", name)
	select {
	case graceful := <-gone:
		assert.True(t, graceful, "%s", stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("no disconnect callback after Unplug")
	}
	require.NotNil(t, cmd.ProcessState)
	assert.Equal(t, 0, cmd.ProcessState.ExitCode(), "%s", stderr)
	assert.NoError(t, stderr.waitFor(wait, "jrpc2calc: shut down"), "%s", stderr)
}
