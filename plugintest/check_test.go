package plugintest_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/plugintest"
)

func results(r plugintest.Report) map[string]plugintest.Result {
	m := make(map[string]plugintest.Result, len(r.Results))
	for _, res := range r.Results {
		m[res.Check] = res
	}
	return m
}

// assertLines checks that the written report has one line per result and
// a summary.
func assertLines(t *testing.T, out string, r plugintest.Report) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), len(r.Results)+1, "%s", out)
	for i, res := range r.Results {
		assert.Equal(t, res.String(), lines[i])
		assert.True(t, strings.HasPrefix(lines[i], res.Status.String()+"  "+res.Check), "%q", lines[i])
	}
}

func TestCheckPassesTheGoPlugin(t *testing.T) {
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), exec.Command(bin(t, "goplugin")), &out)
	require.NoError(t, err)
	assert.True(t, report.Passed(), "%s", &out)
	assertLines(t, out.String(), report)
	assert.Contains(t, out.String(), "0 failed")

	require.NotNil(t, report.Plugin)
	assert.Equal(t, "gocalc", report.Plugin.Name)
	assert.Equal(t, "1.0.0", report.Plugin.Version)
	assert.Len(t, report.Plugin.Functions, 6)

	res := results(report)
	for _, name := range []string{"handshake", "functions", "ping", "unknown method", "bad params Add",
		"call Add", "call Div", "call Explode", "cancel", "shutdown answers", "shutdown in flight",
		"shutdown refuses calls", "shutdown closes", "exit", "framing", "async"} {
		assert.Equal(t, plugintest.Pass, res[name].Status, "%s: %s", name, res[name].Detail)
	}
	assert.Contains(t, res["handshake"].Detail, "launch id sent back", "plugin.Run sends PLUGSOCK_LAUNCH back")
	assert.Contains(t, res["call Div"].Detail, `-32000 (method error) "division by zero"`, "a method's error")
	assert.Contains(t, res["call Explode"].Detail, "-32603 (internal error)", "a panic")
	assert.Contains(t, res["shutdown refuses calls"].Detail, "refused with -32003")
	assert.Contains(t, res["async"].Detail, "1 $/async notification")
	assert.Equal(t, plugintest.Pass, res["extra headers"].Status, "envelope's reader ignores other header lines: %s", res["extra headers"].Detail)
	assertProtocol(t, out.String(), report)
}

func TestCheckPassesThePythonPlugin(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), exec.Command(python, "testdata/python/plugin.py"), &out)
	require.NoError(t, err)
	assert.True(t, report.Passed(), "%s", &out)
	assertLines(t, out.String(), report)
	assert.Equal(t, "pycalc", report.Plugin.Name)
	res := results(report)
	assert.Contains(t, res["call Div"].Detail, "division by zero")
	assert.Equal(t, plugintest.Pass, res["shutdown refuses calls"].Status)
	assert.Equal(t, plugintest.Pass, res["exit"].Status)
	assert.Equal(t, 1, report.Protocol, "its handshake names no protocol")
	assertProtocol(t, out.String(), report)
}

func TestCheckFailsTheBrokenPlugin(t *testing.T) {
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), exec.Command(bin(t, "broken")), &out, plugintest.CheckConfig{CallTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	assert.False(t, report.Passed())
	assertLines(t, out.String(), report)

	res := results(report)
	assert.Equal(t, plugintest.Pass, res["handshake"].Status)
	assert.Equal(t, plugintest.Pass, res["ping"].Status)
	for name, why := range map[string]string{
		"unknown method":   `answered with error {"code":-32000,"message":"no such thing: NoSuchFunction"}; want error -32601 (method not found)`,
		"bad params Add":   `were answered with result "forty-two"; want error -32602 (invalid params)`,
		"call Add":         `result "forty-two" does not fit the output description`,
		"shutdown answers": "no answer to $/shutdown within 500ms",
		"shutdown closes":  "the connection was still open 500ms after $/shutdown",
		"exit":             "still running 500ms after the shutdown; killed it",
	} {
		assert.Equal(t, plugintest.Fail, res[name].Status, name)
		assert.Contains(t, res[name].Detail, why, name)
		assert.Contains(t, out.String(), "FAIL  "+name, "the report names the failed check")
	}
	assert.Len(t, report.Failures(), 7)
	assert.Equal(t, plugintest.Pass, res["extra headers"].Status)
	require.Equal(t, 1, report.Protocol, "its handshake names no protocol")
	assertProtocol(t, out.String(), report)
	// Skipped: shutdown in flight, async, and the four of protocol 2.
	assert.Contains(t, out.String(), "\nprotocol 1: 5 passed, 7 failed, 6 skipped\n")
	assert.Contains(t, out.String(), "last lines the plugin wrote:\n  stderr: broken: connected, and about to misbehave\n")
}

func TestCheckAPluginThatNeverConnects(t *testing.T) {
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), exec.Command("sh", "-c", "echo cannot start >&2; exit 3"), &out)
	require.NoError(t, err)
	assert.False(t, report.Passed())
	assert.Nil(t, report.Plugin)
	assert.Zero(t, report.Protocol)
	res := results(report)
	assert.Equal(t, plugintest.Result{Check: "meta", Status: plugintest.Skip, Detail: "no connection"}, res["meta"])
	for _, name := range []string{"framing", "strict", "host services", "progress"} {
		assert.NotContains(t, res, name, "nothing was read to judge")
	}
	assert.NotContains(t, out.String(), "protocol", "no protocol was settled")
	assert.Equal(t, plugintest.Fail, res["handshake"].Status)
	assert.Equal(t, "the process exited before connecting: exit status 3", res["handshake"].Detail)
	assert.Equal(t, plugintest.Skip, res["ping"].Status)
	assert.Equal(t, plugintest.Skip, res["extra headers"].Status, "the plugin is not started again")
	assert.Contains(t, out.String(), "stderr: cannot start")
}

func TestCheckCommandNotFound(t *testing.T) {
	_, err := plugintest.Check(t.Context(), exec.Command("plugsock-no-such-plugin"), nil)
	assert.ErrorIs(t, err, exec.ErrNotFound)
}

func TestCheckAPluginThatCrashes(t *testing.T) {
	var out bytes.Buffer
	cmd := exec.Command(bin(t, "broken"))
	cmd.Env = append(cmd.Environ(), "BROKEN_MODE=crash")
	report, err := plugintest.Check(t.Context(), cmd, &out, plugintest.CheckConfig{CallTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	res := results(report)
	assert.Equal(t, plugintest.Fail, res["connection"].Status, "%s", &out)
	assert.Contains(t, res["connection"].Detail, "the connection ended before the battery was done")
	assert.Equal(t, plugintest.Skip, res["shutdown"].Status)
	assert.Equal(t, plugintest.Fail, res["exit"].Status)
	assert.Equal(t, "the process ended with exit status 2", res["exit"].Detail)
	assert.Contains(t, out.String(), "stderr: broken: crashing as told")
}
