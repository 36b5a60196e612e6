package plugin_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Every test must leave no goroutine behind: Start promises that nothing
// outlives the connection.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds every wait in these tests. It is generous because a
// deadline here only turns a hang into a failure; passing tests never
// come near it.
const patience = 10 * time.Second

// quiet keeps the warnings that tests provoke on purpose out of the output.
var quiet = slog.New(slog.DiscardHandler)

// recv returns the next value from ch (the zero value once ch is closed,
// which is how done-channels signal), or fails the test when none comes in
// time. Call it from the test's own goroutine only.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		require.FailNow(t, "timed out waiting for "+what)
		panic("unreachable")
	}
}

// hostOpts shape the fake host's behaviour.
type hostOpts struct {
	// answer decides the handshake's answer: a result, an error, or
	// neither (the host stays silent). Nil accepts the name asked for.
	answer func(envelope.Handshake) (*envelope.HandshakeResult, *envelope.Error)
	// hangUpOnGoodbye makes the host close the connection the moment the
	// plugin announces it is leaving, the least patient host there can be.
	hangUpOnGoodbye bool
}

func accept(hs envelope.Handshake) (*envelope.HandshakeResult, *envelope.Error) {
	return &envelope.HandshakeResult{Name: hs.Name, Session: "test-session"}, nil
}

// fakeHost plays the socket's part over a real envelope.Conn and records
// the traffic in wire order, which the Conn's own API cannot show (answers
// reach Call's callers on goroutines whose order is not the wire's).
type fakeHost struct {
	opts  hostOpts
	conn  *envelope.Conn
	hs    chan envelope.Handshake // handshake params, as received
	notes chan *envelope.Envelope // notifications from the plugin, in order
	wire  chan *envelope.Envelope // every frame the plugin wrote, in order
	sent  chan *envelope.Envelope // every frame the host wrote, once the plugin has read it
	idle  chan struct{}           // closed once the wire recorder has stopped
	raw   net.Conn
}

const logSize = 1 << 12

func newHost(raw net.Conn, opts hostOpts) *fakeHost {
	if opts.answer == nil {
		opts.answer = accept
	}
	pr, pw := io.Pipe()
	h := &fakeHost{
		opts:  opts,
		hs:    make(chan envelope.Handshake, 8),
		notes: make(chan *envelope.Envelope, logSize),
		wire:  make(chan *envelope.Envelope, logSize),
		sent:  make(chan *envelope.Envelope, logSize),
		idle:  make(chan struct{}),
		raw:   raw,
	}
	go h.record(pr)
	h.conn = envelope.NewConn(&tap{Conn: raw, pw: pw, sent: h.sent}, envelope.ConnOptions{Handler: h.handle, Logger: quiet})
	h.conn.Start()
	return h
}

// record parses a copy of what the host reads into h.wire.
func (h *fakeHost) record(r *io.PipeReader) {
	defer close(h.idle)
	fr := envelope.NewFrameReader(r, 0)
	for {
		body, err := fr.ReadFrame()
		if err != nil {
			break
		}
		m, err := envelope.Decode(body)
		if err != nil {
			break
		}
		h.wire <- m
	}
	// Keep the tap's writes from blocking once there is nothing to parse.
	_, _ = io.Copy(io.Discard, r)
}

func (h *fakeHost) handle(c *envelope.Conn, m *envelope.Envelope) {
	switch {
	case m.Method == envelope.MethodHandshake:
		var hs envelope.Handshake
		_ = envelope.DecodeParams(m, &hs)
		h.hs <- hs
		res, rerr := h.opts.answer(hs)
		switch {
		case rerr != nil:
			_ = c.ReplyError(m.ID, rerr)
		case res != nil:
			_ = c.Reply(m.ID, res)
		}
	case m.IsNotification():
		h.notes <- m
		if m.Method == envelope.MethodShutdown && h.opts.hangUpOnGoodbye {
			_ = c.Close()
		}
	default:
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
	}
}

// call calls a plugin method, bounded so that a lost answer fails the test
// instead of hanging it.
func (h *fakeHost) call(ctx context.Context, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	return h.conn.Call(ctx, method, params, result)
}

// close hangs up and waits until the host has let go of everything.
func (h *fakeHost) close(t testing.TB) {
	t.Helper()
	_ = h.conn.Close()
	recv(t, h.conn.Done(), "host connection to end")
	recv(t, h.idle, "wire recorder to stop")
}

// tap copies what the host reads to the wire recorder and reports what
// it wrote. envelope.Conn writes one whole frame per Write.
type tap struct {
	net.Conn
	pw   *io.PipeWriter
	sent chan<- *envelope.Envelope
}

func (c *tap) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		_, _ = c.pw.Write(b[:n])
	}
	if err != nil {
		_ = c.pw.CloseWithError(err)
	}
	return n, err
}

func (c *tap) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	// net.Pipe's Write returns once the plugin has read every byte, so
	// whatever the plugin reads next was written after this frame.
	if err == nil {
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			if m, derr := envelope.Decode(b[i+4:]); derr == nil {
				c.sent <- m
			}
		}
	}
	return n, err
}

// run is one Plugin.Start under test, against a fake host.
type run struct {
	p        *plugin.Plugin
	host     *fakeHost
	finished chan struct{} // closed when Start has returned
	err      error         // what Start returned, once finished is closed
}

// start runs p.Start(v, info, ..., ctxKey) on its own goroutine against a
// fake host over net.Pipe. Cleanup hangs up and waits for Start to return.
func start(t testing.TB, p *plugin.Plugin, v any, info *envelope.PluginInfo, ctxKey any, opts hostOpts) *run {
	t.Helper()
	if p.Logger == nil {
		p.Logger = quiet
	}
	pluginEnd, hostEnd := net.Pipe()
	r := &run{p: p, host: newHost(hostEnd, opts), finished: make(chan struct{})}
	go func() {
		defer close(r.finished)
		r.err = p.Start(v, info, pluginEnd, ctxKey)
	}()
	t.Cleanup(func() {
		r.host.close(t)
		r.wait(t)
	})
	return r
}

// wait returns what Start returned, failing the test if it does not return.
func (r *run) wait(t testing.TB) error {
	t.Helper()
	recv(t, r.finished, "Start to return")
	return r.err
}

// connect starts a plugin and waits until it has handshaken, so the test
// begins with a connected plugin. The handshake params are returned.
func connect(t testing.TB, v any, info *envelope.PluginInfo, ctxKey any) (*run, envelope.Handshake) {
	t.Helper()
	connected := make(chan string, 1)
	p := &plugin.Plugin{OnConnect: func(name string) { connected <- name }}
	r := start(t, p, v, info, ctxKey, hostOpts{})
	hs := recv(t, r.host.hs, "handshake")
	recv(t, connected, "OnConnect")
	return r, hs
}

// rpcError asserts that err is an error answer and returns it.
func rpcError(t testing.TB, err error) *envelope.Error {
	t.Helper()
	var e *envelope.Error
	require.ErrorAs(t, err, &e)
	return e
}
