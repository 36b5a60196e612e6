//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	pidRE   = regexp.MustCompile(`(?m)^  (\w+)\s+pid (\d+)`)
	clockRE = regexp.MustCompile(`(?m)^  kv  Clock\.Now  → "([^"]+)"$`)
	getRE   = regexp.MustCompile(`(?m)^  kv\.Get     \{"key": "color"\}\s+→ \{"key": "color", "value": "blue", "at": "([^"]+)"\}$`)
)

// pluginPIDs returns the plugin processes the demo reported starting.
func pluginPIDs(t *testing.T, out string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, m := range pidRE.FindAllStringSubmatch(out, -1) {
		pid, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		pids[m[1]] = pid
	}
	require.Len(t, pids, 2, "the demo starts calc and kv:\n%s", out)
	return pids
}

// assertReaped checks that no process with the given ids exists any more,
// not even as a zombie: the demo has waited for each of its children.
func assertReaped(t *testing.T, pids map[string]int) {
	t.Helper()
	for name, pid := range pids {
		err := syscall.Kill(pid, 0)
		assert.True(t, errors.Is(err, syscall.ESRCH), "plugin %s (pid %d) is still there: kill(0) = %v", name, pid, err)
	}
}

func TestDemo(t *testing.T) {
	bin := buildPlugsock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo")
	cmd.Env = withoutDemoHold()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	require.NoError(t, cmd.Run(), "stderr:\n%s\nstdout:\n%s", &stderr, &stdout)
	ended := time.Now()
	out := stdout.String()
	assert.Empty(t, stderr.String())

	for _, want := range []string{
		"▸ Launching plugins: each process starts, dials in and handshakes\n",
		"  plugsock plugin calc  connected, version 1.0.0\n",
		"  plugsock plugin kv    connected, version 1.0.0\n",
		"  PLUGIN  FUNCTION  INPUT                    OUTPUT\n",
		"  calc    Add       {a float64, b float64}   float64\n",
		"          Get       {key string}             {key string, value any, at string}\n",
		"          Set       {key string, value any}  bool\n",
		"  calc.Add   {\"a\": 2, \"b\": 3}                   → 5\n",
		"→ error: division by zero (code -32000, method error)\n",
		"  kv.Keys                                       → [\"color\"]\n",
		"▸ Host service: kv asked the host's Clock for the time, on each Set\n",
		"▸ Broadcast: Stats, to every plugin at once\n  calc  → {\"calls\": 2}\n  kv    → {\"changes\": 3, \"keys\": 1}\n",
		"  kv    {\"key\": \"color\", \"op\": \"set\", \"value\": \"blue\"}\n" +
			"  kv    {\"key\": \"size\", \"op\": \"set\", \"value\": 42}\n" +
			"  kv    {\"key\": \"size\", \"op\": \"delete\"}\n",
		"  callback: calc disconnected, graceful\n",
		"  callback: kv disconnected, graceful\n",
		"every plugin process has exited",
	} {
		assert.Contains(t, out, want)
	}
	pids := pluginPIDs(t, out)
	for name, pid := range pids {
		assert.Contains(t, out, "  process: "+name+" (pid "+strconv.Itoa(pid)+") exited with status 0\n")
	}
	assertReaped(t, pids)

	// kv asked the host's Clock once for each of its two Sets, and Get
	// reports color stamped with the first answer, to the nanosecond.
	told := clockRE.FindAllStringSubmatch(out, -1)
	require.Len(t, told, 2, "one Clock.Now per Set:\n%s", out)
	var times []time.Time
	for _, m := range told {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		require.NoError(t, err)
		assert.WithinRange(t, at, started, ended, "the host's time")
		times = append(times, at)
	}
	assert.False(t, times[1].Before(times[0]), "asked in order: %v", times)
	get := getRE.FindStringSubmatch(out)
	require.NotNil(t, get, "kv.Get's row:\n%s", out)
	assert.Equal(t, told[0][1], get[1])
}

// heldDemo is a demo run that stopped once both plugins were connected.
type heldDemo struct {
	cmd    *exec.Cmd
	held   string        // stdout up to "Holding until interrupted."
	rest   bytes.Buffer  // stdout after it; read it after wait
	copied chan struct{} // closed when rest is complete
	stderr bytes.Buffer
}

// startHeldDemo starts the demo so that it stops once both plugins are
// connected, and returns once it says so.
func startHeldDemo(t *testing.T, args ...string) *heldDemo {
	t.Helper()
	d := &heldDemo{copied: make(chan struct{})}
	d.cmd = exec.Command(buildPlugsock(t), append([]string{"demo"}, args...)...)
	d.cmd.Env = append(withoutDemoHold(), "PLUGSOCK_DEMO_HOLD=1")
	pipe, err := d.cmd.StdoutPipe()
	require.NoError(t, err)
	d.cmd.Stderr = &d.stderr
	require.NoError(t, d.cmd.Start())
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			_ = d.wait()
		}
	})
	var held strings.Builder
	r := bufio.NewReader(pipe)
	for {
		line, err := r.ReadString('\n')
		held.WriteString(line)
		if err != nil {
			close(d.copied)
			t.Fatalf("the demo ended before holding: %v\n%s", err, &held)
		}
		if strings.Contains(line, "Holding until interrupted.") {
			break
		}
	}
	d.held = held.String()
	go func() {
		defer close(d.copied)
		_, _ = io.Copy(&d.rest, r)
	}()
	return d
}

// wait reads the rest of the output and waits for the demo to exit.
func (d *heldDemo) wait() error {
	<-d.copied
	return d.cmd.Wait()
}

func TestDemoInterrupted(t *testing.T) {
	d := startHeldDemo(t, "-v") // -v: the socket's log shows how the plugins left
	pids := pluginPIDs(t, d.held)
	require.NoError(t, d.cmd.Process.Signal(os.Interrupt))
	err := d.wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stderr:\n%s", &d.stderr)
	assert.Equal(t, exitFail, exit.ExitCode())
	logs := d.stderr.String()
	assert.True(t, strings.HasSuffix(logs, "plugsock demo: interrupted; stopped every plugin\n"), logs)
	assert.Contains(t, logs, `msg="plugsock: plugin disconnected" plugin=calc graceful=true`, "unplugged, not killed")
	assert.Contains(t, logs, `msg="plugsock: plugin disconnected" plugin=kv graceful=true`, "unplugged, not killed")
	assertReaped(t, pids)
}

func TestDemoTimeout(t *testing.T) {
	d := startHeldDemo(t, "--timeout", "1s")
	pids := pluginPIDs(t, d.held)
	err := d.wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stderr:\n%s", &d.stderr)
	assert.Equal(t, exitFail, exit.ExitCode())
	assert.Equal(t, "plugsock demo: gave up after 1s (--timeout); stopped every plugin\n", d.stderr.String())
	assertReaped(t, pids)
}

func withoutDemoHold() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGSOCK_DEMO_HOLD=") {
			env = append(env, kv)
		}
	}
	return env
}

func TestDemoTidyLog(t *testing.T) {
	var b strings.Builder
	log := slog.New(&tidyHandler{w: &b}).With("session", "s1")
	log.Info("plugsock: plugin process started", "plugin", "calc", "pid", 7)
	log.Debug("plugsock: connected")
	log.Info("plugsock: plugin output", "plugin", "calc", "stream", "stderr", "line", "level=WARN msg=oops")
	log.Warn("plugsock: plugin did not stop in time; cutting it off", "plugin", "kv")
	log.WithGroup("g").Error("plugsock: cannot restart plugin", "plugin", "kv", "err", errors.New("no such file"))
	assert.Equal(t, "plugsock demo: calc: level=WARN msg=oops\n"+
		"plugsock demo: plugin did not stop in time; cutting it off session=s1 plugin=kv\n"+
		"plugsock demo: cannot restart plugin session=s1 plugin=kv err=no such file\n", b.String())
}
