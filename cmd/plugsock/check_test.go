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
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "usage: plugsock check")
	code, _, _ = run("-bogus")
	assert.Equal(t, 2, code)
	code, _, _ = run("-h")
	assert.Equal(t, 0, code)

	code, out, _ := run("--", "sh", "-c", "echo no plugin here >&2; exit 3")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAIL  handshake                the process exited before connecting: exit status 3\n")
	assert.Contains(t, out, "stderr: no plugin here")

	code, _, errOut = run("--", "plugsock-no-such-plugin")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "plugsock check:")

	dir := t.TempDir()
	for _, name := range []string{"goplugin", "broken"} {
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
}
