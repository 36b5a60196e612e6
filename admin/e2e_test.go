package admin_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// launchedEnv makes the test binary a plugin program, for the tests that
// launch one (socket.Launch) and kill it: started with launchedEnv=NAME,
// it writes "NAME: serving as pid N" to its standard error and serves a
// Greeter called NAME until the host stops it, instead of running the
// tests.
const launchedEnv = "ADMIN_TEST_LAUNCHED_PLUGIN" // not PLUGSOCK_: Launch leaves those out

func init() {
	name := os.Getenv(launchedEnv)
	if name == "" {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: serving as pid %d\n", name, os.Getpid())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := plugin.Run(ctx, Greeter{}, &envelope.PluginInfo{Name: name, Version: "1.0.0"})
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// launch starts the test binary as the plugin called name, restarted
// quickly when it exits, and returns its command: cmd.Process is its
// first process.
func (e *env) launch(name string) *exec.Cmd {
	e.t.Helper()
	exe, err := os.Executable()
	require.NoError(e.t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), launchedEnv+"="+name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := e.s.Launch(ctx, cmd, socket.LaunchConfig{RestartBackoff: 10 * time.Millisecond, RestartMaxDelay: 100 * time.Millisecond, StopGrace: 2 * time.Second})
	require.NoError(e.t, err)
	require.Equal(e.t, name, got)
	return cmd
}

// calling makes calls to the Calc called name, every 10ms, Add and Div
// by zero in turn, so that half of them fail, until the returned function
// is called.
func (e *env) calling(name string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			method := "Add"
			if i%2 == 1 {
				method = "Div"
			}
			_ = e.s.CallContext(ctx, name, method, map[string]int{"a": i, "b": 0}, nil)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// e2eTools returns node and Chromium for a browser test, or skips it: the
// tests run only when PLUGSOCK_E2E is set, and need node, Debian's chromium
// (or $PLUGSOCK_CHROMIUM) and `npm ci` in admin/e2e.
func e2eTools(t *testing.T) (node, browser string) {
	t.Helper()
	if os.Getenv("PLUGSOCK_E2E") == "" {
		t.Skip("browser test: set PLUGSOCK_E2E=1 to run it")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("browser test: node is not installed")
	}
	browser = os.Getenv("PLUGSOCK_CHROMIUM")
	if browser == "" {
		browser = "/usr/bin/chromium"
	}
	if _, err := os.Stat(browser); err != nil {
		t.Skipf("browser test: no chromium at %s (apt-get install chromium)", browser)
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core")); err != nil {
		t.Fatal("browser test: playwright-core is missing; run `npm ci` in admin/e2e")
	}
	return node, browser
}

// runNode runs a browser test script and calls onLine for each line it
// prints; it fails the test when the script fails.
func runNode(t *testing.T, node, browser string, args []string, onLine func(string)) {
	t.Helper()
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
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		t.Log(sc.Text())
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser test failed (%v):\n%s", err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Log(s)
	}
}

// Audit subscribes to every event of the topic orders and acknowledges
// each.
type Audit struct{}

func (*Audit) Subscriptions() []plugin.Subscription {
	return []plugin.Subscription{{Name: "audit", Function: "Deliver", Filter: eventlog.Filter{Topic: "orders"}}}
}

func (*Audit) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	for {
		it, err := in.Recv(ctx)
		if err != nil {
			return nil
		}
		_ = in.Ack(it.Seq)
	}
}

// TestConsoleE2E drives the web console in a real headless Chromium (see
// e2e/console.mjs), opened with its token in the URL as plugsock serve
// prints it. PLUGSOCK_E2E_SCREENSHOT=file.png saves a picture of the
// console at the end.
func TestConsoleE2E(t *testing.T) {
	node, browser := e2eTools(t)
	// Health is checked often, so that the page sees a badge change soon.
	e := newEnvOf(t, socket.Config{HealthInterval: 50 * time.Millisecond}, []admin.Option{admin.Config{Logger: quiet, Token: testToken}})
	e.forward()
	e.attach(newCalc(), "calc", "1.0.0")
	checked := new(Checked)
	e.attach(checked, "checked", "1.0.0")
	e.dial(Greeter{}, "greeter", "0.3.0")
	const odd = "odd%#?+ü日"
	e.attach(Greeter{}, odd, "1.0.0")
	e.dialBooking("booking")
	e.attach(Ticks{}, "ticks", "1.0.0")
	e.attach(newCalc(), "busy", "1.0.0")
	worker := e.launch("worker")
	// Events the page sees in the store: three, delivered to a
	// subscriber that acknowledges them.
	e.attach(&Audit{}, "audit", "1.0.0")
	for i := range 3 {
		_, err := e.s.Publish(context.Background(), "orders", eventlog.Event{Type: "order", Data: json.RawMessage(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	// A stream the page watches: read slowly, so that its counts move
	// while it looks.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := e.s.OpenStream(ctx, "ticks", "Count", nil)
	require.NoError(t, err)
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			it, err := st.Recv(ctx)
			if err != nil {
				return
			}
			_ = st.Ack(it.Seq)
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); <-reading }()

	args := []string{filepath.Join("e2e", "console.mjs"), e.ts.URL + "/?token=" + testToken,
		"--late", "late", "--unplug", "greeter", "--odd", odd, "--schemas", "booking", "--stream", "ticks", "--health", "checked",
		"--charts", "busy", "--crash", "worker", "--topic", "orders", "--artifacts", filepath.Join("e2e", "artifacts")}
	// The script says when it is ready to watch a plugin connect; the
	// plugin connects only then, so the page sees it come. Likewise it
	// says when to change the checked plugin's health: to unhealthy, then
	// back.
	// It says when to start making calls, for the charts to move, and
	// when to stop; and when to SIGKILL the launched plugin.
	flips := []plugin.Health{{Status: plugin.Unhealthy, Message: "database unreachable"}, {Status: plugin.Healthy, Message: "recovered"}}
	stopCalls := func() {}
	defer func() { stopCalls() }()
	var started, killed bool
	runNode(t, node, browser, args, func(line string) {
		if name, ok := strings.CutPrefix(line, "waiting-for "); ok {
			e.attach(Greeter{}, name, "0.0.1")
		}
		if line == "flip-health checked" && len(flips) > 0 {
			checked.set(flips[0].Status, flips[0].Message)
			flips = flips[1:]
		}
		switch line {
		case "start-calls busy":
			stopCalls, started = e.calling("busy"), true
		case "stop-calls busy":
			stopCalls()
		case "kill worker":
			// SIGKILL, on Unix.
			killed = assert.NoError(t, worker.Process.Kill())
		}
	})
	assert.Empty(t, flips, "the script got to every change of health")
	assert.True(t, started, "the script got to the charts")
	assert.True(t, killed, "the script got to the kill")
	exits := e.s.Exits()
	if assert.NotEmpty(t, exits) {
		assert.Equal(t, worker.Process.Pid, exits[0].PID)
		assert.Equal(t, "killed by signal 9 (SIGKILL)", exits[0].Status)
	}
}

// logRecords collects the JSON log records of a Server.
type logRecords struct{ testplugins.Log }

func (l *logRecords) all(t *testing.T) []map[string]any {
	recs, err := l.Records()
	require.NoError(t, err)
	return recs
}

// TestRebindingE2E is issue 9 B8 in a real Chromium: a page at
// http://evil.example:PORT, its name re-resolved to 127.0.0.1
// (--host-resolver-rules), could call a plugin function and read the
// plugin list. Now every request it makes is refused for its Host, even
// with the token, and its cross-site requests to 127.0.0.1 (an <img>, a
// no-cors POST: issue 9 A1) are refused as cross-origin. See
// e2e/rebinding.mjs.
func TestRebindingE2E(t *testing.T) {
	node, browser := e2eTools(t)
	logs := new(logRecords)
	e := newEnv(t, admin.Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.forward()
	v := new(Victim)
	e.attach(v, "victim", "1.0.0")

	crossSite := false
	runNode(t, node, browser, []string{filepath.Join("e2e", "rebinding.mjs"), e.ts.URL + "/?token=" + testToken,
		"--victim", "victim", "--artifacts", filepath.Join("e2e", "artifacts")}, func(line string) {
		crossSite = crossSite || line == "cross-site requests sent"
	})
	require.True(t, crossSite, "the script did not get to the cross-site requests")

	assert.Equal(t, int64(0), v.calls.Load(), "a page elsewhere called the plugin")
	assert.NotNil(t, e.s.PluginInfo("victim"), "the plugin is still connected")
	refused := map[string]float64{} // path -> status, of requests refused
	hosts := 0
	for _, rec := range logs.all(t) {
		if rec["msg"] != "plugsock admin: request failed" {
			continue
		}
		msg, _ := rec["message"].(string)
		path, _ := rec["path"].(string)
		refused[path], _ = rec["status"].(float64)
		if strings.Contains(msg, `host "evil.example:`) {
			hosts++
		}
		if strings.HasSuffix(path, "/openrpc") || strings.HasSuffix(path, "/call/Hit") {
			if status := rec["status"].(float64); status == 403 && strings.Contains(msg, "cross-origin") {
				refused[path+" cross-origin"] = status
			}
		}
	}
	assert.GreaterOrEqual(t, hosts, 12, "every rebound request was refused for its host")
	assert.Contains(t, refused, "/api/plugins/victim/openrpc cross-origin", "the <img> was refused as cross-origin: %v", refused)
	assert.Contains(t, refused, "/api/plugins/victim/call/Hit cross-origin", "the no-cors POST was refused as cross-origin: %v", refused)
}
