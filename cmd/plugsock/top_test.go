package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/calc/calc"
	"github.com/plugsock/plugsock/socket"
)

// fakeTop stands in for the admin API: it answers Stats with its samples
// in turn, the last again once they run out.
type fakeTop struct {
	mu       sync.Mutex
	samples  []*admin.Stats
	exits    []socket.Exit
	errs     map[int]error // by call of Stats, from 1
	calls    int
	cancel   func() // called on the call of Stats numbered cancelAt
	cancelAt int
}

func (f *fakeTop) Stats(context.Context) (*admin.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == f.cancelAt && f.cancel != nil {
		f.cancel()
	}
	if err := f.errs[f.calls]; err != nil {
		return nil, err
	}
	i := min(f.calls, len(f.samples)) - 1
	return f.samples[i], nil
}

func (f *fakeTop) Exits(context.Context) ([]socket.Exit, error) { return f.exits, nil }

// useTop makes top talk to f, and says whether its stdout is a terminal.
func useTop(t *testing.T, f *fakeTop, terminal bool) {
	t.Helper()
	t.Setenv("PLUGSOCK_ADMIN", "")
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "")
	oldAPI, oldTerm := newTopAPI, topTerminal
	newTopAPI = func(adminConfig) topAPI { return f }
	topTerminal = func(io.Writer) bool { return terminal }
	t.Cleanup(func() { newTopAPI, topTerminal = oldAPI, oldTerm })
}

// topAt is the time of the fake samples.
var topAt = time.Date(2026, 12, 2, 1, 30, 0, 0, time.UTC)

// counts makes a CallCounts with ok and failed calls, timed in buckets
// (index: count).
func topCounts(ok, failed uint64, buckets map[int]uint64) socket.CallCounts {
	c := socket.CallCounts{Outcomes: map[string]uint64{"ok": ok}, Durations: make([]uint64, 15)}
	if failed > 0 {
		c.Outcomes["method_error"] = failed
	}
	for i, n := range buckets {
		c.Durations[i] = n
	}
	return c
}

var topBounds = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// topSamples are two answers of GET /api/stats two seconds apart: calc
// made 100 calls in between, 10 of them failed, 50 within 1ms and 50
// between 10 and 25ms; kv, gone, made none.
func topSamples() []*admin.Stats {
	health := []socket.Health{
		{Plugin: "calc", Status: envelope.Healthy, Checks: true},
		{Plugin: "calc@2.0.0", Status: envelope.Degraded, Checks: true},
	}
	first := &admin.Stats{CallStats: socket.CallStats{At: topAt, Bounds: topBounds, Plugins: []socket.PluginCalls{
		{Plugin: "calc", Connections: 2, Calls: topCounts(200, 20, map[int]uint64{1: 220})},
		{Plugin: "kv", Calls: topCounts(12, 0, map[int]uint64{0: 12}), Restarts: 2},
	}}, Health: health}
	second := &admin.Stats{CallStats: socket.CallStats{At: topAt.Add(2 * time.Second), Bounds: topBounds, Plugins: []socket.PluginCalls{
		{Plugin: "calc", Connections: 2, Calls: topCounts(290, 30, map[int]uint64{1: 270, 5: 50})},
		{Plugin: "kv", Calls: topCounts(12, 0, map[int]uint64{0: 12}), Restarts: 2},
	}}, Health: health}
	return []*admin.Stats{first, second}
}

var topExitsSample = []socket.Exit{
	{Plugin: "kv", PID: 41, At: topAt.Add(-time.Minute), Status: "exited with code 2", Code: 2, Next: "restarting in 200ms"},
	{Plugin: "kv", PID: 42, At: topAt.Add(-time.Second), Status: "killed by signal 9 (SIGKILL)", Code: -1, Next: "restarting in 1.2s"},
}

func TestTopOnce(t *testing.T) {
	f := &fakeTop{samples: topSamples(), exits: topExitsSample}
	useTop(t, f, false)
	code, out, errOut := runCLI(t, "top", "--once", "--interval", "10ms", "--admin", "127.0.0.1:7701")
	require.Equal(t, exitOK, code, errOut)
	assert.Empty(t, errOut)
	assert.Equal(t, 2, f.calls, "two samples, an interval apart")
	assert.NotContains(t, out, "\x1b", "no terminal controls when stdout is not a terminal")

	clock := func(d time.Duration) string { return topAt.Add(d).Local().Format("15:04:05") }
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 9, out)
	assert.Equal(t, "plugsock top · http://127.0.0.1:7701 · "+clock(2*time.Second)+", every 10ms", lines[0])
	assert.Equal(t, "1 plugin connected, 1 gone", lines[1])
	assert.Empty(t, lines[2])
	// 100 calls in 2s, 10 of them failed; of the 100, 50 took at most
	// 1ms (p50: the top of that bucket) and 50 between 10 and 25ms (p99:
	// 49/50 of the way up that one). calc's health is the worst of its
	// versions'. kv made no call, so has no percentile, and it is gone,
	// so has no health.
	table := lines[3:6]
	assert.Equal(t, []string{"PLUGIN", "CONN", "HEALTH", "CALLS/S", "ERRORS/S", "P50", "P99", "CALLS", "RESTARTS"}, strings.Fields(table[0]))
	assert.Equal(t, []string{"calc", "2", "degraded", "50.0", "5.0", "1.00ms", "24.7ms", "320", "0"}, strings.Fields(table[1]))
	assert.Equal(t, []string{"kv", "0", "-", "0.0", "0.0", "-", "-", "12", "2"}, strings.Fields(table[2]))
	// Numbers are aligned to the right: every line ends in the same
	// column.
	for _, l := range table {
		assert.Len(t, l, len(table[0]), "%q", l)
	}
	assert.Equal(t, "PLUGIN  CONN  HEALTH    CALLS/S  ERRORS/S     P50     P99  CALLS  RESTARTS", table[0])
	assert.Equal(t, "calc       2  degraded     50.0       5.0  1.00ms  24.7ms    320         0", table[1])
	assert.Empty(t, lines[6])
	assert.Equal(t, "Last exits:", lines[7])
	// One a plugin: kv's last.
	assert.Equal(t, []string{"kv", "pid", "42", clock(-time.Second), "killed", "by", "signal", "9", "(SIGKILL)", "restarting", "in", "1.2s"}, strings.Fields(lines[8]))
	assert.True(t, strings.HasPrefix(lines[8], "  kv  pid 42  "), "%q", lines[8])
}

func TestTopJSON(t *testing.T) {
	f := &fakeTop{samples: topSamples(), exits: topExitsSample}
	useTop(t, f, true) // --json never redraws
	code, out, errOut := runCLI(t, "top", "--once", "--json", "--interval", "10ms")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, 1, strings.Count(out, "\n"), "one line: %s", out)
	var v struct {
		At      time.Time `json:"at"`
		Plugins []struct {
			Plugin          string   `json:"plugin"`
			Connections     int      `json:"connections"`
			Health          string   `json:"health"`
			CallsPerSecond  *float64 `json:"callsPerSecond"`
			ErrorsPerSecond *float64 `json:"errorsPerSecond"`
			P50             *float64 `json:"p50Seconds"`
			P99             *float64 `json:"p99Seconds"`
			Calls           uint64   `json:"calls"`
			Failed          uint64   `json:"failed"`
			Restarts        uint64   `json:"restarts"`
		} `json:"plugins"`
		Exits []socket.Exit `json:"exits"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.True(t, v.At.Equal(topAt.Add(2*time.Second)))
	require.Len(t, v.Plugins, 2)
	c := v.Plugins[0]
	assert.Equal(t, "calc", c.Plugin)
	assert.Equal(t, "degraded", c.Health)
	require.NotNil(t, c.CallsPerSecond)
	assert.InDelta(t, 50, *c.CallsPerSecond, 1e-9)
	assert.InDelta(t, 5, *c.ErrorsPerSecond, 1e-9)
	assert.InDelta(t, .001, *c.P50, 1e-12)
	assert.InDelta(t, .0247, *c.P99, 1e-12)
	assert.Equal(t, uint64(320), c.Calls)
	assert.Equal(t, uint64(30), c.Failed)
	kv := v.Plugins[1]
	assert.Nil(t, kv.P50)
	assert.Equal(t, uint64(2), kv.Restarts)
	require.Len(t, v.Exits, 1)
	assert.Equal(t, 42, v.Exits[0].PID)
}

// Not on a terminal, top prints a view every interval, a blank line
// between two, until interrupted; the first has no rates yet.
func TestTopPrintsAViewEveryInterval(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	samples := topSamples()
	third := *samples[1]
	third.At = third.At.Add(time.Second)
	f := &fakeTop{samples: append(samples, &third), cancel: cancel, cancelAt: 4}
	useTop(t, f, false)
	var out, errb strings.Builder
	code := run(ctx, []string{"top", "--interval", "10ms"}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	assert.Empty(t, errb.String())
	views := strings.Split(out.String(), "\n\nplugsock top · ")
	require.Len(t, views, 3, out.String())
	assert.True(t, strings.HasPrefix(views[0], "plugsock top · "))
	assert.NotContains(t, out.String(), "\x1b")
	row := func(view, plugin string) []string {
		for _, l := range strings.Split(view, "\n") {
			if fs := strings.Fields(l); len(fs) > 0 && fs[0] == plugin {
				return fs
			}
		}
		t.Fatalf("no row of %s in %q", plugin, view)
		return nil
	}
	assert.Equal(t, []string{"calc", "2", "degraded", "-", "-", "-", "-", "220", "0"}, row(views[0], "calc"), "no rates before a second sample")
	assert.Equal(t, "50.0", row(views[1], "calc")[3])
	// The same counts a second later: nothing happened in between.
	assert.Equal(t, []string{"calc", "2", "degraded", "0.0", "0.0", "-", "-", "320", "0"}, row(views[2], "calc"))
}

// On a terminal, each view is drawn over the last: the cursor is moved
// home and the screen cleared first.
func TestTopRedrawsInPlaceOnATerminal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeTop{samples: topSamples(), cancel: cancel, cancelAt: 3}
	useTop(t, f, true)
	var out, errb strings.Builder
	code := run(ctx, []string{"top", "--interval", "10ms"}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	views := strings.Split(out.String(), "\x1b[H\x1b[2J")
	require.Len(t, views, 3, "%q", out.String())
	assert.Empty(t, views[0], "the screen is cleared before the first view")
	for _, v := range views[1:] {
		assert.True(t, strings.HasPrefix(v, "plugsock top · "), "%q", v)
		assert.NotContains(t, v, "\n\nplugsock top")
	}
}

// A request that fails once top is running is reported and tried again;
// the first one failing, or a refused token, ends it.
func TestTopFailures(t *testing.T) {
	t.Run("later", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := &fakeTop{samples: topSamples(), errs: map[int]error{2: errors.New("admin: connection reset")}, cancel: cancel, cancelAt: 4}
		useTop(t, f, false)
		var out, errb strings.Builder
		code := run(ctx, []string{"top", "--interval", "10ms"}, &out, &errb)
		assert.Equal(t, exitOK, code)
		assert.Equal(t, "plugsock top: admin: connection reset; trying again\n", errb.String())
		assert.Equal(t, 2, strings.Count(out.String(), "plugsock top · "), "the views of the first and third samples")
	})
	t.Run("on a terminal", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := &fakeTop{samples: topSamples(), errs: map[int]error{2: errors.New("admin: connection reset")}, cancel: cancel, cancelAt: 3}
		useTop(t, f, true)
		var out, errb strings.Builder
		code := run(ctx, []string{"top", "--interval", "10ms"}, &out, &errb)
		assert.Equal(t, exitOK, code)
		assert.Empty(t, errb.String())
		views := strings.Split(out.String(), "\x1b[H\x1b[2J")
		require.Len(t, views, 3)
		lines := strings.Split(views[2], "\n")
		assert.Equal(t, "admin: connection reset; trying again", lines[1], "the last view stays, with what went wrong")
		assert.Contains(t, views[2], "\ncalc ")
	})
	t.Run("first", func(t *testing.T) {
		f := &fakeTop{samples: topSamples(), errs: map[int]error{1: errors.New("admin: connection reset")}}
		useTop(t, f, false)
		code, out, errOut := runCLI(t, "top", "--interval", "10ms")
		assert.Equal(t, exitFail, code)
		assert.Empty(t, out)
		assert.Equal(t, "plugsock top: admin: connection reset\n", errOut)
	})
	t.Run("token", func(t *testing.T) {
		f := &fakeTop{samples: topSamples(), errs: map[int]error{2: &admin.APIError{Status: 401, Message: "the admin token is wrong"}}}
		useTop(t, f, false)
		code, _, errOut := runCLI(t, "top", "--interval", "10ms", "--admin-token", "nope")
		assert.Equal(t, exitFail, code)
		assert.Equal(t, "plugsock top: the admin API at http://127.0.0.1:7701 refused the token from --admin-token; "+
			"set --admin-token or $PLUGSOCK_ADMIN_TOKEN to the token 'plugsock serve' printed\n", errOut)
	})
	t.Run("usage", func(t *testing.T) {
		useTop(t, &fakeTop{samples: topSamples()}, false)
		code, _, errOut := runCLI(t, "top", "--interval", "0s")
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, errOut, "--interval must be positive")
		code, _, errOut = runCLI(t, "top", "calc")
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, errOut, "too many arguments")
	})
}

// top against a real host: a socket with calc, its admin API in front.
func TestTopAgainstAHost(t *testing.T) {
	var s socket.Socket
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet})
	a := admin.New(&s, admin.Config{Logger: quiet, Token: "t0ken"})
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		a.Close()
		require.NoError(t, s.Shutdown(""))
		srv.Close()
	})
	got, err := s.Attach(new(calc.Calc), &envelope.PluginInfo{Name: calc.Name, Version: calc.Version})
	require.NoError(t, err)
	require.Equal(t, "calc", got)
	for i := range 5 {
		require.NoError(t, s.CallContext(context.Background(), "calc", "Add", calc.Args{A: float64(i), B: 1}, nil))
	}
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "")

	code, out, errOut := runCLI(t, "top", "--once", "--interval", "100ms", "--admin", srv.URL, "--admin-token", "t0ken")
	require.Equal(t, exitOK, code, errOut)
	assert.Empty(t, errOut)
	var calcRow []string
	for _, l := range strings.Split(out, "\n") {
		if fs := strings.Fields(l); len(fs) > 0 && fs[0] == "calc" {
			calcRow = fs
		}
	}
	assert.Equal(t, []string{"calc", "1", "-", "0.0", "0.0", "-", "-", "5", "0"}, calcRow, out)
	assert.Contains(t, out, "\n1 plugin connected\n")

	code, _, errOut = runCLI(t, "top", "--once", "--interval", "10ms", "--admin", srv.URL)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "needs a token")

	srv.Close()
	code, _, errOut = runCLI(t, "top", "--once", "--interval", "10ms", "--admin", srv.URL, "--admin-token", "t0ken")
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "cannot reach the admin API at "+srv.URL)
}
