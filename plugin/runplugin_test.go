package plugin_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Plugin.Run runs a configured Plugin: its settings and OnConnect apply,
// the token and launch id come from the environment without being written
// into it, Host and Close work on it, and Close ends Run with nil.
func TestPluginRunUsesThePlugin(t *testing.T) {
	h := newRunHost(t, "tcp")
	connected := make(chan string, 4)
	var observed []envelope.ObservedCall
	served := make(chan struct{}, 4)
	p := &plugin.Plugin{
		Logger:    slog.New(slog.DiscardHandler),
		OnConnect: func(name string) { connected <- name },
		Observer: func(ctx context.Context, c envelope.ObservedCall) (context.Context, func(error)) {
			observed = append(observed, c) // calls here are one at a time
			return ctx, func(error) { served <- struct{}{} }
		},
	}
	r := startRun(t, &runee{}, &envelope.PluginInfo{Name: "runner"}, plugin.RunOptions{
		Plugin: p,
		Env:    map[string]string{envelope.EnvAddr: h.addr, envelope.EnvLaunch: "launch-9"},
	})
	assert.Equal(t, "runner", recv(t, connected, "the Plugin's OnConnect"))
	assert.Equal(t, "runner", recv(t, r.sessions, "Run's own"))
	require.NotNil(t, p.Host(), "the session's host")
	assert.Equal(t, envelope.Protocol2, p.Host().Protocol())
	assert.Empty(t, p.Launch, "the environment's launch id is not written into the Plugin")
	assert.Empty(t, p.Token)

	var sum int
	require.NoError(t, h.s.CallContext(t.Context(), "runner", "Add", runArgs{A: 2, B: 5}, &sum))
	assert.Equal(t, 7, sum)
	recv(t, served, "the call observed")
	assert.Equal(t, []envelope.ObservedCall{{Method: "Add", Plugin: "runner", Served: true, Known: true}}, observed)

	require.NoError(t, p.Close())
	assert.Equal(t, "runner graceful=true", recv(t, h.gone, "a graceful disconnect"))
	assert.NoError(t, recv(t, r.done, "Run to return after Close"))
}
