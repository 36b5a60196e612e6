package examples_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/examples/internal/exampletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quickstart matches a Go block of the README that is preceded by a
// <!-- quickstart: path --> marker.
var quickstart = regexp.MustCompile("(?s)<!-- quickstart: (\\S+) -->\\s*```go\n(.*?)```")

// TestREADMEQuickStart copies the README's quick start, as it is, into a
// new module that uses this one through a replace directive, and runs it:
// the host, then the plugin. Only the port is changed, to a free one.
func TestREADMEQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	blocks := quickstart.FindAllStringSubmatch(string(readme), -1)
	require.Len(t, blocks, 2, "the README's quick start has a host and a plugin")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	dir := t.TempDir()
	for _, b := range blocks {
		require.Contains(t, b[2], `"127.0.0.1:7700"`, b[1])
		src := strings.ReplaceAll(b[2], `"127.0.0.1:7700"`, `"`+addr+`"`)
		path := filepath.Join(dir, b[1])
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	}
	gomod := "module quickstart\n\ngo 1.25\n\nrequire github.com/plugsock/plugsock v0.0.0\n\nreplace github.com/plugsock/plugsock => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))

	gocmd := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goTool, args...)
		cmd.Dir = dir
		// Everything needed is in the module cache already; never fetch.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	}
	gocmd("mod", "tidy")
	gocmd("build", "-o", "bin/", "./host", "./plugin")

	host := exec.Command(filepath.Join(dir, "bin", "host"))
	hostOut := new(exampletest.Output)
	host.Stdout, host.Stderr = hostOut, hostOut
	require.NoError(t, host.Start())
	t.Cleanup(func() {
		if host.ProcessState == nil {
			_ = host.Process.Kill()
			_ = host.Wait()
		}
	})
	hostOut.WaitFor(t, "waiting for the greeter plugin...", 30*time.Second)

	plugin := exec.Command(filepath.Join(dir, "bin", "plugin"))
	pluginOut := new(exampletest.Output)
	plugin.Stdout, plugin.Stderr = pluginOut, pluginOut
	require.NoError(t, plugin.Start())
	t.Cleanup(func() {
		if plugin.ProcessState == nil {
			_ = plugin.Process.Kill()
			_ = plugin.Wait()
		}
	})

	require.NoError(t, host.Wait(), "host:\n%s", hostOut)
	require.NoError(t, plugin.Wait(), "the plugin exits 0 when the host shuts down; plugin:\n%s", pluginOut)
	assert.Contains(t, hostOut.String(), "\nhello, world\n")
	assert.Empty(t, pluginOut.String())
}
