//go:build linux

package mcpplugin_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/mcpplugin"
	"github.com/plugsock/plugsock/socket"
)

// tsServer is the command of testdata/ts/server.mjs, the MCP server
// written with the official TypeScript SDK. Its tests run when
// PLUGSOCK_MCP_TS=1, after `npm ci` in testdata/ts; CI runs them so.
func tsServer(t *testing.T) *exec.Cmd {
	t.Helper()
	if os.Getenv("PLUGSOCK_MCP_TS") != "1" {
		t.Skip("PLUGSOCK_MCP_TS is not 1: the TypeScript SDK's server is not tested")
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "PLUGSOCK_MCP_TS=1 wants node")
	dir, err := filepath.Abs(filepath.Join("testdata", "ts"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json"))
	require.NoError(t, err, "PLUGSOCK_MCP_TS=1 wants `npm ci` run in %s first", dir)
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	return cmd
}

func TestLaunchTypeScriptServer(t *testing.T) {
	cmd := tsServer(t)
	s, logs := newSocket(t)
	gone := disconnects(s)
	name, err := s.Launch(t.Context(), cmd, mcpplugin.Launch(mcpplugin.Config{Name: "tstools"}), fast)
	require.NoError(t, err)
	assert.Equal(t, "tstools", name)
	info := s.PluginInfo(name)
	require.NotNil(t, info)
	assert.Equal(t, "3.2.1", info.Version, "the server's own version")
	assert.Equal(t, []string{"add", "echo", "fail", "grow", "pid", "slow"}, functionNames(info))
	checkTools(t, s, name)
	checkProgressAndCancel(t, s, logs, name)
	pid := pidOf(t, s, name)
	assert.Equal(t, cmd.Process.Pid, pid)
	logs.wait(t, "plugsock: plugin output", "stream=stderr", fmt.Sprintf("tsserver %d: serving on stdio", pid))

	// Its tools change: the plugin's functions follow.
	_, err = s.Call("", name, "grow", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info := s.PluginInfo(name)
		return info != nil && info.Functions["extra"].InputSchema != nil
	}, 20*time.Second, 5*time.Millisecond, "extra is a function now")
	assert.Equal(t, "tstools graceful=true", recv(t, gone, "the reconnect's disconnect"))
	got, err := s.Call("", name, "extra", nil)
	require.NoError(t, err)
	assert.Equal(t, "extra", got)

	// Killed, it is restarted like any plugin.
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Equal(t, "tstools graceful=false", recv(t, gone, "disconnect of the killed server"))
	var newPid int
	require.Eventually(t, func() bool {
		var out struct{ Pid int }
		err := s.CallContext(t.Context(), name, "pid", nil, &out)
		newPid = out.Pid
		return err == nil && newPid != pid
	}, 30*time.Second, 10*time.Millisecond, "restarted, and callable")
	assertReaped(t, pid)
	checkTools(t, s, name)

	// Unplugged, it stops in good order: its stdin closes and it leaves.
	s.Unplug("", name)
	assert.Equal(t, "tstools graceful=true", recv(t, gone, "disconnect"))
	assertReaped(t, newPid)
	logs.wait(t, fmt.Sprintf("tsserver %d: stdin closed; exiting", newPid))
	logs.wait(t, fmt.Sprintf("(pid %d) exited with code 0", newPid), `status="exit status 0"`)
}

func TestLaunchTypeScriptServerShutdown(t *testing.T) {
	cmd := tsServer(t)
	s, _ := newSocket(t)
	name, err := s.Launch(t.Context(), cmd, mcpplugin.Launch(mcpplugin.Config{}), fast, socket.LaunchConfig{StartTimeout: 30 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "tsserver", name, "the server's own name")
	pid := pidOf(t, s, name)
	require.NoError(t, s.Shutdown(""))
	assertReaped(t, pid)
}
