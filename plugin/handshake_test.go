package plugin_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// renamed answers the handshake the way a socket with a key sequencer
// does when the name is taken.
func renamed(hs envelope.Handshake) (*envelope.HandshakeResult, *envelope.Error) {
	return &envelope.HandshakeResult{Name: hs.Name + "-2", Session: "s"}, nil
}

func TestHandshakeParams(t *testing.T) {
	connected := make(chan string, 1)
	p := &plugin.Plugin{Token: "secret", Launch: "launch-7", OnConnect: func(name string) { connected <- name }}
	info := &envelope.PluginInfo{Name: "calc", Version: "1.2.3"}
	r := start(t, p, newCalc(), info, nil, hostOpts{answer: renamed})

	hs := recv(t, r.host.hs, "handshake")
	assert.Equal(t, "calc", hs.Name)
	assert.Equal(t, "1.2.3", hs.Version)
	assert.Equal(t, "secret", hs.Token)
	assert.Equal(t, "launch-7", hs.Launch)
	assert.Contains(t, hs.Functions, "Add")
	assert.Equal(t, "Add", hs.Functions["Add"].Name)

	assert.Equal(t, "calc-2", recv(t, connected, "OnConnect"), "OnConnect gets the assigned name")
	// info.Name is written before OnConnect runs; reading it after is safe.
	assert.Equal(t, "calc-2", info.Name, "info.Name holds the assigned name")

	// The handshake was the first thing on the wire.
	first := recv(t, r.host.wire, "first frame")
	assert.Equal(t, envelope.MethodHandshake, first.Method)
	assert.True(t, first.IsRequest())
}

func TestHandshakeDefaultNameIsTypeName(t *testing.T) {
	_, hs := connect(t, newCalc(), nil, nil)
	assert.Equal(t, "calc", hs.Name)
	assert.Empty(t, hs.Version)
	assert.Empty(t, hs.Token)
}

func TestHandshakeRefused(t *testing.T) {
	taken := func(hs envelope.Handshake) (*envelope.HandshakeResult, *envelope.Error) {
		return nil, envelope.Errorf(envelope.CodeNameTaken, "name %q is taken", hs.Name)
	}
	called := false
	p := &plugin.Plugin{OnConnect: func(string) { called = true }}
	info := &envelope.PluginInfo{Name: "calc"}
	r := start(t, p, newCalc(), info, nil, hostOpts{answer: taken})

	err := r.wait(t)
	require.Error(t, err)
	assert.ErrorIs(t, err, envelope.ErrNameTaken)
	assert.Contains(t, err.Error(), `name "calc" is taken`, "the host's reason reaches the author")
	assert.False(t, called, "OnConnect runs only after a successful handshake")
	assert.Equal(t, "calc", info.Name, "a refused plugin keeps the name it asked for")
	recv(t, r.host.conn.Done(), "plugin to hang up")
}

func TestHandshakeTimeout(t *testing.T) {
	silent := func(envelope.Handshake) (*envelope.HandshakeResult, *envelope.Error) { return nil, nil }
	p := &plugin.Plugin{HandshakeTimeout: 20 * time.Millisecond}
	r := start(t, p, newCalc(), nil, nil, hostOpts{answer: silent})

	err := r.wait(t)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "handshake")
	recv(t, r.host.conn.Done(), "plugin to hang up")
}

// A host may call as soon as it has answered the handshake; the plugin
// must not serve that call until Start has stored the assigned name and
// OnConnect has run, or methods would race with both.
func TestNoCallBeforeOnConnect(t *testing.T) {
	info := &envelope.PluginInfo{Name: "calc"}
	c := newCalc()
	c.info = info
	var onConnectDone atomic.Bool
	callWritten := make(chan struct{})
	p := &plugin.Plugin{OnConnect: func(string) {
		<-callWritten
		// Give a call that jumped the queue time to show itself.
		select {
		case <-c.started:
			onConnectDone.Store(false)
			return
		case <-time.After(20 * time.Millisecond):
		}
		onConnectDone.Store(true)
	}}
	r := start(t, p, c, info, nil, hostOpts{answer: renamed})
	recv(t, r.host.hs, "handshake")

	type answer struct {
		name string
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		var a answer
		a.err = r.host.call(t.Context(), "Name", nil, &a.name)
		answers <- a
	}()
	sentFrame(t, r, "Name")
	close(callWritten)

	a := recv(t, answers, "answer")
	require.NoError(t, a.err)
	assert.True(t, onConnectDone.Load(), "the call ran while OnConnect was still running")
	assert.Equal(t, "calc-2", a.name, "the method sees the assigned name")
}
