package admin_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsoleE2E drives the web console in a real headless Chromium (see
// e2e/console.mjs). It runs only when PLUGSOCK_E2E is set, and needs node,
// Debian's chromium (or $PLUGSOCK_CHROMIUM) and `npm ci` in admin/e2e.
// PLUGSOCK_E2E_SCREENSHOT=file.png saves a picture of the console at the
// end.
func TestConsoleE2E(t *testing.T) {
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
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core")); err != nil {
		t.Fatal("browser test: playwright-core is missing; run `npm ci` in admin/e2e")
	}

	e := newEnv(t)
	e.forward()
	e.attach(newCalc(), "calc", "1.0.0")
	e.dial(Greeter{}, "greeter", "0.3.0")

	args := []string{filepath.Join("e2e", "console.mjs"), e.ts.URL + "/",
		"--late", "late", "--unplug", "greeter", "--artifacts", filepath.Join("e2e", "artifacts")}
	if shot := os.Getenv("PLUGSOCK_E2E_SCREENSHOT"); shot != "" {
		args = append(args, "--screenshot", shot)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), "PLUGSOCK_CHROMIUM="+browser, "FORCE_COLOR=0", "NO_COLOR=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The script says when it is ready to watch a plugin connect; the
	// plugin connects only then, so the page sees it come.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if name, ok := strings.CutPrefix(line, "waiting-for "); ok {
			e.attach(Greeter{}, name, "0.0.1")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser test failed (%v):\n%s", err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Log(s)
	}
}
