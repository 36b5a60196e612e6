package socket_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(afterAll{m}) }

// cleanups run once every test has finished, for what tests share (such
// as executables built for them).
var cleanups []func()

type afterAll struct{ m *testing.M }

func (a afterAll) Run() int {
	code := a.m.Run()
	for _, f := range cleanups {
		f()
	}
	return code
}

// quiet keeps expected warnings out of test output.
var quiet = slog.New(slog.DiscardHandler)

type traceKey struct{}

// Calc is the test plugin, with Trace for the tests of trace ids.
type Calc struct{ *testplugins.Calc }

func newCalc() *Calc { return &Calc{testplugins.NewCalc()} }

// Trace returns what the method sees of its call's trace id.
func (*Calc) Trace(ctx context.Context, _ struct{}) ([]string, error) {
	v, _ := ctx.Value(traceKey{}).(string)
	return []string{envelope.TraceFrom(ctx), v}, nil
}

// host is a Socket under test with helpers to connect plugins to it.
type host struct {
	t    *testing.T
	s    *socket.Socket
	addr net.Addr
	wg   sync.WaitGroup
}

// transports lists the ways a plugin reaches a host in tests.
var transports = []string{"tcp", "unix", "attach"}

func newHost(t *testing.T, network string, opts ...socket.Options) *host {
	t.Helper()
	h := &host{t: t, s: new(socket.Socket)}
	opts = append([]socket.Options{socket.Config{Logger: quiet}}, opts...)
	switch network {
	case "tcp", "":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		h.addr = l.Addr()
		h.s.Serve(l, opts...)
	case "unix":
		l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
		require.NoError(t, err)
		h.addr = l.Addr()
		h.s.Serve(l, opts...)
	case "attach":
		// No listener: plugins run in-process. Options still apply.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		h.addr = l.Addr()
		h.s.Serve(l, opts...)
	}
	t.Cleanup(func() {
		_ = h.s.Shutdown("")
		h.wg.Wait()
	})
	return h
}

// started is a plugin running against a host.
type started struct {
	name string
	conn net.Conn // the plugin's end, for cutting it off (nil when attached)
	p    *plugin.Plugin
	err  chan error // what Start returned
}

// plug connects v over the host's listener and waits for the handshake.
func (h *host) plug(v any, name string) *started {
	h.t.Helper()
	conn, err := net.Dial(h.addr.Network(), h.addr.String())
	require.NoError(h.t, err)
	st := &started{conn: conn, err: make(chan error, 1)}
	connected := make(chan string, 1)
	st.p = &plugin.Plugin{Logger: quiet, OnConnect: func(n string) { connected <- n }}
	info := &envelope.PluginInfo{Name: name, Version: "1.0.0"}
	h.wg.Go(func() { st.err <- st.p.Start(v, info, conn, traceKey{}) })
	select {
	case st.name = <-connected:
	case err := <-st.err:
		h.t.Fatalf("plugin %q did not connect: %v", name, err)
	case <-time.After(10 * time.Second):
		h.t.Fatalf("plugin %q did not connect in time", name)
	}
	require.Equal(h.t, st.name, info.Name, "info.Name holds the assigned name")
	return st
}

// plugVia connects v the way the transport says.
func (h *host) plugVia(transport string, v any, name string) string {
	h.t.Helper()
	if transport == "attach" {
		n, err := h.s.Attach(v, &envelope.PluginInfo{Name: name, Version: "1.0.0"})
		require.NoError(h.t, err)
		return n
	}
	return h.plug(v, name).name
}

// recv waits for a value with a deadline, failing the test when none comes.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		var zero T
		t.Fatalf("timed out waiting for %s", what)
		return zero
	}
}

// callbacks records disconnect callbacks.
type callbacks struct {
	ch chan string
}

func (h *host) callbacks() *callbacks {
	c := &callbacks{ch: make(chan string, 64)}
	h.s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		c.ch <- fmt.Sprintf("%s graceful=%v", info.Name, graceful)
	})
	return c
}

// startPlugin serves v as a plugin called name on conn until it stops.
func startPlugin(v any, name string, conn net.Conn) error {
	p := &plugin.Plugin{Logger: quiet}
	return p.Start(v, &envelope.PluginInfo{Name: name}, conn, nil)
}
