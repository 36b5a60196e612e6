package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// runee is the plugin the Run tests serve.
type runee struct {
	hooks atomic.Int32 // how often UseAsyncHook was called
	hook  chan any
}

type runArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

func (r *runee) UseAsyncHook(h chan any) {
	r.hooks.Add(1)
	r.hook = h
}

func (r *runee) Add(_ context.Context, in runArgs) (int, error) { return in.A + in.B, nil }

// Emit pushes each item through the async hook.
func (r *runee) Emit(_ context.Context, items []string) (int, error) {
	for _, it := range items {
		r.hook <- it
	}
	return len(items), nil
}

// gatedListener lets a test see and cut every connection the socket
// accepts, and hold each one after the first until the test admits it.
type gatedListener struct {
	net.Listener
	dialled  chan struct{} // a connection arrived and waits to be admitted
	admit    chan struct{}
	accepted chan net.Conn
	once     sync.Once
	closed   chan struct{}
}

func gate(l net.Listener) *gatedListener {
	g := &gatedListener{
		Listener: l,
		dialled:  make(chan struct{}, 16),
		admit:    make(chan struct{}, 16),
		accepted: make(chan net.Conn, 16),
		closed:   make(chan struct{}),
	}
	g.admit <- struct{}{} // the first connection goes straight in
	return g
}

func (g *gatedListener) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g.dialled <- struct{}{}
	select {
	case <-g.admit:
	case <-g.closed:
		_ = c.Close()
		return nil, net.ErrClosed
	}
	g.accepted <- c
	return c, nil
}

func (g *gatedListener) Close() error {
	g.once.Do(func() { close(g.closed) })
	return g.Listener.Close()
}

// runHost is a socket with a gated listener and a record of disconnects.
type runHost struct {
	s    *socket.Socket
	l    *gatedListener
	addr string // as PLUGSOCK_ADDR
	gone chan string
}

func newRunHost(t *testing.T, network string) *runHost {
	t.Helper()
	var (
		l   net.Listener
		err error
	)
	if network == "unix" {
		l, err = net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	require.NoError(t, err)
	addr, err := envelope.FormatAddr(l.Addr())
	require.NoError(t, err)
	h := &runHost{s: new(socket.Socket), l: gate(l), addr: addr, gone: make(chan string, 16)}
	h.s.Serve(h.l, socket.Config{Logger: quiet})
	h.s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		h.gone <- fmt.Sprintf("%s graceful=%v", info.Name, graceful)
	})
	t.Cleanup(func() { _ = h.s.Shutdown("") })
	return h
}

// nextAsync returns the next item a plugin pushed, skipping connect and
// disconnect events.
func nextAsync(t *testing.T, s *socket.Socket) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	for {
		it, err := s.AsyncContext(ctx)
		require.NoError(t, err)
		switch it.Payload.(type) {
		case envelope.Connected, envelope.Disconnected:
			continue
		}
		return it.Payload
	}
}

// running is a Run on its own goroutine.
type running struct {
	cancel   context.CancelFunc
	sessions chan string
	done     chan error    // what Run returned
	finished chan struct{} // closed once Run has returned
}

func startRun(t *testing.T, v any, info *envelope.PluginInfo, o plugin.RunOptions) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, sessions: make(chan string, 16), done: make(chan error, 1), finished: make(chan struct{})}
	if o.Log == nil {
		o.Log = quiet
	}
	if o.MinDelay == 0 {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 20*time.Millisecond
	}
	o.OnSession = func(name string) { r.sessions <- name }
	go func() {
		defer close(r.finished)
		r.done <- plugin.RunWith(ctx, v, info, o)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.finished:
		case <-time.After(patience):
			t.Error("Run did not return")
		}
	})
	return r
}

func TestRunReconnectsAfterTheConnectionIsCut(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			h := newRunHost(t, network)
			v := &runee{}
			r := startRun(t, v, &envelope.PluginInfo{Name: "runner", Version: "1.0.0"},
				plugin.RunOptions{Env: map[string]string{envelope.EnvAddr: h.addr}})

			assert.Equal(t, "runner", recv(t, r.sessions, "first session"))
			first := recv(t, h.l.accepted, "first connection")
			<-h.l.dialled
			var sum int
			require.NoError(t, h.s.CallContext(t.Context(), "runner", "Add", runArgs{A: 2, B: 3}, &sum))
			assert.Equal(t, 5, sum)

			// Cut the connection under the plugin's feet.
			require.NoError(t, first.Close())
			assert.Equal(t, "runner graceful=false", recv(t, h.gone, "disconnect of the cut connection"))

			// The plugin dials again by itself. While the host holds
			// the new connection, the old session is surely over: what
			// the plugin pushes now waits for the next handshake.
			recv(t, h.l.dialled, "the plugin to dial again")
			v.hook <- "queued-1"
			v.hook <- "queued-2"
			h.l.admit <- struct{}{}
			assert.Equal(t, "runner", recv(t, r.sessions, "second session"), "the same name again")
			assert.Equal(t, "queued-1", nextAsync(t, h.s))
			assert.Equal(t, "queued-2", nextAsync(t, h.s))

			require.NoError(t, h.s.CallContext(t.Context(), "runner", "Add", runArgs{A: 40, B: 2}, &sum))
			assert.Equal(t, 42, sum, "callable again after reconnecting")
			var n int
			require.NoError(t, h.s.CallContext(t.Context(), "runner", "Emit", []string{"after"}, &n))
			assert.Equal(t, "after", nextAsync(t, h.s))
			assert.EqualValues(t, 1, v.hooks.Load(), "UseAsyncHook is called once per Plugin")

			// Ending the context leaves in good order.
			r.cancel()
			assert.NoError(t, recv(t, r.done, "Run to return"))
			assert.Equal(t, "runner graceful=true", recv(t, h.gone, "graceful disconnect"))
		})
	}
}

func TestRunReturnsNilAfterShutdown(t *testing.T) {
	h := newRunHost(t, "tcp")
	r := startRun(t, &runee{}, &envelope.PluginInfo{Name: "runner"},
		plugin.RunOptions{Env: map[string]string{envelope.EnvAddr: h.addr}})
	recv(t, r.sessions, "session")
	h.s.Unplug("", "runner")
	assert.Equal(t, "runner graceful=true", recv(t, h.gone, "disconnect"))
	assert.NoError(t, recv(t, r.done, "Run to return after $/shutdown"))
}

func TestRunLeavesGracefullyWhenStoppedDuringTheHandshake(t *testing.T) {
	// The context ends while the host's answer to the handshake is on
	// its way. The host counts the plugin as connected once it has
	// answered, so Run must take the answer and say goodbye, not hang up.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- plugin.RunWith(ctx, &runee{}, &envelope.PluginInfo{Name: "runner"}, plugin.RunOptions{
			Env: map[string]string{envelope.EnvAddr: l.Addr().String()}, Log: quiet})
	}()
	conn, err := l.Accept()
	require.NoError(t, err)
	host := newHost(conn, hostOpts{answer: func(hs envelope.Handshake) (*envelope.HandshakeResult, *envelope.Error) {
		cancel()
		return accept(hs)
	}})
	defer host.close(t)
	note := recv(t, host.notes, "the plugin's goodbye")
	assert.Equal(t, envelope.MethodShutdown, note.Method)
	assert.NoError(t, recv(t, done, "Run to return"))
}

func TestRunRetriesATakenName(t *testing.T) {
	h := newRunHost(t, "tcp")
	_, err := h.s.Attach(&runee{}, &envelope.PluginInfo{Name: "runner"})
	require.NoError(t, err)

	r := startRun(t, &runee{}, &envelope.PluginInfo{Name: "runner"},
		plugin.RunOptions{Env: map[string]string{envelope.EnvAddr: h.addr}})
	// Refused at least once, then let in once the name is free.
	recv(t, h.l.dialled, "first attempt")
	recv(t, h.l.accepted, "first attempt admitted")
	recv(t, h.l.dialled, "second attempt")
	h.s.Unplug("", "runner")
	assert.Equal(t, "runner graceful=true", recv(t, h.gone, "the attached plugin to go"))
	for i := 0; i < 8; i++ {
		h.l.admit <- struct{}{}
	}
	assert.Equal(t, "runner", recv(t, r.sessions, "the Run plugin to get the name"))
}

func TestRunPassesTokenAndLaunch(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	r := startRun(t, &runee{}, &envelope.PluginInfo{Name: "runner"}, plugin.RunOptions{Env: map[string]string{
		envelope.EnvAddr:   "tcp:" + l.Addr().String(),
		envelope.EnvToken:  "s3cret",
		envelope.EnvLaunch: "launch-7",
	}})
	conn, err := l.Accept()
	require.NoError(t, err)
	host := newHost(conn, hostOpts{})
	defer host.close(t)
	hs := recv(t, host.hs, "handshake")
	assert.Equal(t, "s3cret", hs.Token)
	assert.Equal(t, "launch-7", hs.Launch)
	assert.Equal(t, "runner", hs.Name)
	recv(t, r.sessions, "session")
}

func TestRunPermanentRefusals(t *testing.T) {
	t.Run("no methods", func(t *testing.T) {
		err := plugin.RunWith(t.Context(), struct{}{}, nil, plugin.RunOptions{
			Env: map[string]string{envelope.EnvAddr: "127.0.0.1:1"}, Log: quiet})
		assert.ErrorIs(t, err, plugin.ErrNoMethods)
	})
	t.Run("bad address", func(t *testing.T) {
		err := plugin.RunWith(t.Context(), &runee{}, nil, plugin.RunOptions{
			Env: map[string]string{envelope.EnvAddr: "no-port-here"}, Log: quiet})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no-port-here")
	})
	for _, code := range []int64{envelope.CodeUnauthorized, envelope.CodeInvalidParams} {
		t.Run(fmt.Sprintf("refused %d", code), func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer l.Close()
			done := make(chan error, 1)
			go func() {
				done <- plugin.RunWith(t.Context(), &runee{}, nil, plugin.RunOptions{
					Env: map[string]string{envelope.EnvAddr: l.Addr().String()}, Log: quiet,
					MinDelay: time.Millisecond, MaxDelay: time.Millisecond})
			}()
			conn, err := l.Accept()
			require.NoError(t, err)
			host := newHost(conn, hostOpts{answer: func(envelope.Handshake) (*envelope.HandshakeResult, *envelope.Error) {
				return nil, envelope.Errorf(code, "no")
			}})
			defer host.close(t)
			err = recv(t, done, "Run to give up")
			var e *envelope.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, code, e.Code)
		})
	}
}

func TestRunLeavesWhenTheLifelineEnds(t *testing.T) {
	h := newRunHost(t, "tcp")
	gone := make(chan func(), 1)
	r := startRun(t, &runee{}, &envelope.PluginInfo{Name: "runner"}, plugin.RunOptions{
		Env:      map[string]string{envelope.EnvAddr: h.addr, envelope.EnvLifeline: "stdin"},
		Lifeline: func(f func()) func() { gone <- f; return func() {} },
	})
	recv(t, r.sessions, "session")
	recv(t, gone, "lifeline watch")()
	assert.NoError(t, recv(t, r.done, "Run to return"))
	assert.Equal(t, "runner graceful=true", recv(t, h.gone, "graceful disconnect"))
}

func TestRunStopsDialingWhenTheContextEnds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nobody listens there now
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = plugin.RunWith(ctx, &runee{}, nil, plugin.RunOptions{
		Env: map[string]string{envelope.EnvAddr: addr}, Log: quiet,
		MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	assert.NoError(t, err)
}

func TestRunDescribe(t *testing.T) {
	var out bytes.Buffer
	err := plugin.RunWith(t.Context(), &runee{}, &envelope.PluginInfo{Name: "runner", Version: "2.1.0"},
		plugin.RunOptions{Args: []string{"runner", "describe"}, Stdout: &out})
	require.NoError(t, err)
	var info envelope.PluginInfo
	require.NoError(t, json.Unmarshal(out.Bytes(), &info), "%s", out.Bytes())
	assert.Equal(t, "runner", info.Name)
	assert.Equal(t, "2.1.0", info.Version)
	require.Contains(t, info.Functions, "Add")
	require.Contains(t, info.Functions, "Emit")
	assert.Len(t, info.Functions, 2)
	add := info.Functions["Add"]
	require.NotNil(t, add.Input)
	assert.Equal(t, "struct", add.Input.Type)
	require.Len(t, add.Input.Fields, 2)
	assert.Equal(t, "a", add.Input.Fields[0].Name)
	assert.Equal(t, "int", add.Output.Type)

	out.Reset()
	require.NoError(t, plugin.RunWith(t.Context(), &runee{}, nil,
		plugin.RunOptions{Args: []string{"runner", "describe"}, Stdout: &out}))
	require.NoError(t, json.Unmarshal(out.Bytes(), &info))
	assert.Equal(t, "runee", info.Name, "the type's name when info has none")

	err = plugin.RunWith(t.Context(), struct{}{}, nil, plugin.RunOptions{Args: []string{"x", "describe"}, Stdout: &out})
	assert.ErrorIs(t, err, plugin.ErrNoMethods)
}

func TestWatchFD(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	gone := make(chan struct{})
	stop := plugin.WatchFD(int(pr.Fd()), func() { close(gone) })
	_, err = pw.Write([]byte("data is not the end"))
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	recv(t, gone, "end of file to be noticed")
	stop()

	// Stopped before end of file: gone is not called, nothing is left.
	pr2, pw2, err := os.Pipe()
	require.NoError(t, err)
	defer pr2.Close()
	defer pw2.Close()
	stop = plugin.WatchFD(int(pr2.Fd()), func() { t.Error("gone called after stop") })
	stop()
}
