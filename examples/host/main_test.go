package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/examples/internal/exampletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHostProgram runs the host with the calc and kv programs, each a
// process of its own, and stops it as a user would, with Ctrl-C.
func TestHostProgram(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT for another process on Windows")
	}
	const wait = 30 * time.Second
	started := time.Now()
	host := exec.Command(exampletest.Build(t, "."), "-listen", "127.0.0.1:0")
	out := new(exampletest.Output)
	host.Stdout, host.Stderr = out, out
	require.NoError(t, host.Start())
	t.Cleanup(func() {
		if host.ProcessState == nil {
			_ = host.Process.Kill()
			_ = host.Wait()
		}
	})
	out.WaitFor(t, "host: listening on ", wait)
	addr := strings.TrimPrefix(out.Line("host: listening on "), "host: listening on ")

	var plugins []*exec.Cmd
	for _, dir := range []string{"../calc", "../kv"} {
		p := exec.Command(exampletest.Build(t, dir))
		p.Env = append(os.Environ(), "PLUGSOCK_ADDR="+addr)
		p.Stderr = out
		require.NoError(t, p.Start())
		t.Cleanup(func() {
			if p.ProcessState == nil {
				_ = p.Process.Kill()
				_ = p.Wait()
			}
		})
		plugins = append(plugins, p)
	}

	for _, line := range []string{
		"host: calc 1.0.0 connected, with functions Add, Div, Mul, Stats, Sub\n",
		"host: calc.Add 2 + 3 = 5\n",
		"host: calc.Div 1 / 0 failed as it should: division by zero (code -32000)\n",
		"host: kv 1.0.0 connected, with functions Delete, Get, Keys, Set, Stats\n",
		"host: kv.Get greeting = hello, set at ",
		"host: async data from kv: map[key:greeting op:set value:hello]\n",
	} {
		out.WaitFor(t, line, wait)
	}
	// kv's Set asked the host's Clock for the time, once, and stored
	// what it was told: Get reports that time exactly.
	const asked = "host: kv asked for the time (Clock.Now): "
	assert.Equal(t, 1, strings.Count(out.String(), asked), "output:\n%s", out)
	told := strings.TrimPrefix(out.Line(asked), asked)
	at, err := time.Parse(time.RFC3339Nano, told)
	require.NoError(t, err, "output:\n%s", out)
	assert.WithinRange(t, at, started, time.Now(), "the host's time, now")
	assert.Equal(t, "host: kv.Get greeting = hello, set at "+told, out.Line("host: kv.Get greeting"))

	require.NoError(t, host.Process.Signal(os.Interrupt))
	require.NoError(t, host.Wait(), "output:\n%s", out)
	for _, p := range plugins {
		require.NoError(t, p.Wait(), "a plugin exits 0 when its host unplugs it; output:\n%s", out)
	}
	text := out.String()
	assert.Contains(t, text, "host: shutting down\n")
	assert.Contains(t, text, "host: calc disconnected (graceful: true)\n")
	assert.Contains(t, text, "host: kv disconnected (graceful: true)\n")
}
