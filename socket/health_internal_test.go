package socket

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

type healthy struct{}

func (healthy) Hello(_ context.Context, name string) (string, error) { return name, nil }

func (healthy) Health(context.Context) (plugin.Health, error) { return plugin.Health{}, nil }

// The timer that schedules a plugin's next check is stopped when the
// plugin disconnects, not left to fire an hour later for a plugin that is
// gone.
func TestHealthTimerStoppedAtDisconnect(t *testing.T) {
	var s Socket
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, Config{Logger: slog.New(slog.DiscardHandler), HealthInterval: time.Hour})
	defer func() { require.NoError(t, s.Shutdown("")) }()
	name, err := s.Attach(healthy{}, &envelope.PluginInfo{Name: "p"})
	require.NoError(t, err)
	s.mu.Lock()
	r := s.plugins[name]
	s.mu.Unlock()
	require.NotNil(t, r)
	require.Eventually(t, func() bool { return r.health.get().Status == envelope.Healthy }, 10*time.Second, time.Millisecond)

	s.Unplug("", name)
	select {
	case <-r.gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin did not go")
	}
	r.health.mu.Lock()
	defer r.health.mu.Unlock()
	assert.True(t, r.health.stopped)
	assert.False(t, r.health.timer.Stop(), "the next check was still scheduled")
	assert.Nil(t, r.health.cancel)
}
