package socket_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Counter is a Kapacitor-shaped plugin with state: it counts the events
// its subscription delivers, and keeps the count across restarts through
// Snapshot and Restore.
type Counter struct {
	mu       sync.Mutex
	n        int
	restores int
	fail     error // what Restore returns, when set
	big      bool  // Snapshot returns more than a host keeps
}

func (c *Counter) Subscriptions() []plugin.Subscription {
	return []plugin.Subscription{sub("counting", "ticks")}
}

func (c *Counter) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	for {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
		if err := in.Ack(it.Seq); err != nil {
			return err
		}
	}
}

func (c *Counter) Count(context.Context, struct{}) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, nil
}

func (c *Counter) Snapshot(context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.big {
		return make([]byte, 2<<10), nil
	}
	return json.Marshal(c.n)
}

func (c *Counter) Restore(_ context.Context, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restores++
	if c.fail != nil {
		return c.fail
	}
	return json.Unmarshal(data, &c.n)
}

// plugLive plugs v in and waits until the host has made it live: a
// plugin with state is restored first, after its side has connected.
func plugLive(h *host, v any, name string) *started {
	h.t.Helper()
	p := h.plug(v, name)
	require.True(h.t, h.s.WaitFor(p.name, 10*time.Second))
	return p
}

func count(t *testing.T, s *socket.Socket, name string) int {
	t.Helper()
	var n int
	require.NoError(t, s.CallContext(context.Background(), name, "Count", nil, &n))
	return n
}

func countIs(t *testing.T, s *socket.Socket, name string, want int) {
	t.Helper()
	// Up to 15 s: a sink stream that ended under load is opened again
	// after a backoff that grows to 5 s.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var n int
		if assert.NoError(c, s.CallContext(context.Background(), name, "Count", nil, &n)) {
			assert.Equal(c, want, n, "count")
		}
	}, 15*time.Second, time.Millisecond)
}

// The snapshot an Unplug takes is restored into the plugin's next run,
// before its first call, and the subscription goes on from the offset it
// covers: nothing counted twice, nothing missed.
func TestStateRestoredAcrossAnUnplug(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	// What the host did is shown when the test fails: a redelivery is
	// logged.
	var logs logBuffer
	h := newHost(t, "tcp", socket.Config{Store: st, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	ctx := context.Background()
	first := &Counter{}
	plugLive(h, first, "counter")
	publish(t, h.s, "ticks", 10)
	countIs(t, h.s, "counter", 10)
	assert.Equal(t, uint64(0), committed(t, st, "counting/ticks")(),
		"held: committed only as a snapshot is stored, and none has been")
	subs, err := h.s.Subscriptions(ctx)
	require.NoError(t, err)
	assert.True(t, subs[0].Held)

	h.s.Unplug("", "counter")
	info, ok, err := h.s.State(ctx, "counter")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, socket.StateInfo{Plugin: "counter", Size: 2, Time: info.Time}, info)
	assert.WithinDuration(t, time.Now(), info.Time, 5*time.Second)
	assert.Equal(t, uint64(10), committed(t, st, "counting/ticks")(), "committed with the snapshot")

	second := &Counter{}
	plugLive(h, second, "counter")
	assert.Equal(t, 10, count(t, h.s, "counter"), "restored before its first call")
	assert.Equal(t, 1, second.restores)
	publish(t, h.s, "ticks", 5)
	countIs(t, h.s, "counter", 15)
	_, ok, err = h.s.State(ctx, "nobody")
	require.NoError(t, err)
	assert.False(t, ok)
}

// A plugin with state that dies takes what it counted since its last
// snapshot with it; the host delivers those events again, from the offset
// the snapshot covers, to the plugin restored from it.
func TestStateAndOffsetsAgreeAfterACrash(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	ctx := context.Background()
	first := &Counter{}
	p := plugLive(h, first, "counter")
	publish(t, h.s, "ticks", 10)
	countIs(t, h.s, "counter", 10)
	require.NoError(t, h.s.Snapshot(ctx, "counter"))
	require.Eventually(t, func() bool { return committed(t, st, "counting/ticks")() == 10 }, 5*time.Second, time.Millisecond)
	publish(t, h.s, "ticks", 7)
	countIs(t, h.s, "counter", 17) // acknowledged, not committed
	assert.Equal(t, uint64(10), committed(t, st, "counting/ticks")())
	_ = p.conn.Close() // it dies

	second := &Counter{}
	require.Eventually(t, func() bool { return h.s.PluginInfo("counter") == nil }, 5*time.Second, time.Millisecond)
	plugLive(h, second, "counter")
	countIs(t, h.s, "counter", 17) // 10 restored, 11..17 delivered again
	publish(t, h.s, "ticks", 3)
	countIs(t, h.s, "counter", 20)
	require.NoError(t, h.s.Snapshot(ctx, "counter"))
	require.Eventually(t, func() bool { return committed(t, st, "counting/ticks")() == 20 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 20, count(t, h.s, "counter"), "nothing counted twice")
}

// The interval takes snapshots on its own.
func TestStateSnapshotsOnTheInterval(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st, SnapshotInterval: 10 * time.Millisecond})
	plugLive(h, &Counter{}, "counter")
	publish(t, h.s, "ticks", 4)
	countIs(t, h.s, "counter", 4)
	require.Eventually(t, func() bool {
		snap, ok, err := st.GetSnapshot(context.Background(), "counter")
		return err == nil && ok && string(snap.Data) == "4"
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return committed(t, st, "counting/ticks")() == 4 }, 5*time.Second, time.Millisecond)
}

func TestStateRestoreFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy socket.RestoreFailure
		in     bool
	}{{socket.RestoreRefuse, false}, {socket.RestoreEmpty, true}} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			st := eventlog.NewMemory()
			defer st.Close()
			require.NoError(t, st.PutSnapshot(context.Background(), "counter", eventlog.Snapshot{Data: []byte("41")}))
			logs := new(logBuffer)
			h := newHost(t, "tcp", socket.Config{Store: st, Logger: logs.logger(), RestoreFailure: tc.policy})
			c := &Counter{fail: errors.New("disk on fire")}
			if tc.in {
				plugLive(h, c, "counter")
				assert.Equal(t, 0, count(t, h.s, "counter"), "started empty")
				logs.waitFor(t, 1, "starts empty", "disk on fire")
				return
			}
			conn, err := net.Dial(h.addr.Network(), h.addr.String())
			require.NoError(t, err)
			err = startPlugin(c, "counter", conn)
			require.Error(t, err)
			assert.True(t, strings.Contains(err.Error(), "connection lost") || strings.Contains(err.Error(), "restore"), err.Error())
			logs.waitFor(t, 1, "plugin refused", "disk on fire")
			assert.Nil(t, h.s.PluginInfo("counter"))
		})
	}
	t.Run("good", func(t *testing.T) {
		st := eventlog.NewMemory()
		defer st.Close()
		require.NoError(t, st.PutSnapshot(context.Background(), "counter", eventlog.Snapshot{Data: []byte("41")}))
		h := newHost(t, "tcp", socket.Config{Store: st})
		plugLive(h, &Counter{}, "counter")
		assert.Equal(t, 41, count(t, h.s, "counter"))
	})
}

func TestStateSnapshotsAreBounded(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st, MaxSnapshotSize: 1 << 10})
	c := &Counter{}
	plugLive(h, c, "counter")
	publish(t, h.s, "ticks", 2)
	countIs(t, h.s, "counter", 2)
	ctx := context.Background()
	require.NoError(t, h.s.Snapshot(ctx, "counter"))
	c.mu.Lock()
	c.big = true
	c.mu.Unlock()
	err := h.s.Snapshot(ctx, "counter")
	require.ErrorContains(t, err, "more than the limit of 1024")
	snap, ok, err := st.GetSnapshot(ctx, "counter")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "2", string(snap.Data), "the one before is kept")

	plugLive(h, newConsumer(), "plain")
	require.ErrorIs(t, h.s.Snapshot(ctx, "plain"), socket.ErrNoState)
	_ = envelope.MethodSnapshot
}
