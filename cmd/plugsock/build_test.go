package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// buildPlugsock builds this command once per test run and returns the
// path of the executable.
func buildPlugsock(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "plugsock-test-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "plugsock")
		if runtime.GOOS == "windows" {
			built.bin += ".exe"
		}
		built.out, built.err = exec.Command(goTool, "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("building plugsock: %v\n%s", built.err, built.out)
	}
	return built.bin
}

func removeBuilt() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
