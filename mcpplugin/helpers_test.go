package mcpplugin_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(afterAll{m})
}

type afterAll struct{ m *testing.M }

func (a afterAll) Run() int {
	code := a.m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	return code
}

// built holds the test servers under testdata, each built once per test
// binary.
var built struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// binary builds testdata/name, once, and returns the executable's path.
func binary(t testing.TB, name string) string {
	t.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if p, ok := built.bins[name]; ok {
		return p
	}
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "plugsock-mcpplugin-")
		require.NoError(t, err)
		built.dir, built.bins = dir, map[string]string{}
	}
	p := filepath.Join(built.dir, name)
	out, err := exec.Command("go", "build", "-o", p, "./testdata/"+name).CombinedOutput()
	require.NoError(t, err, "building testdata/%s:\n%s", name, out)
	built.bins[name] = p
	return p
}

// logBuffer is a socket's log, to wait for lines in.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the logged lines that hold every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	var out []string
	for line := range strings.Lines(b.String()) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// wait waits for a line that holds every one of parts.
func (b *logBuffer) wait(t *testing.T, parts ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return len(b.lines(parts...)) > 0 }, 20*time.Second, 5*time.Millisecond,
		"no log line with %q in:\n%s", parts, b)
}

// newSocket is a socket serving loopback TCP, checking payloads against
// the schemas, whose log the test reads. It is shut down at the end.
func newSocket(t *testing.T) (*socket.Socket, *logBuffer) {
	t.Helper()
	logs := new(logBuffer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), Validation: true, ValidateOutput: true})
	t.Cleanup(func() { _ = s.Shutdown("") })
	return s, logs
}

// fast keeps restarts and stops quick in tests.
var fast = socket.LaunchConfig{RestartBackoff: 5 * time.Millisecond, RestartMaxDelay: 50 * time.Millisecond, StopGrace: 2 * time.Second}

// disconnects records the socket's disconnect callbacks.
func disconnects(s *socket.Socket) chan string {
	ch := make(chan string, 64)
	s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		ch <- fmt.Sprintf("%s graceful=%v", info.Name, graceful)
	})
	return ch
}

// pidOf asks a server for its process id (its tool pid).
func pidOf(t *testing.T, s *socket.Socket, name string) int {
	t.Helper()
	var out struct {
		Pid int `json:"pid"`
	}
	require.NoError(t, s.CallContext(t.Context(), name, "pid", nil, &out))
	require.NotZero(t, out.Pid)
	return out.Pid
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		var zero T
		t.Fatalf("timed out waiting for %s", what)
		return zero
	}
}
