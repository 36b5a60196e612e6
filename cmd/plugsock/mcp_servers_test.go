//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// mcpServe is "plugsock serve --mcp-server ..." running as a process of
// its own, which launches the MCP servers itself.
type mcpServe struct {
	bin   string
	serve *child
	logs  *logBuffer
	admin string
	token string
}

// startMCPServe runs plugsock serve with the --mcp-server flags given
// (NAME=COMMAND...) and waits until each named plugin is connected.
func startMCPServe(t *testing.T, names []string, servers ...string) *mcpServe {
	t.Helper()
	m := &mcpServe{bin: buildPlugsock(t), logs: new(logBuffer), token: "mcp-test-token"}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-format", "json", "--admin-token", m.token}
	for _, s := range servers {
		args = append(args, "--mcp-server", s)
	}
	cmd := exec.Command(m.bin, args...)
	cmd.Env = env()
	cmd.Stderr = m.logs
	m.serve = startChild(t, "plugsock serve", cmd)
	m.admin = m.logs.waitFor(t, "plugsock: admin API listening", nil)["url"].(string)
	for _, n := range names {
		m.logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": n})
	}
	return m
}

// cli runs "plugsock args..." against the serve's admin API.
func (m *mcpServe) cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.bin, args...)
	cmd.Env = env("PLUGSOCK_ADMIN="+m.admin, "PLUGSOCK_ADMIN_TOKEN="+m.token)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("plugsock %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// pid asks the MCP server behind plugin name for its process id.
func (m *mcpServe) pid(t *testing.T, name string) int {
	t.Helper()
	code, out, errOut := m.cli(t, "call", name, "pid")
	require.Equal(t, exitOK, code, errOut)
	var got struct{ Pid int }
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.NotZero(t, got.Pid, out)
	return got.Pid
}

// count is how many records have message msg and attributes attrs.
func (m *mcpServe) count(t *testing.T, msg string, attrs map[string]any) int {
	n := 0
next:
	for _, rec := range m.logs.records(t) {
		if rec["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if rec[k] != v {
				continue next
			}
		}
		n++
	}
	return n
}

// gone waits for pid, serve's child and not the test's, to be gone.
func gone(t *testing.T, pid int) {
	t.Helper()
	assert.Eventually(t, func() bool {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return true
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && bytes.Contains(b, []byte(") Z "))
	}, liveWait, 5*time.Millisecond, "process %d is still alive", pid)
}

// checkMCPServe checks an MCP server that serve launched as the plugin
// name: its tools through plugsock call, describe and broadcast; a restart
// after SIGKILL; and, when serve is interrupted, a clean stop.
func checkMCPServe(t *testing.T, m *mcpServe, name string) {
	code, out, errOut := m.cli(t, "call", name, "add", `{"a": 2, "b": 3}`)
	assert.Equal(t, exitOK, code, errOut)
	assert.JSONEq(t, `{"sum": 5}`, out)

	code, out, errOut = m.cli(t, "call", name, "echo", `{"text": "through plugsock call"}`)
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "\"through plugsock call\"\n", out)

	code, out, errOut = m.cli(t, "call", name, "fail")
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugsock call: it failed, as asked (code -32000, method error)\n", errOut)

	// serve validates payloads against the tool's inputSchema.
	code, _, errOut = m.cli(t, "call", name, "add", `{"a": "two", "b": 3}`)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "/a")

	code, out, errOut = m.cli(t, "describe", name)
	assert.Equal(t, exitOK, code, errOut)
	for _, f := range []string{"add", "echo", "fail", "grow", "pid", "slow"} {
		assert.Contains(t, out, "\n"+f+" ", "describe lists %s:\n%s", f, out)
	}

	code, out, errOut = m.cli(t, "broadcast", "pid")
	assert.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, name)

	// Its standard error is in serve's log.
	pid := m.pid(t, name)
	m.logs.waitFor(t, "plugsock: plugin output", map[string]any{"plugin": name, "stream": "stderr"})

	// Killed, it is restarted and bridged again.
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	m.logs.waitFor(t, "plugsock: disconnected", map[string]any{"plugin": name, "graceful": false})
	var newPid int
	require.Eventually(t, func() bool {
		if m.count(t, "plugsock: connected", map[string]any{"plugin": name}) < 2 {
			return false
		}
		newPid = m.pid(t, name)
		return newPid != pid
	}, liveWait, 10*time.Millisecond, "restarted after SIGKILL:\n%s", m.logs)
	gone(t, pid)
	code, out, errOut = m.cli(t, "call", name, "add", `{"a": 40, "b": 2}`)
	assert.Equal(t, exitOK, code, errOut)
	assert.JSONEq(t, `{"sum": 42}`, out)

	// Interrupted, serve stops it cleanly and exits 0.
	require.NoError(t, m.serve.cmd.Process.Signal(syscall.SIGINT))
	assert.NoError(t, m.serve.wait(t), "serve exits with status 0; log:\n%s", m.logs)
	m.logs.waitFor(t, "plugsock: disconnected", map[string]any{"plugin": name, "graceful": true})
	gone(t, newPid)
	for _, rec := range m.logs.records(t) {
		assert.NotEqual(t, "ERROR", rec["level"], "serve logged an error: %v", rec)
	}
}

func TestServeMCPServerGo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "goserver")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/plugsock/plugsock/mcpplugin/testdata/goserver").CombinedOutput()
	require.NoError(t, err, "building the Go MCP server:\n%s", out)
	m := startMCPServe(t, []string{"gotools"}, "gotools="+bin)
	m.logs.waitFor(t, "plugsock: MCP server plugged in", map[string]any{"plugin": "gotools", "command": bin})
	checkMCPServe(t, m, "gotools")
}

// TestServeMCPServerTypeScript is TestServeMCPServerGo with the server
// written with the TypeScript SDK; it runs when PLUGSOCK_MCP_TS=1, after
// `npm ci` in mcpplugin/testdata/ts.
func TestServeMCPServerTypeScript(t *testing.T) {
	if os.Getenv("PLUGSOCK_MCP_TS") != "1" {
		t.Skip("PLUGSOCK_MCP_TS is not 1: the TypeScript SDK's server is not tested")
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "PLUGSOCK_MCP_TS=1 wants node")
	script, err := filepath.Abs(filepath.Join("..", "..", "mcpplugin", "testdata", "ts", "server.mjs"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "@modelcontextprotocol", "sdk"))
	require.NoError(t, err, "PLUGSOCK_MCP_TS=1 wants `npm ci` run in %s first", filepath.Dir(script))
	m := startMCPServe(t, []string{"tstools"}, fmt.Sprintf("tstools=%s '%s'", node, script))
	checkMCPServe(t, m, "tstools")
}

func TestServeMCPServerFlag(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"noequals", "want NAME=COMMAND ARGS... or NAME=URL"},
		{"=cmd", "plugin name is empty"},
		{"a/b=cmd", "contains '@' or '/'"},
		{"x=", "no command after NAME="},
		{`x=node "open`, "unterminated quote or escape"},
		{"x=https://a.example/mcp extra", "a URL is all there is after NAME="},
	} {
		code, out, errOut := runCLI(t, "serve", "--mcp-server", tc.arg)
		assert.Equal(t, exitUsage, code, tc.arg)
		assert.Empty(t, out)
		assert.Contains(t, errOut, tc.want, tc.arg)
	}

	// A server that cannot be launched stops serve from starting.
	code, _, errOut := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--admin", "off", "--mcp-server", "ghost=/nonexistent/mcp-server")
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "--mcp-server ghost: plugsock: Launch mcp-server: ")
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:                         {"a", "b", "c"},
		`node "my server.mjs" --x='1 2'`: {"node", "my server.mjs", "--x=1 2"},
		`a\ b ''`:                        {"a b", ""},
		` `:                              nil,
	} {
		got, err := splitWords(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}
