package plugintest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(afterAll{m}) }

type afterAll struct{ m *testing.M }

func (a afterAll) Run() int {
	code := a.m.Run()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	return code
}

// builds holds the test plugins built from testdata, once per test binary.
var builds struct {
	mu    sync.Mutex
	dir   string
	paths map[string]string
}

// bin builds testdata/name once and returns the executable's path.
func bin(t *testing.T, name string) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if p, ok := builds.paths[name]; ok {
		return p
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "plugintest-")
		require.NoError(t, err)
		builds.dir, builds.paths = dir, make(map[string]string)
	}
	path := filepath.Join(builds.dir, name)
	out, err := exec.Command("go", "build", "-o", path, "./testdata/"+name).CombinedOutput()
	require.NoError(t, err, "building testdata/%s:\n%s", name, out)
	builds.paths[name] = path
	return path
}
