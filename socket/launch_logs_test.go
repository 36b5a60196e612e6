//go:build linux

package socket_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A launched plugin's slog JSON line at WARN is the host's WARN record,
// with the plugin's attributes and its name; a plain line stays at info.
func TestLaunchedPluginLogsKeepTheirLevel(t *testing.T) {
	h, logs := launchHost(t)
	name, err := h.s.Launch(t.Context(), launcheeCmd(t), fast...)
	require.NoError(t, err)
	require.NoError(t, h.s.CallContext(t.Context(), name, "Warn", "disk almost full", nil))
	logs.waitLog(t, "level=WARN", `msg="disk almost full"`, "plugin=launchee", "stream=stderr", "free_mb=12", "volume=/data")
	require.NoError(t, h.s.CallContext(t.Context(), name, "Say", "just a line", nil))
	logs.waitLog(t, "level=INFO", `msg="plugsock: plugin output"`, `line="just a line"`)
}

// A SIGKILLed plugin's exit is logged with its signal and what comes
// next, and kept, with the last lines of its standard error.
func TestSIGKILLedPluginsExitIsLoggedAndKept(t *testing.T) {
	h, logs := launchHost(t)
	name, err := h.s.Launch(t.Context(), launcheeCmd(t), fast...)
	require.NoError(t, err)
	pid := callInt(t, h.s, name, "Pid")
	require.NoError(t, h.s.CallContext(t.Context(), name, "Say", "out of patience", nil))
	require.Eventually(t, func() bool { return len(logs.lines(`line="out of patience"`)) > 0 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	logs.waitLog(t, "level=WARN", "launchee (pid ", ") killed by signal 9 (SIGKILL); restarting in ")
	require.Eventually(t, func() bool { return len(h.s.Exits()) == 1 }, 10*time.Second, 5*time.Millisecond)
	x := h.s.Exits()[0]
	assert.Equal(t, "launchee", x.Plugin)
	assert.Equal(t, pid, x.PID)
	assert.Equal(t, "killed by signal 9 (SIGKILL)", x.Status)
	assert.Equal(t, -1, x.Code)
	assert.True(t, strings.HasPrefix(x.Next, "restarting in "), x.Next)
	assert.Contains(t, x.Stderr, "out of patience")
	require.True(t, h.s.WaitFor(name, 10*time.Second), "restarted")
}
