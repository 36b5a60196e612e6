//go:build linux

package socket_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsLaunchedRestarts(t *testing.T) {
	h, _ := launchHost(t)
	gone := h.callbacks()
	name, err := h.s.Launch(t.Context(), launcheeCmd(t), fast...)
	require.NoError(t, err)
	pid := callInt(t, h.s, name, "Pid")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Equal(t, "launchee graceful=false", recv(t, gone.ch, "disconnect of the killed plugin"))
	require.True(t, h.s.WaitFor(name, 10*time.Second), "restarted")
	require.NotEqual(t, pid, callInt(t, h.s, name, "Pid"))

	mfs := gather(t, h.s)
	assert.Equal(t, 1.0, counterValue(mfs, "plugsock_plugin_restarts_total", "plugin", name))
	assert.Equal(t, 1.0, counterValue(mfs, "plugsock_plugin_exits_total", "plugin", name, "reason", "signalled"))
	assert.Len(t, mfs["plugsock_plugin_exits_total"].GetMetric(), 1)
	assert.Equal(t, 2.0, counterValue(mfs, "plugsock_calls_total", "plugin", name, "method", "Pid", "outcome", "ok"), "across both processes")

	require.NoError(t, h.s.Shutdown(""))
	mfs = gather(t, h.s)
	assert.Equal(t, 1.0, counterValue(mfs, "plugsock_plugin_exits_total", "plugin", name, "reason", "exited"), "stopped at shutdown")
}
