package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/plugin"
)

// logBuffer collects JSON log lines written by serve.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns every log record so far.
func (l *logBuffer) records(t *testing.T) []map[string]any {
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "log line %q", sc.Text())
		out = append(out, rec)
	}
	return out
}

// find returns the first record with message msg whose attributes include
// attrs, or nil.
func (l *logBuffer) find(t *testing.T, msg string, attrs map[string]any) map[string]any {
next:
	for _, rec := range l.records(t) {
		if rec["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if rec[k] != v {
				continue next
			}
		}
		return rec
	}
	return nil
}

// waitFor waits for a record like find's.
func (l *logBuffer) waitFor(t *testing.T, msg string, attrs map[string]any) map[string]any {
	t.Helper()
	var rec map[string]any
	require.Eventually(t, func() bool {
		rec = l.find(t, msg, attrs)
		return rec != nil
	}, 10*time.Second, 5*time.Millisecond, "no log record %q %v in:\n%s", msg, attrs, &l.b)
	return rec
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs "plugsock serve args..." in-process until the returned
// stop function is called, which returns its exit status.
func startServe(t *testing.T, args ...string) (logs *logBuffer, stop func() int) {
	t.Helper()
	logs = new(logBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout strings.Builder
	go func() {
		done <- run(ctx, append([]string{"serve", "--log-format", "json"}, args...), &stdout, logs)
	}()
	stopped := false
	var code int
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return logs, stop
}

func TestServe(t *testing.T) {
	logs, stop := startServe(t, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	addr := logs.waitFor(t, "plugsock: socket listening", nil)["addr"].(string)
	logs.waitFor(t, "plugsock: admin API listening", nil)

	// A plugin dials in, makes a change and so pushes async data.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	store := new(kv.Store)
	p := &plugin.Plugin{Logger: quiet}
	connected := make(chan struct{})
	p.OnConnect = func(string) { close(connected) }
	started := make(chan error, 1)
	go func() { started <- p.Start(store, &envelope.PluginInfo{Name: "kv", Version: "1.0.0"}, conn, nil) }()
	<-connected
	logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": "kv", "version": "1.0.0"})
	_, err = store.Set(context.Background(), kv.Entry{Key: "k", Value: "v"})
	require.NoError(t, err)
	rec := logs.waitFor(t, "plugsock: async", map[string]any{"plugin": "kv"})
	assert.Equal(t, `{"key": "k", "op": "set", "value": "v"}`, rec["payload"])

	assert.Equal(t, exitOK, stop())
	assert.NoError(t, <-started, "the plugin was unplugged in good order")
	assert.NotNil(t, logs.find(t, "plugsock: disconnected", map[string]any{"plugin": "kv", "graceful": true}), logs)
	assert.NotNil(t, logs.find(t, "plugsock: stopped", nil), logs)
	for _, rec := range logs.records(t) {
		assert.NotEqual(t, "ERROR", rec["level"], "%v", rec)
	}
}

func TestServeUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugsock.sock")
	logs, stop := startServe(t, "--listen", "unix:"+path, "--admin", "off")
	rec := logs.waitFor(t, "plugsock: socket listening", nil)
	assert.Equal(t, "unix:"+path, rec["addr"])
	assert.Nil(t, logs.find(t, "plugsock: admin API listening", nil), "--admin off serves no admin API")

	conn, err := net.Dial("unix", path)
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() {
		started <- (&plugin.Plugin{Logger: quiet}).Start(new(kv.Store), &envelope.PluginInfo{Name: "kv"}, conn, nil)
	}()
	logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": "kv"})
	assert.Equal(t, exitOK, stop())
	assert.NoError(t, <-started)
}

func TestServeListenFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	code, _, errOut := runCLI(t, "serve", "--listen", l.Addr().String())
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "plugsock serve: listen tcp "+l.Addr().String()+": bind: address already in use")

	code, _, errOut = runCLI(t, "serve", "--listen", "127.0.0.1:0", "--admin", l.Addr().String())
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "plugsock serve: admin API: listen tcp "+l.Addr().String())
}
