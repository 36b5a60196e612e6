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
// <!-- quickstart: path --> marker; runBlock, the shell block that says
// how to run them.
var (
	quickstart = regexp.MustCompile("(?s)<!-- quickstart: (\\S+) -->\\s*```go\n(.*?)```")
	runBlock   = regexp.MustCompile("(?s)<!-- quickstart: run -->\\s*```sh\n(.*?)```")
)

// TestREADMEQuickStart copies the README's quick start, as it is, into a
// new module that uses this one through a replace directive, and runs it:
// the host and the plugin, in the order the README gives and the other
// way round. Only the port is changed, to a free one, which both runs use.
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
	readmeBytes, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	readme := string(readmeBytes)
	blocks := quickstart.FindAllStringSubmatch(readme, -1)
	require.Len(t, blocks, 2, "the README's quick start has a host and a plugin")
	run := runBlock.FindStringSubmatch(readme)
	require.NotNil(t, run, "the README says how to run the quick start")
	require.Contains(t, run[1], "go run ./host")
	require.Contains(t, run[1], "PLUGSOCK_ADDR=127.0.0.1:7700 go run ./plugin", "the plugin is told where the host listens")

	// The host listens where the README says, changed to a free port;
	// the plugin is told that port the way the README tells it.
	addr := freeAddr(t)
	dir := t.TempDir()
	for _, b := range blocks {
		if b[1] == "host/main.go" {
			require.Contains(t, b[2], `"127.0.0.1:7700"`, b[1])
		}
		src := strings.ReplaceAll(b[2], `"127.0.0.1:7700"`, `"`+addr+`"`)
		path := filepath.Join(dir, b[1])
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	}
	gomod := "module quickstart\n\ngo 1.25\n\nrequire github.com/plugsock/plugsock v0.0.0\n\nreplace github.com/plugsock/plugsock => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	// The new module needs the same checksums as this one, and with
	// GOPROXY=off it cannot ask the checksum database for them.
	sums, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644))

	gocmd := func(args ...string) {
		t.Helper()
		run := func(env ...string) ([]byte, error) {
			cmd := exec.Command(goTool, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), append([]string{"GOFLAGS=-mod=mod", "GOWORK=off"}, env...)...)
			return cmd.CombinedOutput()
		}
		// What is needed is usually in the module cache already, and then
		// nothing is fetched. But go mod tidy wants the go.mod files of
		// the dependencies' own test dependencies too, which a machine
		// that has only built this module lacks: those come from the
		// module proxy this machine is set up with.
		out, err := run("GOPROXY=off")
		if err != nil && strings.Contains(string(out), "lookup disabled by GOPROXY=off") {
			out, err = run()
		}
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	}
	gocmd("mod", "tidy")
	gocmd("build", "-o", "bin/", "./host", "./plugin")

	t.Run("host first", func(t *testing.T) {
		host, hostOut := start(t, filepath.Join(dir, "bin", "host"))
		hostOut.WaitFor(t, "waiting for the greeter plugin...", 30*time.Second)
		plugin, pluginOut := start(t, filepath.Join(dir, "bin", "plugin"), "PLUGSOCK_ADDR="+addr)

		require.NoError(t, host.Wait(), "host:\n%s", hostOut)
		require.NoError(t, plugin.Wait(), "the plugin exits 0 when the host shuts down; plugin:\n%s", pluginOut)
		assert.Contains(t, hostOut.String(), "\nhello, world\n")
		assert.Empty(t, pluginOut.String())
	})

	t.Run("plugin first", func(t *testing.T) {
		plugin, pluginOut := start(t, filepath.Join(dir, "bin", "plugin"), "PLUGSOCK_ADDR="+addr)
		pluginOut.WaitFor(t, "cannot reach the host yet; retrying", 30*time.Second)
		host, hostOut := start(t, filepath.Join(dir, "bin", "host"))

		require.NoError(t, host.Wait(), "host:\n%s", hostOut)
		require.NoError(t, plugin.Wait(), "the plugin exits 0 when the host shuts down; plugin:\n%s", pluginOut)
		assert.Contains(t, hostOut.String(), "\nhello, world\n")
		for _, line := range strings.Split(strings.TrimSpace(pluginOut.String()), "\n") {
			assert.Contains(t, line, "INFO plugsock: cannot reach the host yet; retrying", "the plugin only said it was waiting")
		}
	})
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// start starts bin with extra environment, its standard output and error
// collected, and kills it at the end of the test if it is still running.
func start(t *testing.T, bin string, env ...string) (*exec.Cmd, *exampletest.Output) {
	t.Helper()
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGSOCK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out := new(exampletest.Output)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, out
}
