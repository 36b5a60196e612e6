package python_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/internal/exampletest"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

const wait = 30 * time.Second

type host struct {
	s    *socket.Socket
	gone chan bool
	cmd  *exec.Cmd
	errs *exampletest.Output // the plugin's stderr
}

// startPython runs plugin.py against a new socket.
func startPython(t *testing.T) *host {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &host{s: new(socket.Socket), gone: make(chan bool, 1), errs: new(exampletest.Output)}
	h.s.Serve(l, socket.Config{Logger: quiet, ShutdownTimeout: 5 * time.Second})
	h.s.RegisterCallback(func(_ *envelope.PluginInfo, graceful bool) { h.gone <- graceful })
	t.Cleanup(func() { _ = h.s.Shutdown("") })

	h.cmd = exec.Command(python, "plugin.py")
	h.cmd.Env = append(os.Environ(), "PLUGSOCK_ADDR="+l.Addr().String(), "PLUGSOCK_DEBUG=1")
	h.cmd.Stderr = h.errs
	require.NoError(t, h.cmd.Start())
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			_ = h.cmd.Process.Kill()
			_ = h.cmd.Wait()
		}
	})
	require.True(t, h.s.WaitFor("pytext", wait), "the plugin did not connect; stderr:\n%s", h.errs)
	return h
}

func TestPythonPlugin(t *testing.T) {
	h := startPython(t)
	s := h.s
	ctx := context.Background()

	info := s.PluginInfo("pytext")
	require.NotNil(t, info)
	assert.Equal(t, "1.0.0", info.Version)
	assert.Equal(t, typedesc.Function{Name: "Upper", Input: &typedesc.Entity{Type: "string"}, Output: &typedesc.Entity{Type: "string"}}, info.Functions["Upper"])
	assert.Equal(t, &typedesc.Entity{Name: "WordCountIn", Type: "struct", Fields: []typedesc.Entity{{Name: "text", Type: "string", Mandatory: true}}},
		info.Functions["WordCount"].Input)
	assert.Len(t, info.Functions, 3)

	// Connected, then the plugin's own async item.
	item, err := s.Async()
	require.NoError(t, err)
	assert.IsType(t, envelope.Connected{}, item.Payload)
	item, err = s.Async()
	require.NoError(t, err)
	ready, _ := item.Payload.(map[string]any)
	assert.Equal(t, "ready", ready["event"])
	assert.Equal(t, float64(h.cmd.Process.Pid), ready["pid"])

	// Content-Length counts bytes: non-ASCII text both ways.
	var up string
	require.NoError(t, s.CallContext(ctx, "pytext", "Upper", "grüße, zürich", &up))
	assert.Equal(t, "GRÜSSE, ZÜRICH", up)

	var counts map[string]int
	require.NoError(t, s.CallContext(ctx, "pytext", "WordCount", map[string]string{"text": "one two\nthree"}, &counts))
	assert.Equal(t, map[string]int{"words": 3, "lines": 2, "chars": 13}, counts)

	err = s.CallContext(ctx, "pytext", "Upper", 5, nil)
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.EqualError(t, err, "invalid params for Upper: want a string")

	err = s.CallContext(ctx, "pytext", "Nope", nil, nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound)

	err = s.CallContext(ctx, "pytext", "Sleep", map[string]int{"ms": -1}, nil)
	var e *envelope.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, int64(envelope.CodeMethodError), e.Code)
	assert.Equal(t, "ms must not be negative, got -1", e.Message)

	// Many calls at once, each with its own answer.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			var got string
			assert.NoError(t, s.CallContext(ctx, "pytext", "Upper", "call "+strconv.Itoa(i)+" x", &got))
			assert.Equal(t, "CALL "+strconv.Itoa(i)+" X", got)
		})
	}
	wg.Wait()

	// The trace id reaches the plugin.
	tctx := envelope.WithTrace(ctx, "trace-upper-1")
	require.NoError(t, s.CallContext(tctx, "pytext", "Upper", "x", nil))
	h.errs.WaitFor(t, "pytext: Upper trace trace-upper-1", wait)
}

func TestPythonPluginCancel(t *testing.T) {
	h := startPython(t)
	// A minute-long call whose caller gives up: the host sends
	// $/cancelRequest and the plugin stops the work. Were it still
	// sleeping, the unplug below would wait for it and be cut off at the
	// shutdown timeout, and so not be graceful.
	ctx, cancel := context.WithCancel(context.Background())
	tctx := envelope.WithTrace(ctx, "trace-long-sleep")
	done := make(chan error, 1)
	go func() { done <- h.s.CallContext(tctx, "pytext", "Sleep", map[string]int{"ms": 60000}, nil) }()
	h.errs.WaitFor(t, "pytext: Sleep trace trace-long-sleep", wait)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)

	h.s.Unplug("", "pytext")
	assert.True(t, <-h.gone, "graceful: the cancelled call was not holding the plugin up")
	require.NoError(t, h.cmd.Wait(), "stderr:\n%s", h.errs)
}

func TestPythonPluginUnplugFinishesCallsInFlight(t *testing.T) {
	h := startPython(t)
	tctx := envelope.WithTrace(context.Background(), "trace-in-flight")
	done := make(chan error, 1)
	var got string
	go func() { done <- h.s.CallContext(tctx, "pytext", "Sleep", map[string]int{"ms": 200}, &got) }()
	h.errs.WaitFor(t, "pytext: Sleep trace trace-in-flight", wait)

	h.s.Unplug("", "pytext")
	require.NoError(t, <-done, "the call in flight is answered before the plugin leaves")
	assert.Equal(t, "slept 200 ms", got)
	assert.True(t, <-h.gone)
	require.NoError(t, h.cmd.Wait(), "the plugin exits 0 once unplugged; stderr:\n%s", h.errs)

	err := h.s.CallContext(context.Background(), "pytext", "Upper", "x", nil)
	assert.ErrorIs(t, err, socket.ErrNoPlugin)
}

func TestPythonPluginInterrupted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT for another process on Windows")
	}
	h := startPython(t)
	require.NoError(t, h.cmd.Process.Signal(os.Interrupt))
	err := h.cmd.Wait()
	assert.True(t, <-h.gone, "an interrupted plugin says goodbye: a graceful disconnect; stderr:\n%s", h.errs)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("exit status %d; stderr:\n%s", exit.ExitCode(), h.errs)
	}
	require.NoError(t, err)
}
