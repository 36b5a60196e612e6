//go:build linux

package mcpplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/mcpplugin"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

// assertReaped checks that pid, a child of this process, is gone: no
// process, and no zombie either.
func assertReaped(t *testing.T, pid int) {
	t.Helper()
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "process %d still exists", pid)
	assert.NotEqual(t, "Z", procState(pid), "process %d is a zombie", pid)
}

// procState is the state letter in /proc/<pid>/stat, "" when absent.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	_, rest, _ := bytes.Cut(b, []byte(") "))
	state, _, _ := bytes.Cut(rest, []byte(" "))
	return string(state)
}

func functionNames(info *envelope.PluginInfo) []string {
	var names []string
	for n := range info.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// launchGo launches testdata/goserver as the plugin gotools.
func launchGo(t *testing.T, s *socket.Socket, opts ...socket.LaunchOption) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(binary(t, "goserver"))
	opts = append([]socket.LaunchOption{mcpplugin.Launch(mcpplugin.Config{Name: "gotools"}), fast}, opts...)
	name, err := s.Launch(t.Context(), cmd, opts...)
	require.NoError(t, err)
	return name, cmd
}

// checkTools checks a server with the tools of the test servers (add,
// echo, fail, pid), launched or remote, as a plugin: described, called
// through Call and Broadcast, its errors and the socket's validation.
func checkTools(t *testing.T, s *socket.Socket, name string) {
	t.Helper()
	info := s.PluginInfo(name)
	require.NotNil(t, info)
	add := info.Functions["add"]
	var in, out map[string]any
	require.NoError(t, json.Unmarshal(add.InputSchema, &in), "add has an inputSchema")
	require.NoError(t, json.Unmarshal(add.OutputSchema, &out), "add has an outputSchema")
	assert.Equal(t, []any{"object", "null"}, in["type"], "no payload is no arguments")
	assert.Equal(t, "Adds two integers.", in["description"], "the tool's description is the input's")
	assert.Contains(t, in["properties"], "a")
	assert.Contains(t, in["properties"], "b")
	assert.Contains(t, out["properties"], "sum")
	assert.True(t, add.ObjectInput())

	got, err := s.Call("", name, "add", map[string]int{"a": 2, "b": 3})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"sum": float64(5)}, got, "structuredContent")

	got, err = s.Call("", name, "echo", map[string]string{"text": "hello, MCP"})
	require.NoError(t, err)
	assert.Equal(t, "hello, MCP", got, "the text content")

	_, err = s.Call("", name, "fail", nil)
	var e *envelope.Error
	require.ErrorAs(t, err, &e, "isError is the method's error")
	assert.Equal(t, int64(envelope.CodeMethodError), e.Code)
	assert.Contains(t, e.Message, "it failed, as asked")

	// The socket checks arguments against the tool's inputSchema.
	_, err = s.Call("", name, "add", map[string]any{"a": "two", "b": 3})
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.ErrorContains(t, err, "/a")

	_, err = s.Call("", name, "nope", nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound)

	results, errs := s.Broadcast("", "pid", nil)
	assert.Empty(t, errs)
	require.Contains(t, results, name)
	assert.Contains(t, results[name], "pid")
}

func TestLaunchGoServer(t *testing.T) {
	s, logs := newSocket(t)
	gone := disconnects(s)
	name, cmd := launchGo(t, s)
	assert.Equal(t, "gotools", name)
	info := s.PluginInfo(name)
	require.NotNil(t, info)
	assert.Equal(t, "1.2.3", info.Version, "the server's own version")
	assert.Equal(t, []string{"add", "echo", "fail", "grow", "pid", "slow"}, functionNames(info))
	checkTools(t, s, name)

	pid := pidOf(t, s, name)
	assert.Equal(t, cmd.Process.Pid, pid)
	// Its standard error is in the socket's log, as any launched plugin's.
	logs.wait(t, "plugsock: plugin output", "stream=stderr", fmt.Sprintf("goserver %d: serving on stdio", pid))

	s.Unplug("", name)
	assert.Equal(t, "gotools graceful=true", recv(t, gone, "disconnect"))
	assertReaped(t, pid)
	// Unplug closed its standard input, and the server left on its own.
	logs.wait(t, fmt.Sprintf("goserver %d: stdin closed; exiting", pid))
	logs.wait(t, fmt.Sprintf("(pid %d) exited with code 0", pid), `status="exit status 0"`)
	assert.False(t, s.WaitFor(name, 100*time.Millisecond), "not restarted")
}

func TestLaunchGoServerRestartsAfterSIGKILL(t *testing.T) {
	s, _ := newSocket(t)
	gone := disconnects(s)
	name, _ := launchGo(t, s)
	pid := pidOf(t, s, name)

	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Equal(t, "gotools graceful=false", recv(t, gone, "disconnect of the killed server"))
	var newPid int
	require.Eventually(t, func() bool {
		var out struct{ Pid int }
		err := s.CallContext(t.Context(), name, "pid", nil, &out)
		newPid = out.Pid
		return err == nil && newPid != pid
	}, 20*time.Second, 5*time.Millisecond, "restarted, and callable")
	assertReaped(t, pid)
	checkTools(t, s, name)

	require.NoError(t, s.Shutdown(""))
	assert.Equal(t, "gotools graceful=true", recv(t, gone, "disconnect at shutdown"))
	assertReaped(t, newPid)
}

func TestLaunchGoServerShutdown(t *testing.T) {
	s, logs := newSocket(t)
	name, _ := launchGo(t, s)
	pid := pidOf(t, s, name)
	require.NoError(t, s.Shutdown(""))
	assertReaped(t, pid)
	logs.wait(t, fmt.Sprintf("(pid %d) exited with code 0", pid), `status="exit status 0"`)
	assert.Empty(t, s.Connected(false))
}

// progress collects the progress reports a call receives.
type progress struct {
	mu      sync.Mutex
	reports []float64
	msgs    []string
}

func (p *progress) ctx(ctx context.Context) context.Context {
	return socket.WithProgress(ctx, func(progress, _ float64, message string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.reports = append(p.reports, progress)
		p.msgs = append(p.msgs, message)
	})
}

func (p *progress) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reports)
}

// checkProgressAndCancel calls slow: a short call reports its progress
// and answers; a long one, cancelled by its caller, is cancelled on the
// server too, which says so on its standard error.
func checkProgressAndCancel(t *testing.T, s *socket.Socket, logs *logBuffer, name string) {
	t.Helper()
	var p progress
	var out string
	require.NoError(t, s.CallContext(p.ctx(t.Context()), name, "slow", map[string]int{"ms": 50}, &out))
	assert.Equal(t, "waited 50 ms", out)
	require.NotZero(t, p.count(), "notifications/progress became $/progress")
	p.mu.Lock()
	assert.True(t, slices.IsSorted(p.reports), "in order: %v", p.reports)
	assert.Equal(t, "waiting", p.msgs[0])
	p.mu.Unlock()

	var long progress
	ctx, cancel := context.WithCancel(long.ctx(t.Context()))
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.CallContext(ctx, name, "slow", map[string]int{"ms": 600000}, nil) }()
	require.Eventually(t, func() bool { return long.count() >= 2 }, 20*time.Second, 5*time.Millisecond, "the long call runs")
	cancel()
	assert.ErrorIs(t, recv(t, errc, "the cancelled call"), context.Canceled)
	logs.wait(t, "plugin="+name, "stream=stderr", "slow: cancelled")
}

func TestLaunchGoServerProgressAndCancel(t *testing.T) {
	s, logs := newSocket(t)
	name, _ := launchGo(t, s)
	checkProgressAndCancel(t, s, logs, name)
}

func TestLaunchGoServerToolsChanged(t *testing.T) {
	s, logs := newSocket(t)
	gone := disconnects(s)
	name, _ := launchGo(t, s)
	pid := pidOf(t, s, name)
	assert.NotContains(t, s.PluginInfo(name).Functions, "extra")

	got, err := s.Call("", name, "grow", nil)
	require.NoError(t, err)
	assert.Equal(t, "grown", got)
	// notifications/tools/list_changed: the bridge lists the tools again and
	// handshakes anew with them, leaving in good order first.
	require.Eventually(t, func() bool {
		info := s.PluginInfo(name)
		return info != nil && info.Functions["extra"].InputSchema != nil
	}, 20*time.Second, 5*time.Millisecond, "extra is a function now")
	assert.Equal(t, "gotools graceful=true", recv(t, gone, "the reconnect's disconnect"))
	logs.wait(t, "plugsock: MCP server's tools changed; reconnecting to describe them", "tools=7")
	got, err = s.Call("", name, "extra", nil)
	require.NoError(t, err)
	assert.Equal(t, "extra", got)
	assert.Equal(t, pid, pidOf(t, s, name), "the same process")
}

// Hostile servers: the host stays up, what it holds stays bounded, and the
// error says what was wrong.
func TestLaunchHostileServers(t *testing.T) {
	for _, tc := range []struct {
		mode string
		cfg  mcpplugin.Config
		want string
	}{
		{"mute", mcpplugin.Config{Timeout: 300 * time.Millisecond}, "bridge: initialize: the MCP server did not answer within 300ms (Config.Timeout)"},
		{"garbage", mcpplugin.Config{}, "bridge: initialize: "},
		{"many", mcpplugin.Config{}, "bridge: tools/list: the MCP server lists more than 1024 tools, the limit (Config.MaxTools)"},
		{"hugeline", mcpplugin.Config{}, "bridge: tools/list: "},
		{"endless", mcpplugin.Config{}, "bridge: tools/list: still more after 1000 pages"},
		{"deep", mcpplugin.Config{}, "bridge: tools/list: "},
		{"costly", mcpplugin.Config{}, `function "costly" inputSchema`},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			s, logs := newSocket(t)
			cmd := exec.Command(binary(t, "hostile"), tc.mode)
			start := time.Now()
			_, err := s.Launch(t.Context(), cmd, mcpplugin.Launch(tc.cfg), fast)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			t.Logf("%s: %v after %v", tc.mode, err, time.Since(start).Round(time.Millisecond))
			assertReaped(t, cmd.Process.Pid)
			assert.Empty(t, s.Connected(false))
			assert.Empty(t, logs.lines("level=ERROR"), "nothing worse than the error returned")
		})
	}

	t.Run("absurd", func(t *testing.T) {
		s, logs := newSocket(t)
		cmd := exec.Command(binary(t, "hostile"), "absurd")
		name, err := s.Launch(t.Context(), cmd, mcpplugin.Launch(mcpplugin.Config{}), fast)
		require.NoError(t, err)
		assert.Equal(t, "hostile-absurd", name, "the server's name, made a plugin name")
		assert.Equal(t, []string{"ok"}, functionNames(s.PluginInfo(name)), "only the tool that can be a function")
		for _, tool := range []string{"tool=deep ", "tool=elsewhere ", "tool=text ", "tool=number ", "tool=$/shutdown ", `tool="white space" `} {
			assert.Len(t, logs.lines("plugsock: MCP tool left out", tool), 1, "%s in:\n%s", tool, logs)
		}
		logs.wait(t, "plugsock: MCP tool left out", "tool=ok", `reason="a second tool of that name"`)
		got, err := s.Call("", name, "ok", nil)
		require.NoError(t, err)
		assert.Equal(t, "ok", got)
		_, err = s.Call("", name, "$/shutdown", nil)
		assert.ErrorIs(t, err, socket.ErrReservedMethod)
	})
}

func TestLaunchOptionsCombine(t *testing.T) {
	s, _ := newSocket(t)
	gone := disconnects(s)
	name, _ := launchGo(t, s, socket.LaunchConfig{Restart: socket.RestartNever})
	pid := pidOf(t, s, name)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Equal(t, "gotools graceful=false", recv(t, gone, "disconnect"))
	assert.False(t, s.WaitFor(name, 300*time.Millisecond), "RestartNever beside Launch holds")
	assertReaped(t, pid)
}
