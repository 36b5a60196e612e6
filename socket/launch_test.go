//go:build linux

package socket_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/socket"
)

// The launchee executable (testdata/launchee, a plugin.Run main) is built
// once per test binary; TestMain removes it.
var launchee struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func init() {
	cleanups = append(cleanups, func() {
		if launchee.dir != "" {
			_ = os.RemoveAll(launchee.dir)
		}
	})
}

// launcheeCmd returns a command for the launchee with env added.
func launcheeCmd(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	launchee.once.Do(func() {
		launchee.dir, launchee.err = os.MkdirTemp("", "plugsock-launchee-")
		if launchee.err != nil {
			return
		}
		launchee.path = filepath.Join(launchee.dir, "launchee")
		out, err := exec.Command("go", "build", "-o", launchee.path, "./testdata/launchee").CombinedOutput()
		if err != nil {
			launchee.err = fmt.Errorf("building the launchee: %v\n%s", err, out)
		}
	})
	require.NoError(t, launchee.err)
	cmd := exec.Command(launchee.path)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// waitLog waits until the log has a line holding every one of parts.
func (l *logBuffer) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	has := func() bool { return len(l.lines(parts...)) > 0 }
	require.Eventually(t, has, 10*time.Second, 5*time.Millisecond, "no log line with %q in:\n%s", parts, l)
}

// launchHost is a TCP host whose log the test can read.
func launchHost(t *testing.T, opts ...socket.Options) (*host, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts = append([]socket.Options{socket.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}}, opts...)
	return newHost(t, "tcp", opts...), logs
}

// fast keeps restarts and stops quick in tests.
var fast = []socket.LaunchOption{
	socket.LaunchConfig{
		RestartBackoff:  5 * time.Millisecond,
		RestartMaxDelay: 50 * time.Millisecond,
		StopGrace:       2 * time.Second,
	},
}

func callInt(t *testing.T, s *socket.Socket, name, method string) int {
	t.Helper()
	var n int
	require.NoError(t, s.CallContext(t.Context(), name, method, nil, &n))
	return n
}

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

// assertDies waits for pid, which is not this process's child, to die.
// Reaping it is its new parent's business (init's, which here may never
// do it), so a zombie counts as dead.
func assertDies(t *testing.T, pid int) {
	t.Helper()
	assert.Eventually(t, func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH || procState(pid) == "Z"
	}, 10*time.Second, 5*time.Millisecond, "process %d is still alive", pid)
}

func TestLaunch(t *testing.T) {
	h, logs := launchHost(t)
	gone := h.callbacks()
	name, err := h.s.Launch(t.Context(), launcheeCmd(t), fast...)
	require.NoError(t, err)
	assert.Equal(t, "launchee", name)

	var sum int
	require.NoError(t, h.s.CallContext(t.Context(), name, "Add", testplugins.Args{A: 20, B: 22}, &sum))
	assert.Equal(t, 42, sum)
	pid := callInt(t, h.s, name, "Pid")

	// Output reaches the host's log, a line at a time, tagged.
	logs.waitLog(t, "plugsock: plugin output", "plugin=launchee", "stream=stdout", fmt.Sprintf(`line="launchee up pid=%d"`, pid))
	require.NoError(t, h.s.CallContext(t.Context(), name, "Say", "to stderr, with = and \"quotes\"", nil))
	logs.waitLog(t, "plugin=launchee", "stream=stderr", `line="to stderr, with = and \"quotes\""`)

	var launch string
	require.NoError(t, h.s.CallContext(t.Context(), name, "Launch", nil, &launch))
	assert.NotEmpty(t, launch, "the process was given a launch id")

	require.NoError(t, h.s.Shutdown(""))
	assert.Equal(t, "launchee graceful=true", recv(t, gone.ch, "disconnect"))
	assertReaped(t, pid)
	logs.waitLog(t, "stream=stdout", `line="launchee done"`) // the last line had no newline
	logs.waitLog(t, "(pid ", ") exited with code 0", "status=\"exit status 0\"")
}

func TestLaunchRestartsAfterSIGKILL(t *testing.T) {
	h, _ := launchHost(t)
	gone := h.callbacks()
	name, err := h.s.Launch(t.Context(), launcheeCmd(t), fast...)
	require.NoError(t, err)
	pid := callInt(t, h.s, name, "Pid")
	var firstLaunch string
	require.NoError(t, h.s.CallContext(t.Context(), name, "Launch", nil, &firstLaunch))

	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Equal(t, "launchee graceful=false", recv(t, gone.ch, "disconnect of the killed plugin"))
	require.True(t, h.s.WaitFor(name, 10*time.Second), "restarted under the same name")

	var sum int
	require.NoError(t, h.s.CallContext(t.Context(), name, "Add", testplugins.Args{A: 1, B: 2}, &sum), "callable again")
	assert.Equal(t, 3, sum)
	newPid := callInt(t, h.s, name, "Pid")
	assert.NotEqual(t, pid, newPid, "a new process")
	var launch string
	require.NoError(t, h.s.CallContext(t.Context(), name, "Launch", nil, &launch))
	assert.NotEqual(t, firstLaunch, launch, "a new launch id")
	assertReaped(t, pid)

	require.NoError(t, h.s.Shutdown(""))
	assert.Equal(t, "launchee graceful=true", recv(t, gone.ch, "disconnect at shutdown"))
	assertReaped(t, newPid)
}

func TestLaunchUnplugStopsForGood(t *testing.T) {
	h, _ := launchHost(t)
	gone := h.callbacks()
	opts := append([]socket.LaunchOption{socket.LaunchConfig{Restart: socket.RestartAlways}}, fast...)
	name, err := h.s.Launch(t.Context(), launcheeCmd(t), opts...)
	require.NoError(t, err)
	pid := callInt(t, h.s, name, "Pid")

	h.s.Unplug("", name)
	assert.Equal(t, "launchee graceful=true", recv(t, gone.ch, "disconnect"))
	assertReaped(t, pid)
	assert.Empty(t, h.s.Connected(false))
	assert.False(t, h.s.WaitFor(name, 200*time.Millisecond), "an unplugged plugin is not restarted, even with RestartAlways")
}

func TestLaunchRestartPolicies(t *testing.T) {
	t.Run("never", func(t *testing.T) {
		h, logs := launchHost(t)
		gone := h.callbacks()
		opts := append([]socket.LaunchOption{socket.LaunchConfig{Restart: socket.RestartNever}}, fast...)
		name, err := h.s.Launch(t.Context(), launcheeCmd(t), opts...)
		require.NoError(t, err)
		pid := callInt(t, h.s, name, "Pid")
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		assert.Equal(t, "launchee graceful=false", recv(t, gone.ch, "disconnect"))
		logs.waitLog(t, "not restarting plugin", "restart policy is never")
		assertReaped(t, pid)
	})
	t.Run("limit", func(t *testing.T) {
		h, logs := launchHost(t)
		gone := h.callbacks()
		opts := append([]socket.LaunchOption{socket.LaunchConfig{RestartLimit: 1, RestartWindow: time.Hour}}, fast...)
		name, err := h.s.Launch(t.Context(), launcheeCmd(t), opts...)
		require.NoError(t, err)
		for i := range 2 {
			require.True(t, h.s.WaitFor(name, 10*time.Second))
			pid := callInt(t, h.s, name, "Pid")
			require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
			assert.Equal(t, "launchee graceful=false", recv(t, gone.ch, fmt.Sprintf("disconnect %d", i)))
		}
		logs.waitLog(t, "not restarting plugin", "restarted 1 times within 1h0m0s")
	})
	t.Run("on failure, not after exit 0", func(t *testing.T) {
		h, logs := launchHost(t)
		gone := h.callbacks()
		name, err := h.s.Launch(t.Context(), launcheeCmd(t), fast...)
		require.NoError(t, err)
		pid := callInt(t, h.s, name, "Pid")
		// SIGTERM makes the launchee leave in good order and exit 0.
		require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
		assert.Equal(t, "launchee graceful=true", recv(t, gone.ch, "disconnect"))
		logs.waitLog(t, "not restarting plugin", "exited with status 0")
		assertReaped(t, pid)
	})
}

func TestLaunchEscalatesToSIGKILL(t *testing.T) {
	h, logs := launchHost(t)
	gone := h.callbacks()
	name, err := h.s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_MODE=linger"), socket.LaunchConfig{StopGrace: 50 * time.Millisecond})
	require.NoError(t, err)
	pid := callInt(t, h.s, name, "Pid")

	h.s.Unplug("", name) // answers $/shutdown, then ignores SIGTERM and stays
	assert.Equal(t, "launchee graceful=true", recv(t, gone.ch, "disconnect"))
	assertReaped(t, pid)
	logs.waitLog(t, "killed by signal 9 (SIGKILL)", "status=\"signal: killed\"")
}

func TestLaunchKillsTheProcessGroup(t *testing.T) {
	h, _ := launchHost(t)
	gone := h.callbacks()
	name, err := h.s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_MODE=child"), fast...)
	require.NoError(t, err)
	pid := callInt(t, h.s, name, "Pid")
	child := callInt(t, h.s, name, "ChildPid")
	require.NotZero(t, child)

	// The plugin crashes; its child must not outlive it.
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Equal(t, "launchee graceful=false", recv(t, gone.ch, "disconnect"))
	assertDies(t, child)
	assertReaped(t, pid)

	// The restarted one, and its child, go at Shutdown.
	require.True(t, h.s.WaitFor(name, 10*time.Second))
	pid = callInt(t, h.s, name, "Pid")
	child = callInt(t, h.s, name, "ChildPid")
	require.NoError(t, h.s.Shutdown(""))
	assertReaped(t, pid)
	assertDies(t, child)
}

func TestLaunchFailures(t *testing.T) {
	t.Run("exits before the handshake", func(t *testing.T) {
		h, logs := launchHost(t)
		_, err := h.s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_MODE=exit"), fast...)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "exited before its handshake: exit status 3")
		logs.waitLog(t, "stream=stderr", "exiting at once as told")
	})
	t.Run("no handshake in time", func(t *testing.T) {
		h, logs := launchHost(t)
		_, err := h.s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_MODE=silent"), socket.LaunchConfig{StartTimeout: 100 * time.Millisecond})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no handshake within 100ms")
		logs.waitLog(t, "killed by signal 9 (SIGKILL)", "signal: killed")
	})
	t.Run("context ends", func(t *testing.T) {
		h, _ := launchHost(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := h.s.Launch(ctx, launcheeCmd(t, "LAUNCHEE_MODE=silent"))
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("name taken", func(t *testing.T) {
		h, _ := launchHost(t)
		h.plug(newCalc(), "launchee")
		_, err := h.s.Launch(t.Context(), launcheeCmd(t), fast...)
		assert.ErrorIs(t, err, envelope.ErrNameTaken)
		assert.Contains(t, err.Error(), "handshake refused")
	})
	t.Run("no listener", func(t *testing.T) {
		var s socket.Socket
		_, err := s.Launch(t.Context(), launcheeCmd(t))
		assert.ErrorIs(t, err, socket.ErrNoListener)
	})
	t.Run("not found", func(t *testing.T) {
		h, _ := launchHost(t)
		_, err := h.s.Launch(t.Context(), exec.Command("plugsock-no-such-program"))
		assert.ErrorIs(t, err, exec.ErrNotFound)
	})
	t.Run("after shutdown", func(t *testing.T) {
		h, _ := launchHost(t)
		require.NoError(t, h.s.Shutdown(""))
		_, err := h.s.Launch(t.Context(), launcheeCmd(t))
		assert.ErrorIs(t, err, socket.ErrShutdown)
	})
}

// cutListener lets a test cut the connections the socket accepts.
type cutListener struct {
	net.Listener
	accepted chan net.Conn
}

func (l *cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- c
	}
	return c, err
}

func TestLaunchedPluginReconnectsWhenCut(t *testing.T) {
	s := new(socket.Socket)
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	require.NoError(t, err)
	cl := &cutListener{Listener: l, accepted: make(chan net.Conn, 16)}
	s.Serve(cl, socket.Config{Logger: quiet})
	defer s.Shutdown("")
	gone := make(chan string, 16)
	s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		gone <- fmt.Sprintf("%s graceful=%v", info.Name, graceful)
	})

	name, err := s.Launch(t.Context(), launcheeCmd(t), fast...)
	require.NoError(t, err)
	pid := callInt(t, s, name, "Pid")
	require.NoError(t, recv(t, cl.accepted, "connection").Close())
	assert.Equal(t, "launchee graceful=false", recv(t, gone, "disconnect"))

	// The process, not the socket, connects again: the same pid.
	recv(t, cl.accepted, "the plugin to dial again")
	require.True(t, s.WaitFor(name, 10*time.Second))
	assert.Equal(t, pid, callInt(t, s, name, "Pid"))

	// It is still the launched plugin: Unplug stops the process.
	s.Unplug("", name)
	assert.Equal(t, "launchee graceful=true", recv(t, gone, "unplug"))
	assertReaped(t, pid)
}

func TestLaunchedVersionsSideBySide(t *testing.T) {
	h, _ := launchHost(t)
	v1, err := h.s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_VERSION=1.0.0"), fast...)
	require.NoError(t, err)
	v2, err := h.s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_VERSION=2.0.0"), fast...)
	require.NoError(t, err)
	assert.Equal(t, "launchee", v1)
	assert.Equal(t, "launchee@2.0.0", v2)
	p1, p2 := callInt(t, h.s, "launchee@1.0.0", "Pid"), callInt(t, h.s, "launchee@2.0.0", "Pid")
	assert.NotEqual(t, p1, p2)
	assert.Equal(t, p1, callInt(t, h.s, "launchee", "Pid"), "the plain name reaches the plugin holding it")

	h.s.Unplug("", "launchee@2.0.0")
	assertReaped(t, p2)
	assert.Equal(t, p1, callInt(t, h.s, "launchee", "Pid"))
	require.NoError(t, h.s.Shutdown(""))
	assertReaped(t, p1)
}

func TestShutdownLeavesNoProcessAndNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := new(socket.Socket)
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet})
	gone := make(chan string, 16)
	s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		gone <- fmt.Sprintf("%s graceful=%v", info.Name, graceful)
	})
	grace := socket.LaunchConfig{StopGrace: 50 * time.Millisecond}

	var pids []int
	for _, env := range [][]string{
		{"LAUNCHEE_NAME=plain"},
		{"LAUNCHEE_NAME=linger", "LAUNCHEE_MODE=linger"}, // needs SIGKILL
		{"LAUNCHEE_NAME=parent", "LAUNCHEE_MODE=child"},  // has a child
	} {
		name, err := s.Launch(t.Context(), launcheeCmd(t, env...), grace)
		require.NoError(t, err)
		pids = append(pids, callInt(t, s, name, "Pid"))
	}
	child := callInt(t, s, "parent", "ChildPid")

	// One more, killed and waiting an hour to be restarted.
	name, err := s.Launch(t.Context(), launcheeCmd(t, "LAUNCHEE_NAME=waiting"), grace,
		socket.LaunchConfig{RestartBackoff: time.Hour, RestartMaxDelay: time.Hour})
	require.NoError(t, err)
	pid := callInt(t, s, name, "Pid")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Equal(t, "waiting graceful=false", recv(t, gone, "the killed plugin's disconnect"))
	pids = append(pids, pid)

	require.NoError(t, s.Shutdown(""))
	for _, pid := range pids {
		assertReaped(t, pid) // at once: Shutdown has waited for them
	}
	assertDies(t, child)
	close(gone)
	var left []string
	for g := range gone {
		left = append(left, g)
	}
	assert.ElementsMatch(t, []string{"plain graceful=true", "linger graceful=true", "parent graceful=true"}, left)
}

// TestLaunchPassesTheToken shows that a socket requiring a token hands it
// to the processes it launches, and to nobody else.
func TestLaunchPassesTheToken(t *testing.T) {
	h, logs := launchHost(t, socket.Config{Token: "launch-secret"})
	name, err := h.s.Launch(t.Context(), launcheeCmd(t), fast...)
	require.NoError(t, err, "the launched plugin presented the socket's token")
	var sum int
	require.NoError(t, h.s.CallContext(t.Context(), name, "Add", testplugins.Args{A: 1, B: 2}, &sum))
	assert.Equal(t, 3, sum)

	conn, err := net.Dial("tcp", h.addr.String())
	require.NoError(t, err)
	assert.ErrorIs(t, h.pluginOn(conn, "stranger"), envelope.ErrUnauthorized, "a plugin without the token is refused")
	assert.NotContains(t, logs.String(), "launch-secret")
}
