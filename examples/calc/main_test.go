package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/calc/calc"
	"github.com/plugsock/plugsock/examples/internal/exampletest"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// host is a socket on a free loopback port that reports disconnects.
type host struct {
	s    *socket.Socket
	addr string
	gone chan bool // graceful, per disconnect
}

func newHost(t *testing.T) *host {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &host{s: new(socket.Socket), addr: l.Addr().String(), gone: make(chan bool, 1)}
	h.s.Serve(l, socket.Config{Logger: quiet})
	h.s.RegisterCallback(func(_ *envelope.PluginInfo, graceful bool) { h.gone <- graceful })
	t.Cleanup(func() { _ = h.s.Shutdown("") })
	return h
}

// start runs the calc program against h and waits for it to connect.
func (h *host) start(t *testing.T) (*exec.Cmd, *exampletest.Output) {
	t.Helper()
	cmd, stderr := startCalc(t, h.addr)
	require.True(t, h.s.WaitFor(calc.Name, 30*time.Second), "calc did not connect; stderr:\n%s", stderr)
	return cmd, stderr
}

// startCalc runs the calc program with PLUGSOCK_ADDR=addr, and kills it
// at the end of the test if it is still running.
func startCalc(t *testing.T, addr string) (*exec.Cmd, *exampletest.Output) {
	t.Helper()
	cmd := exec.Command(exampletest.Build(t, "."))
	cmd.Env = append(os.Environ(), "PLUGSOCK_ADDR="+addr)
	stderr := new(exampletest.Output)
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, stderr
}

func TestCalcProgram(t *testing.T) {
	h := newHost(t)
	cmd, stderr := h.start(t)

	info := h.s.PluginInfo("calc")
	require.NotNil(t, info)
	assert.Equal(t, "1.0.0", info.Version)
	assert.ElementsMatch(t, []string{"Add", "Sub", "Mul", "Div", "Stats"}, keys(info.Functions))

	ctx := context.Background()
	for _, tc := range []struct {
		method string
		want   float64
	}{{"Add", 9}, {"Sub", 5}, {"Mul", 14}, {"Div", 3.5}} {
		var got float64
		require.NoError(t, h.s.CallContext(ctx, "calc", tc.method, calc.Args{A: 7, B: 2}, &got), tc.method)
		assert.Equal(t, tc.want, got, tc.method)
	}

	err := h.s.CallContext(ctx, "calc", "Div", calc.Args{A: 1}, nil)
	var e *envelope.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, int64(envelope.CodeMethodError), e.Code)
	assert.Equal(t, "division by zero", e.Message)

	var stats calc.Stats
	require.NoError(t, h.s.CallContext(ctx, "calc", "Stats", nil, &stats))
	assert.Equal(t, calc.Stats{Calls: 5}, stats)

	h.s.Unplug("", "calc")
	assert.True(t, <-h.gone, "unplugged gracefully")
	require.NoError(t, cmd.Wait(), "calc exits 0 once unplugged; stderr:\n%s", stderr)
	assert.Empty(t, stderr.String())
}

func TestCalcProgramInterrupted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT for another process on Windows")
	}
	h := newHost(t)
	cmd, stderr := h.start(t)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	assert.True(t, <-h.gone, "an interrupted plugin says goodbye: a graceful disconnect")
	require.NoError(t, cmd.Wait(), "stderr:\n%s", stderr)
}

func TestCalcProgramWaitsForTheHost(t *testing.T) {
	// An address with nobody listening yet: the plugin keeps dialling
	// until a host is there, then serves.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	cmd, stderr := startCalc(t, addr)
	stderr.WaitFor(t, "plugsock: cannot reach the host yet; retrying", 30*time.Second)

	l, err = net.Listen("tcp", addr)
	require.NoError(t, err, "the port was taken in the meantime")
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: quiet})
	defer s.Shutdown("")
	require.True(t, s.WaitFor(calc.Name, 30*time.Second), "calc did not connect; stderr:\n%s", stderr)
	var sum float64
	require.NoError(t, s.CallContext(context.Background(), calc.Name, "Add", calc.Args{A: 1, B: 2}, &sum))
	assert.Equal(t, 3.0, sum)
	require.NoError(t, s.Shutdown(""))
	require.NoError(t, cmd.Wait(), "calc exits 0 once unplugged; stderr:\n%s", stderr)
}

func TestCalcProgramNoAddress(t *testing.T) {
	cmd := exec.Command(exampletest.Build(t, "."))
	cmd.Env = append(os.Environ(), "PLUGSOCK_ADDR=unix:")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, string(out), "calc: plugsock: PLUGSOCK_ADDR")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
