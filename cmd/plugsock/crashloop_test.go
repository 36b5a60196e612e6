package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/internal/crashloop"
)

// The crash loop of issue 16 on eventlog/bolt: plugsock serve --data,
// built and run as a process, killed with SIGKILL five times at random
// moments while events are published through its admin API and a
// recorder plugin process consumes them.
func TestCrashLoopOnBolt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills processes for a while")
	}
	bin := filepath.Join(t.TempDir(), "plugsock")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building plugsock: %v\n%s", err, out)
	}
	res := crashloop.Run(t, crashloop.Config{
		Recorder: crashloop.BuildRecorder(t),
		Host: func(dir, listen, admin, token string) *exec.Cmd {
			return exec.Command(bin, "serve", "--data", dir, "--listen", listen, "--admin", admin,
				"--admin-token", token, "--mcp=false", "--log-level", "warn")
		},
	})
	assert.GreaterOrEqual(t, res.Published, 400)
	assert.GreaterOrEqual(t, res.Offsets, res.Published)
}
