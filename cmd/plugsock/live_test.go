//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liveWait bounds each wait of the live tests for a process to do
// something.
const liveWait = 30 * time.Second

// live is "plugsock serve" running as a process of its own, with example
// plugins connected to it as processes of theirs: calc (Go) always, and
// pytext (Python) when python3 is installed. It is what a user gets by
// following the README.
type live struct {
	bin     string
	serve   *child
	logs    *logBuffer // serve's stderr, in JSON lines
	addr    string     // where plugins dial, as PLUGSOCK_ADDR
	admin   string     // the admin API's URL
	console string     // the console's URL, with the admin token serve made up
	token   string     // that token
	plugins map[string]*child
	order   []string // plugin names, in start order
}

// child is a process a live test started, waited for on a goroutine of
// its own so that a test can wait for it with a deadline.
type child struct {
	name   string
	cmd    *exec.Cmd
	stderr *logBuffer
	exited chan struct{} // closed once Wait has returned; err is set then
	err    error
}

// startChild starts cmd, with stderr collected unless cmd already sends
// it somewhere, and kills it at the end of the test if it is still there.
func startChild(t *testing.T, name string, cmd *exec.Cmd) *child {
	t.Helper()
	c := &child{name: name, cmd: cmd, stderr: new(logBuffer), exited: make(chan struct{})}
	if cmd.Stderr == nil {
		cmd.Stderr = c.stderr
	}
	require.NoError(t, cmd.Start(), "starting %s", name)
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// wait waits for the process to exit and returns how it ended.
func (c *child) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-c.exited:
		return c.err
	case <-time.After(liveWait):
		t.Fatalf("%s (pid %d) did not exit within %v; stderr:\n%s", c.name, c.cmd.Process.Pid, liveWait, c.stderr)
		return nil
	}
}

// env is the environment of the processes a live test starts: the test's
// own, without any PLUGSOCK_ setting it may have, plus extra.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGSOCK_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// buildExample builds examples/name and returns the executable's path.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "github.com/plugsock/plugsock/examples/"+name).CombinedOutput()
	require.NoError(t, err, "building examples/%s:\n%s", name, out)
	return bin
}

// startLive builds plugsock and the calc example, runs "plugsock serve" on
// free loopback ports (it logs which) and plugs calc, and pytext when
// python3 is there, into it.
func startLive(t *testing.T) *live {
	t.Helper()
	l := &live{bin: buildPlugsock(t), logs: new(logBuffer), plugins: map[string]*child{}}
	calcBin := buildExample(t, "calc")

	cmd := exec.Command(l.bin, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = env()
	cmd.Stderr = l.logs
	l.serve = startChild(t, "plugsock serve", cmd)
	l.addr = l.logs.waitFor(t, "plugsock: socket listening", nil)["addr"].(string)
	l.admin = l.logs.waitFor(t, "plugsock: admin API listening", nil)["url"].(string)
	// No token given: serve makes one up and logs the console's URL with
	// it, as a user following the README gets.
	l.console = l.logs.waitFor(t, consoleMsg, nil)["url"].(string)
	u, err := url.Parse(l.console)
	require.NoError(t, err)
	l.token = u.Query().Get("token")
	require.NotEmpty(t, l.token, l.console)

	cmd = exec.Command(calcBin)
	cmd.Env = env("PLUGSOCK_ADDR=" + l.addr)
	l.plug(t, "calc", cmd)
	if python, err := exec.LookPath("python3"); err == nil {
		script, err := filepath.Abs(filepath.Join("..", "..", "examples", "python", "plugin.py"))
		require.NoError(t, err)
		cmd = exec.Command(python, script)
		cmd.Env = env("PLUGSOCK_ADDR="+l.addr, "PYTHONDONTWRITEBYTECODE=1")
		l.plug(t, "pytext", cmd)
	} else {
		t.Log("no python3: the Python plugin is left out")
	}
	return l
}

// plug starts a plugin process and waits until serve reports it connected.
func (l *live) plug(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	c := startChild(t, name, cmd)
	l.plugins[name] = c
	l.order = append(l.order, name)
	l.logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": name, "version": "1.0.0"})
}

// has reports whether the named plugin was started.
func (l *live) has(name string) bool { return l.plugins[name] != nil }

// cli runs "plugsock args..." against the live serve's admin API, with
// stdin as its standard input.
func (l *live) cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.bin, args...)
	cmd.Env = env("PLUGSOCK_ADMIN="+l.admin, "PLUGSOCK_ADMIN_TOKEN="+l.token)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("plugsock %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// unplugged waits for a plugin's process to exit after an unplug, and
// checks that it left in good order: status 0, a graceful disconnect.
func (l *live) unplugged(t *testing.T, name string) {
	t.Helper()
	c := l.plugins[name]
	assert.NoError(t, c.wait(t), "%s exits with status 0 once unplugged; stderr:\n%s", name, c.stderr)
	l.logs.waitFor(t, "plugsock: disconnected", map[string]any{"plugin": name, "graceful": true})
}

// stop interrupts serve, which unplugs every plugin still connected, and
// checks that everything exits in good order.
func (l *live) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, l.serve.cmd.Process.Signal(syscall.SIGINT))
	assert.NoError(t, l.serve.wait(t), "serve exits with status 0 when interrupted; log:\n%s", l.logs)
	assert.NotNil(t, l.logs.find(t, "plugsock: stopped", nil), "serve says it stopped:\n%s", l.logs)
	for _, name := range l.order {
		select {
		case <-l.plugins[name].exited:
			continue // unplugged before
		default:
		}
		l.unplugged(t, name)
	}
	for _, rec := range l.logs.records(t) {
		assert.NotEqual(t, "ERROR", rec["level"], "serve logged an error: %v", rec)
	}
}

// TestServeCLI runs the client commands, as the built binary, against a
// running serve with the example plugins connected as processes.
func TestServeCLI(t *testing.T) {
	l := startLive(t)
	py := l.has("pytext")

	t.Run("list", func(t *testing.T) {
		code, out, errOut := l.cli(t, "", "list")
		assert.Equal(t, exitOK, code, errOut)
		want := "NAME  VERSION\ncalc  1.0.0\n"
		if py {
			want = "NAME    VERSION\ncalc    1.0.0\npytext  1.0.0\n"
		}
		assert.Equal(t, want, out)

		code, out, errOut = l.cli(t, "", "list", "--json")
		assert.Equal(t, exitOK, code, errOut)
		var listed struct {
			Plugins []struct{ Name, Version string }
		}
		require.NoError(t, json.Unmarshal([]byte(out), &listed), out)
		var names []string
		for _, p := range listed.Plugins {
			names = append(names, p.Name+"@"+p.Version)
		}
		wantNames := []string{"calc@1.0.0"}
		if py {
			wantNames = append(wantNames, "pytext@1.0.0")
		}
		assert.Equal(t, wantNames, names)
	})

	t.Run("describe", func(t *testing.T) {
		code, out, errOut := l.cli(t, "", "describe", "calc")
		assert.Equal(t, exitOK, code, errOut)
		assert.True(t, strings.HasPrefix(out, "calc 1.0.0 — 5 functions\n"), out)
		assert.Contains(t, out, "\nAdd       {a float64, b float64}  float64\n")
		assert.Contains(t, out, "\nStats     -                       {calls int64}\n")

		code, _, errOut = l.cli(t, "", "describe", "nosuch")
		assert.Equal(t, exitFail, code)
		assert.Contains(t, errOut, "nosuch")

		if !py {
			return
		}
		code, out, errOut = l.cli(t, "", "describe", "pytext")
		assert.Equal(t, exitOK, code, errOut)
		assert.True(t, strings.HasPrefix(out, "pytext 1.0.0 — 4 functions\n"), out)
		// The stream's line is too wide for a table: one block per function.
		assert.Contains(t, out, "\nAverage\n  input  {size? int64}\n  output stream in {name string, value float64, time? int64} out {name string, value float64, time? int64}\n")
		assert.Contains(t, out, "\nUpper\n  input  string\n  output string\n")
		assert.Contains(t, out, "\nWordCount\n  input  {text string}\n  output {words int64, lines int64, chars int64}\n")
	})

	t.Run("call", func(t *testing.T) {
		code, out, errOut := l.cli(t, "", "call", "calc", "Add", `{"a": 2, "b": 3}`)
		assert.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "5\n", out)

		code, out, errOut = l.cli(t, "", "call", "calc@1.0.0", "Mul", `{"a": 6, "b": 7}`) // name@version
		assert.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "42\n", out)

		code, out, errOut = l.cli(t, `{"a": 1, "b": 0}`, "call", "calc", "Div") // payload on stdin
		assert.Equal(t, exitFail, code)
		assert.Empty(t, out)
		assert.Equal(t, "plugsock call: division by zero (code -32000, method error)\n", errOut)

		if !py {
			return
		}
		code, out, errOut = l.cli(t, "", "call", "pytext", "Upper", `"grüße"`)
		assert.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "\"GRÜSSE\"\n", out)

		code, out, errOut = l.cli(t, `{"text": "one two\nthree"}`, "call", "pytext", "WordCount", "-")
		assert.Equal(t, exitOK, code, errOut)
		var counts map[string]int
		require.NoError(t, json.Unmarshal([]byte(out), &counts), out)
		assert.Equal(t, map[string]int{"words": 3, "lines": 2, "chars": 13}, counts)

		code, _, errOut = l.cli(t, "", "call", "pytext", "Sleep", `{"ms": -1}`)
		assert.Equal(t, exitFail, code)
		assert.Contains(t, errOut, "(code -32000, method error)")
	})

	t.Run("broadcast", func(t *testing.T) {
		// calc has answered Add, Mul and Div above; Stats does not count
		// itself.
		code, out, errOut := l.cli(t, "", "broadcast", "Stats")
		if !py {
			assert.Equal(t, exitOK, code, errOut)
			assert.Equal(t, "PLUGIN  RESULT\ncalc    {\"calls\": 3}\n", out)
			return
		}
		// pytext has no Stats: the broadcast reports each plugin's answer
		// and fails as a whole.
		assert.Equal(t, exitFail, code)
		assert.Equal(t, "PLUGIN  RESULT\n"+
			"calc    {\"calls\": 3}\n"+
			"pytext  error: method not found: Stats (code -32601, method not found)\n", out)
		assert.Equal(t, "plugsock broadcast: 1 of 2 plugins failed\n", errOut)

		code, out, errOut = l.cli(t, "", "broadcast", "--json", "Upper", `"x"`)
		assert.Equal(t, exitFail, code, errOut)
		var got struct {
			Results map[string]struct {
				Result any
				Error  *struct {
					Code    int
					Message string
				}
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &got), out)
		assert.Equal(t, "X", got.Results["pytext"].Result, out)
		if assert.NotNil(t, got.Results["calc"].Error, out) {
			assert.Equal(t, -32601, got.Results["calc"].Error.Code)
			assert.Equal(t, "method not found: Upper", got.Results["calc"].Error.Message)
		}
	})

	t.Run("unplug", func(t *testing.T) {
		names := []string{"calc"}
		if py {
			names = []string{"pytext", "calc"}
		}
		for _, name := range names {
			code, out, errOut := l.cli(t, "", "unplug", name)
			assert.Equal(t, exitOK, code, errOut)
			assert.Equal(t, "Unplugged "+name+".\n", out)
			l.unplugged(t, name)
		}
		code, out, errOut := l.cli(t, "", "list")
		assert.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "No plugins connected.\n", out)

		code, _, errOut = l.cli(t, "", "unplug", "calc")
		assert.Equal(t, exitFail, code)
		assert.Contains(t, errOut, "calc")
	})

	l.stop(t)
}

// TestServeConsoleE2E drives the admin console of a running serve, with
// the example plugins connected as processes, in a real headless Chromium
// (admin/e2e/serve.mjs): it loads the page, sees every plugin and calls a
// function of each through the form. Like admin's TestConsoleE2E it runs
// only when PLUGSOCK_E2E is set, and needs node, Debian's chromium (or
// $PLUGSOCK_CHROMIUM) and `npm ci` in admin/e2e.
func TestServeConsoleE2E(t *testing.T) {
	if os.Getenv("PLUGSOCK_E2E") == "" {
		t.Skip("browser test: set PLUGSOCK_E2E=1 to run it")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("browser test: node is not installed")
	}
	browser := os.Getenv("PLUGSOCK_CHROMIUM")
	if browser == "" {
		browser = "/usr/bin/chromium"
	}
	if _, err := os.Stat(browser); err != nil {
		t.Skipf("browser test: no chromium at %s (apt-get install chromium)", browser)
	}
	e2e := filepath.Join("..", "..", "admin", "e2e")
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core")); err != nil {
		t.Fatal("browser test: playwright-core is missing; run `npm ci` in admin/e2e")
	}

	l := startLive(t)
	args := []string{filepath.Join(e2e, "serve.mjs"), l.console, "--artifacts", filepath.Join(e2e, "artifacts")}
	calls := []string{
		`{"plugin": "calc", "function": "Add", "payload": "{\"a\": 2, \"b\": 3}", "result": 5}`,
		`{"plugin": "calc", "function": "Div", "payload": "{\"a\": 1, \"b\": 0}", "error": {"code": -32000, "message": "division by zero"}}`,
	}
	for _, name := range l.order {
		args = append(args, "--plugin", name+"@1.0.0")
	}
	if l.has("pytext") {
		calls = append(calls,
			`{"plugin": "pytext", "function": "Upper", "payload": "\"grüße\"", "result": "GRÜSSE"}`,
			`{"plugin": "pytext", "function": "WordCount", "payload": "{\"text\": \"one two\\nthree\"}", "result": {"words": 3, "lines": 2, "chars": 13}}`)
	}
	for _, c := range calls {
		args = append(args, "--call", c)
	}
	if shot := os.Getenv("PLUGSOCK_E2E_SCREENSHOT"); shot != "" {
		args = append(args, "--screenshot", shot)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), "PLUGSOCK_CHROMIUM="+browser, "FORCE_COLOR=0", "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("browser test failed (%v):\n%s", err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Log(s)
	}
	assert.Contains(t, stdout.String(), "serve e2e: all steps passed")

	l.stop(t)
}
