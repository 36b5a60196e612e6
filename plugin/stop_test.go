package plugin_test

import (
	"context"
	"encoding/json"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// quitter is a plugin that can be told to leave.
type quitter struct{ p *plugin.Plugin }

func (q *quitter) Quit(context.Context, struct{}) (string, error) {
	if err := q.p.Close(); err != nil {
		return "", err
	}
	return "bye", nil
}

// A method may call Close: the stop must not wait for the very call that
// asked for it, and that call still gets its answer.
func TestCloseFromAMethod(t *testing.T) {
	connected := make(chan string, 1)
	p := &plugin.Plugin{OnConnect: func(name string) { connected <- name }}
	r := start(t, p, &quitter{p: p}, nil, nil, hostOpts{})
	recv(t, connected, "OnConnect")

	var answer string
	require.NoError(t, r.host.call(t.Context(), "Quit", nil, &answer))
	assert.Equal(t, "bye", answer)
	bye := recv(t, r.host.notes, "goodbye")
	assert.Equal(t, envelope.MethodShutdown, bye.Method)
	assert.NoError(t, r.wait(t), "leaving at the plugin's own request is orderly")
	recv(t, r.host.conn.Done(), "plugin to hang up")
}

// Close may come at any moment of Start, before, during or after the
// handshake: it must neither crash nor hang, Start must return nil, and
// nothing may reach the host before the handshake.
func TestCloseRacingStart(t *testing.T) {
	for range 200 {
		p := &plugin.Plugin{}
		r := start(t, p, newCalc(), nil, nil, hostOpts{})
		// Close before Start has begun does nothing, so close, again and
		// again to land in every moment of Start, until Start returns.
		deadline := time.Now().Add(patience)
	closing:
		for {
			require.NoError(t, p.Close())
			select {
			case <-r.finished:
				break closing
			default:
			}
			require.True(t, time.Now().Before(deadline), "Start did not return after Close")
			runtime.Gosched()
		}
		require.NoError(t, r.err)
		r.host.close(t)
		select {
		case first := <-r.host.wire:
			require.Equal(t, envelope.MethodHandshake, first.Method, "the handshake comes first")
		default: // the connection closed before the plugin wrote anything
		}
	}
}

// rawHost is a host that speaks frames by hand over loopback TCP, so that
// it can send what a well-behaved envelope.Conn never would.
type rawHost struct {
	t    *testing.T
	nc   net.Conn
	fr   *envelope.FrameReader
	done chan error // what Start returned
}

func newRawHost(t *testing.T, p *plugin.Plugin, v any) *rawHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	pluginEnd, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	hostEnd, err := ln.Accept()
	require.NoError(t, err)
	h := &rawHost{t: t, nc: hostEnd, fr: envelope.NewFrameReader(hostEnd, 0), done: make(chan error, 1)}
	p.Logger = quiet
	p.HeartbeatInterval = -1 // nothing on the wire but what the test expects
	go func() { h.done <- p.Start(v, nil, pluginEnd, nil) }()
	t.Cleanup(func() {
		_ = hostEnd.Close()
		recv(t, h.done, "Start to return")
	})

	hs := h.read()
	require.Equal(t, envelope.MethodHandshake, hs.Method)
	h.write(map[string]any{"jsonrpc": "2.0", "id": hs.ID, "result": envelope.HandshakeResult{Name: "shop", Session: "s"}})
	return h
}

func (h *rawHost) write(v any) {
	h.t.Helper()
	body, err := json.Marshal(v)
	require.NoError(h.t, err)
	_, err = h.nc.Write(envelope.AppendFrame(nil, body))
	require.NoError(h.t, err)
}

func (h *rawHost) read() *envelope.Envelope {
	h.t.Helper()
	require.NoError(h.t, h.nc.SetReadDeadline(time.Now().Add(patience)))
	body, err := h.fr.ReadFrame()
	require.NoError(h.t, err)
	m, err := envelope.Decode(body)
	require.NoError(h.t, err)
	return m
}

// A host that sends a request with the id of one still in flight gets an
// error answer for it; the call in flight is not disturbed, and its id is
// free again once it has been answered.
func TestDuplicateRequestID(t *testing.T) {
	shop := &Shop{entered: make(chan struct{}, 2), release: make(chan struct{})}
	h := newRawHost(t, &plugin.Plugin{}, shop)

	hold := map[string]any{"jsonrpc": "2.0", "id": 7, "method": "Hold"}
	h.write(hold)
	recv(t, shop.entered, "Hold to start")
	h.write(hold)

	dup := h.read()
	require.True(t, dup.IsResponse())
	assert.Equal(t, envelope.NumberID(7), dup.ID)
	require.NotNil(t, dup.Error, "the duplicate is refused")
	assert.EqualValues(t, envelope.CodeInvalidRequest, dup.Error.Code)
	assert.Contains(t, dup.Error.Message, "7")
	assert.Contains(t, dup.Error.Message, "in flight")

	close(shop.release)
	first := h.read()
	assert.Equal(t, envelope.NumberID(7), first.ID)
	require.Nil(t, first.Error)
	assert.JSONEq(t, `"released"`, string(first.Result))
	assert.Len(t, shop.entered, 0, "the duplicate never ran")

	// Answered, the id may be used again.
	h.write(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "Total", "params": Order{Items: []Item{{2}}}})
	again := h.read()
	assert.Equal(t, envelope.NumberID(7), again.ID)
	require.Nil(t, again.Error)
	assert.JSONEq(t, `2`, string(again.Result))
}

// OnConnect may decide that the plugin should not stay after all.
func TestCloseFromOnConnect(t *testing.T) {
	p := &plugin.Plugin{}
	p.OnConnect = func(string) { _ = p.Close() }
	r := start(t, p, newCalc(), nil, nil, hostOpts{})
	bye := recv(t, r.host.notes, "goodbye")
	assert.Equal(t, envelope.MethodShutdown, bye.Method)
	assert.NoError(t, r.wait(t))
}
