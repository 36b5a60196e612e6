//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package plugin_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/plugin"
)

// nonblocking reports whether fd's open file description has O_NONBLOCK.
func nonblocking(t testing.TB, fd int) bool {
	t.Helper()
	flags, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	require.Zero(t, e, "fcntl(%d, F_GETFL)", fd)
	return flags&syscall.O_NONBLOCK != 0
}

// The lifeline used to set O_NONBLOCK on a duplicate of fd 0, which
// shares fd 0's open file description: the whole process, and every
// child it started, got a non-blocking standard input.
func TestWatchFDLeavesTheDescriptorBlocking(t *testing.T) {
	var p [2]int
	require.NoError(t, syscall.Pipe(p[:]))
	defer syscall.Close(p[0])
	require.False(t, nonblocking(t, p[0]), "a new pipe is blocking")
	gone := make(chan struct{})
	stop := plugin.WatchFD(p[0], func() { close(gone) })
	assert.False(t, nonblocking(t, p[0]), "watching left the descriptor blocking")
	_, err := syscall.Write(p[1], []byte("data is not the end"))
	require.NoError(t, err)
	require.NoError(t, syscall.Close(p[1]))
	recv(t, gone, "end of file to be noticed")
	stop()
	stop() // again is fine
	assert.False(t, nonblocking(t, p[0]))
}

// lifelineChild is the environment variable that makes
// TestLifelineChildProcess play a part: "plugin", a plugin process
// watching its standard input; "grandchild", a process that plugin
// started.
const lifelineChild = "PLUGSOCK_TEST_LIFELINE_CHILD"

// End to end, with the real fd 0: a process whose standard input is the
// lifeline pipe watches it, its standard input stays blocking, a child it
// starts sees a blocking standard input too, and the watch still notices
// the host going away.
func TestTheLifelineLeavesStdinBlocking(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pw.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLifelineChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), lifelineChild+"=plugin")
	cmd.Stdin = pr // os/exec hands it over in blocking mode, as proc.Start does
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	require.NoError(t, pr.Close())
	// Wait closes the pipe once the process has exited, perhaps before its
	// last line is read: it waits for the reading to end.
	exited := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "lifeline: "); ok {
				lines <- line
			}
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	assert.Equal(t, "watching; stdin O_NONBLOCK=false", recv(t, lines, "the plugin to watch"))
	assert.Equal(t, "child's stdin O_NONBLOCK=false", recv(t, lines, "the plugin's child to report"))
	require.NoError(t, pw.Close()) // the host dies
	select {
	case line, ok := <-lines:
		if !ok {
			// Its output ended without the line: say how the process ended.
			t.Fatalf("the plugin process's output ended before it noticed the host was gone (exit: %v)", <-exited)
		}
		assert.Equal(t, "the host is gone", line)
	case <-time.After(patience):
		_ = cmd.Process.Kill()
		t.Fatal("timed out waiting for the plugin to notice")
	}
	select {
	case err := <-exited:
		require.NoError(t, err)
	case <-time.After(patience):
		_ = cmd.Process.Kill()
		t.Fatal("the plugin process did not exit")
	}
}

// TestLifelineChildProcess is not a test on its own: it is the processes
// TestTheLifelineLeavesStdinBlocking starts.
func TestLifelineChildProcess(t *testing.T) {
	switch os.Getenv(lifelineChild) {
	case "plugin":
		gone := make(chan struct{})
		stop := plugin.WatchStdin(func() { close(gone) })
		defer stop()
		fmt.Printf("lifeline: watching; stdin O_NONBLOCK=%v\n", nonblocking(t, 0))
		cmd := exec.Command(os.Args[0], "-test.run=^TestLifelineChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), lifelineChild+"=grandchild")
		cmd.Stdin = os.Stdin
		cmd.Stderr = os.Stderr
		b, err := cmd.Output()
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "lifeline: ") {
				fmt.Println(line)
			}
		}
		select {
		case <-gone:
			fmt.Println("lifeline: the host is gone")
		case <-time.After(patience):
			t.Fatal("the lifeline's end went unnoticed")
		}
	case "grandchild":
		fmt.Printf("lifeline: child's stdin O_NONBLOCK=%v\n", nonblocking(t, 0))
	default:
		t.Skip("a child process of TestTheLifelineLeavesStdinBlocking")
	}
}
