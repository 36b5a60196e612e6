//go:build linux

package socket_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// catPlugin is a Go plugin in front of cat: Echo writes a line to cat's
// standard input and answers the line cat writes back. It stands for any
// program that speaks something other than plugsock over its stdio.
type catPlugin struct {
	mu   sync.Mutex
	in   io.Writer
	out  *bufio.Reader
	pid  int
	quit func()
}

func (c *catPlugin) Echo(_ context.Context, s string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintln(c.in, s); err != nil {
		return "", err
	}
	line, err := c.out.ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

func (c *catPlugin) Pid(context.Context, struct{}) (int, error) { return c.pid, nil }

// Quit makes the bridge give up, as a bridge whose program spoke nonsense
// would.
func (c *catPlugin) Quit(context.Context, struct{}) (string, error) {
	c.quit()
	return "bye", nil
}

// catBridge is a Bridge that serves catPlugin over the socket's pipe, and
// returns an error once Quit was called.
func catBridge(ctx context.Context, p *socket.BridgedProcess) error {
	conn, err := p.Pipe()
	if err != nil {
		return err
	}
	var quit atomic.Bool
	pl := &plugin.Plugin{Logger: quiet, Launch: p.Launch}
	v := &catPlugin{in: p.Stdin, out: bufio.NewReader(p.Stdout), pid: p.Pid,
		quit: func() { quit.Store(true); _ = pl.Close() }}
	done := make(chan error, 1)
	go func() { done <- pl.Start(v, &envelope.PluginInfo{Name: "cat", Version: "1.0.0"}, conn, nil) }()
	select {
	case err := <-done:
		if quit.Load() {
			return errors.New("gave up")
		}
		return err
	case <-ctx.Done():
		_ = conn.Close() // the process is gone: a crash, not a goodbye
		<-done
		return nil
	}
}

// catCmd is cat behind a shell that first tells standard error how many
// PLUGSOCK_ variables it was given.
func catCmd() *exec.Cmd {
	return exec.Command("/bin/sh", "-c", `echo "plugsock vars: $(env | grep -c '^PLUGSOCK_')" >&2; exec cat`)
}

func bridged(extra ...socket.LaunchOption) []socket.LaunchOption {
	return append(append([]socket.LaunchOption{socket.LaunchConfig{Bridge: catBridge}}, fast...), extra...)
}

func TestLaunchBridge(t *testing.T) {
	h, logs := launchHost(t, socket.Config{Token: "secret"})
	gone := h.callbacks()
	name, err := h.s.Launch(t.Context(), catCmd(), bridged()...)
	require.NoError(t, err)
	assert.Equal(t, "cat", name)

	var echoed string
	require.NoError(t, h.s.CallContext(t.Context(), name, "Echo", "hello, cat", &echoed))
	assert.Equal(t, "hello, cat", echoed, "the call went through the bridge to the program and back")
	// Standard error reaches the log as for any launched plugin, and the
	// program learns nothing of the socket, not even its token.
	logs.waitLog(t, "plugsock: plugin output", "stream=stderr", `line="plugsock vars: 0"`)
	pid := callInt(t, h.s, name, "Pid")

	h.s.Unplug("", name)
	assert.Equal(t, "cat graceful=true", recv(t, gone.ch, "disconnect"))
	assertReaped(t, pid)
	// Unplug closed cat's standard input, and cat left of its own accord.
	logs.waitLog(t, fmt.Sprintf("(pid %d) exited with code 0", pid), `status="exit status 0"`)
	assert.False(t, h.s.WaitFor(name, 100*time.Millisecond), "not restarted")
}

func TestLaunchBridgeRestartsAfterSIGKILL(t *testing.T) {
	h, _ := launchHost(t)
	gone := h.callbacks()
	name, err := h.s.Launch(t.Context(), catCmd(), bridged()...)
	require.NoError(t, err)
	pid := callInt(t, h.s, name, "Pid")

	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	assert.Equal(t, "cat graceful=false", recv(t, gone.ch, "disconnect of the killed program"))
	var newPid int
	require.Eventually(t, func() bool {
		return h.s.CallContext(t.Context(), name, "Pid", nil, &newPid) == nil && newPid != pid
	}, 10*time.Second, 5*time.Millisecond, "restarted and bridged again")
	var echoed string
	require.NoError(t, h.s.CallContext(t.Context(), name, "Echo", "again", &echoed))
	assert.Equal(t, "again", echoed)
	assertReaped(t, pid)

	require.NoError(t, h.s.Shutdown(""))
	assertReaped(t, newPid)
}

func TestLaunchBridgeFailure(t *testing.T) {
	t.Run("before the handshake", func(t *testing.T) {
		h, _ := launchHost(t)
		var pid int
		fail := func(_ context.Context, p *socket.BridgedProcess) error {
			pid = p.Pid
			return errors.New("the program speaks nonsense")
		}
		cmd := catCmd()
		_, err := h.s.Launch(t.Context(), cmd, socket.LaunchConfig{Bridge: fail})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "bridge: the program speaks nonsense")
		assert.Equal(t, cmd.Process.Pid, pid)
		assertReaped(t, pid)
		assert.Empty(t, h.s.Connected(false))
	})
	t.Run("after the handshake", func(t *testing.T) {
		h, logs := launchHost(t)
		name, err := h.s.Launch(t.Context(), catCmd(), bridged()...)
		require.NoError(t, err)
		pid := callInt(t, h.s, name, "Pid")
		require.NoError(t, h.s.CallContext(t.Context(), name, "Quit", nil, nil))
		// A failed bridge takes its process down with it, and the exit is
		// a failure: the restart policy brings both back.
		logs.waitLog(t, "plugsock: bridge failed; killing its process", fmt.Sprintf("pid=%d", pid), "err=\"gave up\"")
		var newPid int
		require.Eventually(t, func() bool {
			return h.s.CallContext(t.Context(), name, "Pid", nil, &newPid) == nil && newPid != pid
		}, 10*time.Second, 5*time.Millisecond, "restarted")
		assertReaped(t, pid)
	})
	t.Run("a panic", func(t *testing.T) {
		h, _ := launchHost(t)
		_, err := h.s.Launch(t.Context(), catCmd(), socket.LaunchConfig{Bridge: func(context.Context, *socket.BridgedProcess) error {
			panic("oops")
		}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "bridge: bridge panicked: oops")
	})
	t.Run("stdin taken", func(t *testing.T) {
		h, _ := launchHost(t)
		cmd := catCmd()
		cmd.Stdin = strings.NewReader("")
		_, err := h.s.Launch(t.Context(), cmd, bridged()...)
		require.ErrorContains(t, err, "leave cmd.Stdin and cmd.Stdout nil")
		assert.Nil(t, cmd.Process, "not started")
	})
}

// A bridged program needs no listener: its bridge connects in memory.
func TestLaunchBridgeWithoutListener(t *testing.T) {
	var s socket.Socket
	t.Cleanup(func() { _ = s.Shutdown("") })
	name, err := s.Launch(t.Context(), catCmd(), bridged()...)
	require.NoError(t, err)
	var echoed string
	require.NoError(t, s.CallContext(t.Context(), name, "Echo", "no listener", &echoed))
	assert.Equal(t, "no listener", echoed)
	pid := callInt(t, &s, name, "Pid")
	require.NoError(t, s.Shutdown(""))
	assertReaped(t, pid)

	_, err = s.Pipe()
	assert.ErrorIs(t, err, socket.ErrShutdown)
}
