package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestCheckCommand(t *testing.T) {
	defer goleak.VerifyNone(t)
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runCheck(t.Context(), args, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, _, errOut := run()
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "no command to check")
	assert.Contains(t, errOut, "Usage: plugsock check [-timeout DURATION]")
	code, _, errOut = run("-bogus")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "flag provided but not defined: -bogus")
	code, out, _ := run("--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "Usage: plugsock check")
	assert.Contains(t, out, "-skip functions")

	code, out, _ = run("--", "sh", "-c", "echo no plugin here >&2; exit 3")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAIL  handshake                the process exited before connecting: exit status 3\n")
	assert.Contains(t, out, "stderr: no plugin here")

	code, _, errOut = run("--", "plugsock-no-such-plugin")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "plugsock check:")

	dir := t.TempDir()
	for _, name := range []string{"goplugin", "broken", "streams", "brokenstreams"} {
		b, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../../plugintest/testdata/"+name).CombinedOutput()
		require.NoError(t, err, "%s", b)
	}
	code, out, _ = run("-skip", "Explode,Sleep", "--", filepath.Join(dir, "goplugin"))
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "plugsock check: "+filepath.Join(dir, "goplugin")+"\n")
	assert.Contains(t, out, "PASS  call Add")
	assert.NotContains(t, out, "call Explode", "skipped")
	assert.Contains(t, out, "0 failed")

	code, out, _ = run("-timeout", "300ms", "--", filepath.Join(dir, "broken"))
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAIL  unknown method")
	assert.Contains(t, out, "want error -32601 (method not found)")
	assert.NotContains(t, out, "stream", "a plugin without streams gets no stream check")

	// A plugin with streams gets the stream checks, one line each.
	code, out, _ = run("--", filepath.Join(dir, "streams"))
	assert.Equal(t, 0, code, out)
	for _, line := range []string{
		"PASS  streams                  3 stream functions: Scale (processor), Store (sink), Ticks (source); item schemas compile, and none has an output\n",
		"PASS  stream Scale             processor: opened with params {\"factor\":0} and a window of 4; granted 128 credit; 6 items sent, 6 acknowledged; ",
		"PASS  stream call Scale        called without _meta.stream: answered -32602 ",
		"PASS  stream Store             sink: opened with params (none) and a window of 4; ",
		"PASS  stream Ticks             source: opened with params {\"from\":0} and a window of 4; ",
		"PASS  stream without credit    Ticks (source): item 129, sent with 128 credit, made it fail the stream: $/stream/cancel with error -32600 ",
		"PASS  stream messages          ",
		"\nprotocol 2: 25 passed, 0 failed, 3 skipped\n",
	} {
		assert.Contains(t, out, line)
	}
	assert.NotRegexp(t, `\n[A-Z]{4}  call Scale`, out, "a stream is not called as a plain function")

	cmd := []string{"-timeout", "300ms", "--", filepath.Join(dir, "brokenstreams")}
	t.Setenv("BROKEN_STREAMS", "overrun")
	code, out, _ = run(cmd...)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAIL  stream Feed              source: $/stream/item: sent item 5 with 4 credit (the battery failed the stream, as the host does); ")
	assert.Contains(t, out, "\nprotocol 2: 17 passed, 1 failed, 9 skipped\n")
}
