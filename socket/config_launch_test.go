//go:build linux

package socket_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/socket"
)

type greeting struct {
	Greeting string `json:"greeting"`
}

// A launched plugin takes LaunchConfig.Config in place of the socket's
// configuration for its name, every process of it, until Configure
// replaces it; one that does not fit fails Launch.
func TestLaunchConfig(t *testing.T) {
	h, _ := launchHost(t, socket.WithConfig("launchee", greeting{"from the socket"}))
	opts := append([]socket.LaunchOption{socket.LaunchConfig{Config: greeting{"from Launch"}}}, fast...)
	name, err := h.s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_MODE=configured"), opts...)
	require.NoError(t, err)
	config := func() greeting {
		t.Helper()
		var g greeting
		require.NoError(t, h.s.CallContext(t.Context(), name, "Config", nil, &g))
		return g
	}
	assert.Equal(t, greeting{"from Launch"}, config(), "configured before Launch returned")

	require.NoError(t, h.s.Configure(t.Context(), name, greeting{"replaced"}))
	assert.Equal(t, greeting{"replaced"}, config())

	// A restart takes what the last process took.
	pid := callInt(t, h.s, name, "Pid")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		var p int
		return h.s.CallContext(t.Context(), name, "Pid", nil, &p) == nil && p != pid
	}, 10*time.Second, 5*time.Millisecond, "restarted")
	assert.Equal(t, greeting{"replaced"}, config())

	// One that does not fit: Launch says why.
	h2, _ := launchHost(t)
	opts = append([]socket.LaunchOption{socket.LaunchConfig{Config: map[string]any{"greeting": 5}}}, fast...)
	_, err = h2.s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_MODE=configured", "LAUNCHEE_NAME=other"), opts...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `handshake refused: invalid configuration for "other": /greeting`)

	_, err = h2.s.Launch(t.Context(), launcheeCmd(t), socket.LaunchConfig{Config: func() {}})
	assert.ErrorContains(t, err, "plugsock: Launch: encoding LaunchConfig.Config: json: unsupported type: func()")
}
