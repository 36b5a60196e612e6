package socket_test

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/socket"
)

func TestMaxPluginsRefusesTheHandshake(t *testing.T) {
	var logs logBuffer
	h := newHost(t, "tcp", socket.Config{MaxPlugins: 2, Logger: logs.logger()})
	h.plug(newCalc(), "a")
	h.plug(newCalc(), "b")

	conn, err := net.Dial("tcp", h.addr.String())
	require.NoError(t, err)
	err = h.pluginOn(conn, "c")
	assert.ErrorIs(t, err, envelope.ErrOverloaded)
	assert.ErrorContains(t, err, "socket is full: 2 plugins connected, the limit")
	logs.waitFor(t, 1, "handshake refused", "socket is full")
	assert.Nil(t, h.s.PluginInfo("c"))

	h.s.Unplug("", "a")
	h.plug(newCalc(), "c")
	assert.Len(t, h.s.Connected(false), 2)
}

// TestWriteTimeoutIsolatesAPluginThatStopsReading: calls to a plugin that
// stopped reading block in the write until the write timeout cuts it off;
// meanwhile every other plugin answers as usual.
func TestWriteTimeoutIsolatesAPluginThatStopsReading(t *testing.T) {
	const writeTimeout = 2 * time.Second // a margin for the calls to "good" below
	// The frame limit is raised so that the 4 MiB calls below are sent:
	// over it they would be refused before a byte was written.
	h := newHost(t, "tcp", socket.Config{WriteTimeout: writeTimeout, HeartbeatInterval: -1, MaxFrameSize: 8 << 20})
	cbs := h.callbacks()
	h.plug(newCalc(), "good")

	stuck := rawDial(t, h.addr.String())
	require.NoError(t, stuck.nc.(*net.TCPConn).SetReadBuffer(4096))
	require.Nil(t, stuck.handshake(t, `1`, "stuck").Error)
	require.True(t, h.s.WaitFor("stuck", rawWait))

	// Four calls of 4 MiB each: far more than the socket buffers hold.
	big := strings.Repeat("x", 4<<20)
	stuckErrs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := h.s.Call("", "stuck", "Echo", big)
			stuckErrs <- err
		}()
	}
	// The host has begun writing to "stuck", which reads no further.
	_ = stuck.nc.SetReadDeadline(time.Now().Add(rawWait))
	_, err := stuck.br.Peek(1)
	require.NoError(t, err)

	for i := range 20 {
		got, err := h.s.Call("", "good", "Add", testplugins.Args{A: i, B: 1})
		require.NoError(t, err)
		require.Equal(t, float64(i+1), got)
	}
	select {
	case err := <-stuckErrs:
		t.Fatalf("a call to the stuck plugin returned before the write timeout: %v", err)
	default:
	}

	for range 4 {
		err := recv(t, stuckErrs, "a call to the stuck plugin to fail")
		assert.ErrorIs(t, err, socket.ErrShutdown)
	}
	assert.Equal(t, "stuck graceful=false", recv(t, cbs.ch, "the callback"))
	got, err := h.s.Call("", "good", "Add", testplugins.Args{A: 1, B: 1})
	require.NoError(t, err)
	assert.Equal(t, float64(2), got)
}

// TestIdlePluginsAreCheap measures what an idle plugin costs the host:
// with the default heartbeat on, no goroutine waits on its behalf beyond
// the connection's read loop.
//
// The figure is a difference of two heap readings, so memory that some
// earlier test frees between them (a process's pipes, a pooled buffer)
// would count as the plugins'. Such noise only ever adds, so the test
// measures up to three rounds and keeps the smallest.
func TestIdlePluginsAreCheap(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 200
	}
	h := newHost(t, "tcp")
	// The idle-plugin target of docs/performance.md; the race detector's
	// shadow state adds about 4 KiB.
	bound := int64(16 << 10)
	if raceEnabled {
		bound = 24 << 10
	}
	best, extra := int64(-1), 0
	for round := 0; round < 3 && (best < 0 || best > bound); round++ {
		per, more := idleCost(t, h, n, round)
		t.Logf("round %d: %d idle plugins: %d bytes each at the host, %d goroutines more", round, n, per, more)
		if best < 0 || per < best {
			best = per
		}
		extra = max(extra, more)
	}
	assert.LessOrEqual(t, best, bound, "bytes per idle plugin")
	assert.Positive(t, best, "the measurement measured something")
	assert.LessOrEqual(t, extra, n+n/10, "about one goroutine per plugin: its read loop")
}

// idleCost connects n idle plugins to h, measures, and disconnects them.
func idleCost(t *testing.T, h *host, n, round int) (per int64, extra int) {
	s, addr := h.s, h.addr.String()
	goroutines := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c := rawDial(t, addr)
		require.Nil(t, c.handshake(t, `1`, fmt.Sprint("idle-", round, "-", i)).Error)
		conns = append(conns, c.nc)
	}
	require.Equal(t, n, s.Stats().Plugins)
	extra = runtime.NumGoroutine() - goroutines
	connected := heapAndStacks()
	for _, c := range conns {
		_ = c.Close()
	}
	require.Eventually(t, func() bool { return s.Stats().Plugins == 0 }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutines+5 }, 10*time.Second, time.Millisecond)
	// Measured against the same socket once they are gone, so that what
	// earlier tests left behind does not count.
	gone := heapAndStacks()
	return (connected - gone) / int64(n), extra
}

func heapAndStacks() int64 {
	runtime.GC()
	runtime.GC() // and what the first one's finalizers freed
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

func TestShutdownReportsPluginsCutOff(t *testing.T) {
	var logs logBuffer
	h := newHost(t, "tcp", socket.Config{ShutdownTimeout: 100 * time.Millisecond, Logger: logs.logger()})
	cbs := h.callbacks()
	c := newCalc()
	h.plug(c, "slow")
	h.plug(newCalc(), "quick")
	blocked := make(chan error, 1)
	go func() {
		_, err := h.s.Call("", "slow", "Block", 1)
		blocked <- err
	}()
	recv(t, c.Entered, "Block to start")

	err := h.s.Shutdown("")
	assert.EqualError(t, err, "plugsock: shutdown: cut off 1 plugin(s) after 100ms: slow")
	got := []string{recv(t, cbs.ch, "callback"), recv(t, cbs.ch, "callback")}
	assert.ElementsMatch(t, []string{"slow graceful=false", "quick graceful=true"}, got)
	assert.ErrorIs(t, recv(t, blocked, "the call in flight"), socket.ErrShutdown)
	logs.waitFor(t, 1, "did not stop in time", "plugin=slow")
	assert.False(t, errors.Is(err, socket.ErrOverloaded))
}

// TestShutdownIsBoundedWhenAPluginStopsReading: the $/shutdown request to
// a plugin that reads nothing is stuck in a write that only the write
// timeout would end; Shutdown still returns at its own, shorter timeout.
func TestShutdownIsBoundedWhenAPluginStopsReading(t *testing.T) {
	// A frame limit above the 8 MiB call below, which is sent, not refused.
	h := newHost(t, "tcp", socket.Config{WriteTimeout: time.Minute, ShutdownTimeout: 200 * time.Millisecond, HeartbeatInterval: -1, MaxFrameSize: 16 << 20})
	cbs := h.callbacks()
	stuck := rawDial(t, h.addr.String())
	require.NoError(t, stuck.nc.(*net.TCPConn).SetReadBuffer(4096))
	require.Nil(t, stuck.handshake(t, `1`, "stuck").Error)
	require.True(t, h.s.WaitFor("stuck", rawWait))

	big := strings.Repeat("x", 8<<20)
	go func() { _, _ = h.s.Call("", "stuck", "Echo", big) }()
	_ = stuck.nc.SetReadDeadline(time.Now().Add(rawWait))
	_, err := stuck.br.Peek(1)
	require.NoError(t, err, "the host has begun writing")

	done := make(chan error, 1)
	go func() { done <- h.s.Shutdown("") }()
	select {
	case err := <-done:
		assert.ErrorContains(t, err, "stuck")
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown waited for the write timeout instead of its own")
	}
	assert.Equal(t, "stuck graceful=false", recv(t, cbs.ch, "the callback"))
}
