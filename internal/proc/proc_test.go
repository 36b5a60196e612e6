//go:build linux

package proc_test

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/internal/proc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs a shell script and returns the process and the first line
// it prints.
func start(t *testing.T, script string) (*proc.Process, string) {
	t.Helper()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdout = pw
	p, err := proc.Start(cmd)
	pw.Close()
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Kill()
		<-p.Exited()
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	return p, strings.TrimSpace(line)
}

func gone(pid int) bool {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z") // dead; its new parent reaps it
}

func TestStopClosesTheLifelineFirst(t *testing.T) {
	p, line := start(t, `echo "$PLUGSOCK_LIFELINE"; cat >/dev/null; exit 0`)
	assert.Equal(t, "stdin", line, "the process is told its stdin is a lifeline")
	p.Stop(10 * time.Second) // cat sees end of file at once
	assert.NoError(t, p.Err(), "left on its own, without a signal")
	assert.ErrorIs(t, syscall.Kill(p.Pid(), 0), syscall.ESRCH, "reaped")
}

func TestStopTerminatesThenKills(t *testing.T) {
	p, _ := start(t, `trap "" TERM; echo ready; while :; do sleep 1; done`)
	p.Stop(20 * time.Millisecond)
	require.Error(t, p.Err())
	assert.Contains(t, p.Err().Error(), "signal: killed")
	assert.ErrorIs(t, syscall.Kill(p.Pid(), 0), syscall.ESRCH, "reaped")

	p, _ = start(t, `echo ready; while :; do sleep 1; done`)
	p.Stop(20 * time.Millisecond)
	assert.Contains(t, p.Err().Error(), "signal: terminated")
}

func TestWhatIsLeftOfTheGroupDiesWithTheProcess(t *testing.T) {
	p, line := start(t, `sleep 600 & echo $!; exit 0`)
	child, err := strconv.Atoi(line)
	require.NoError(t, err)
	<-p.Exited()
	assert.NoError(t, p.Err())
	assert.Eventually(t, func() bool { return gone(child) }, 10*time.Second, 5*time.Millisecond,
		"the child the process left behind is killed")
}

func TestKillReachesTheGroup(t *testing.T) {
	p, line := start(t, `sleep 600 & echo $!; wait`)
	child, err := strconv.Atoi(line)
	require.NoError(t, err)
	p.Kill()
	<-p.Exited()
	assert.Eventually(t, func() bool { return gone(child) }, 10*time.Second, 5*time.Millisecond)
}

func TestCallerSettingsAreKept(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 0")
	cmd.Stdin = strings.NewReader("")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	p, err := proc.Start(cmd)
	require.NoError(t, err)
	<-p.Exited()
	assert.NotContains(t, cmd.Env, "PLUGSOCK_LIFELINE=stdin", "no lifeline when the caller set stdin")
	assert.False(t, cmd.SysProcAttr.Setpgid)
}
