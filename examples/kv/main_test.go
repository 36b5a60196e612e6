package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/internal/exampletest"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// clock is a host's Clock service that tells the time it is set to, and
// what it knows of each request for it.
type clock struct {
	asked chan asked

	mu  sync.Mutex
	now time.Time
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

type asked struct {
	plugin, trace string
	deadline      time.Time
}

func (c *clock) Now(ctx context.Context, _ struct{}) (time.Time, error) {
	c.mu.Lock()
	now := c.now
	c.mu.Unlock()
	d, _ := ctx.Deadline()
	c.asked <- asked{socket.PluginFrom(ctx), envelope.TraceFrom(ctx), d}
	return now, nil
}

// TestKVProgram runs the kv program against a socket on a Unix domain
// socket, which offers it a Clock, and watches its change events arrive
// through Async.
func TestKVProgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	var s socket.Socket
	hostTime := time.Date(2026, 12, 1, 21, 50, 0, 123456789, time.UTC)
	clk := &clock{now: hostTime, asked: make(chan asked, 8)}
	require.NoError(t, s.RegisterName("Clock", clk))
	s.Serve(l, socket.Config{Logger: quiet})
	defer s.Shutdown("")

	cmd := exec.Command(exampletest.Build(t, "."))
	cmd.Env = append(os.Environ(), "PLUGSOCK_ADDR=unix:"+path)
	stderr := new(exampletest.Output)
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	require.True(t, s.WaitFor(kv.Name, 30*time.Second), "kv did not connect; stderr:\n%s", stderr)

	ctx := context.Background()
	var isNew bool
	// Set asks the host for the time while it runs, with the trace id and
	// the deadline of the host's call, truncated to the millisecond.
	deadline := time.Now().Add(time.Minute)
	sctx, cancel := context.WithDeadline(envelope.WithTrace(ctx, "set-1"), deadline)
	require.NoError(t, s.CallContext(sctx, "kv", "Set", kv.Entry{Key: "color", Value: "blue"}, &isNew))
	cancel()
	assert.True(t, isNew)
	a := <-clk.asked
	assert.Equal(t, "kv", a.plugin)
	assert.Equal(t, "set-1", a.trace)
	assert.True(t, deadline.Truncate(time.Millisecond).Equal(a.deadline), "deadline %v, the Clock's ctx has %v", deadline, a.deadline)

	clk.set(hostTime.Add(time.Second))
	require.NoError(t, s.CallContext(ctx, "kv", "Set", kv.Entry{Key: "color", Value: "red"}, &isNew))
	assert.False(t, isNew)
	<-clk.asked
	require.NoError(t, s.CallContext(ctx, "kv", "Set", kv.Entry{Key: "sizes", Value: []int{1, 2}}, &isNew))
	<-clk.asked

	var e kv.Stored
	require.NoError(t, s.CallContext(ctx, "kv", "Get", kv.Key{Key: "color"}, &e))
	assert.Equal(t, "color", e.Key)
	assert.Equal(t, "red", e.Value)
	assert.True(t, hostTime.Add(time.Second).Equal(e.At), "stamped by the host's clock: %v", e.At)

	err = s.CallContext(ctx, "kv", "Get", kv.Key{Key: "nope"}, &e)
	require.Error(t, err)
	assert.Equal(t, `no such key: "nope"`, err.Error())

	var had bool
	require.NoError(t, s.CallContext(ctx, "kv", "Delete", kv.Key{Key: "sizes"}, &had))
	assert.True(t, had)
	require.NoError(t, s.CallContext(ctx, "kv", "Delete", kv.Key{Key: "sizes"}, &had))
	assert.False(t, had, "deleting a missing key changes nothing and pushes nothing")

	var keys []string
	require.NoError(t, s.CallContext(ctx, "kv", "Keys", nil, &keys))
	assert.Equal(t, []string{"color"}, keys)

	var stats kv.Stats
	require.NoError(t, s.CallContext(ctx, "kv", "Stats", nil, &stats))
	assert.Equal(t, kv.Stats{Keys: 1, Changes: 4}, stats)
	assert.Empty(t, clk.asked, "only Set asks for the time")

	// Connected first, then one change event per change, in order.
	want := []any{
		"connected",
		map[string]any{"op": "set", "key": "color", "value": "blue"},
		map[string]any{"op": "set", "key": "color", "value": "red"},
		map[string]any{"op": "set", "key": "sizes", "value": []any{1.0, 2.0}},
		map[string]any{"op": "delete", "key": "sizes"},
	}
	for i, w := range want {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		item, err := s.AsyncContext(actx)
		cancel()
		require.NoError(t, err, "item %d", i)
		assert.Equal(t, "kv", item.Name)
		if w == "connected" {
			assert.IsType(t, envelope.Connected{}, item.Payload)
			continue
		}
		assert.Equal(t, w, item.Payload, "item %d", i)
	}

	s.Unplug("", "kv")
	require.NoError(t, cmd.Wait(), "kv exits 0 once unplugged; stderr:\n%s", stderr)
	item, err := s.Async()
	require.NoError(t, err)
	assert.Equal(t, envelope.Disconnected{Info: &envelope.PluginInfo{Name: "kv", Version: "1.0.0"}, Graceful: true}, item.Payload)
}

// TestSetWithoutClock: a host that offers no Clock (the call is answered
// -32601), or no host at all, leaves the store to its own clock.
func TestSetWithoutClock(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var s socket.Socket
	s.Serve(l, socket.Config{Logger: quiet}) // the settings Attach takes
	defer s.Shutdown("")
	name, err := s.Attach(new(kv.Store), &envelope.PluginInfo{Name: kv.Name})
	require.NoError(t, err)

	ctx := context.Background()
	before := time.Now()
	require.NoError(t, s.CallContext(ctx, name, "Set", kv.Entry{Key: "k", Value: 1}, nil))
	var e kv.Stored
	require.NoError(t, s.CallContext(ctx, name, "Get", kv.Key{Key: "k"}, &e))
	assert.WithinRange(t, e.At, before, time.Now())

	store := new(kv.Store)
	before = time.Now()
	_, err = store.Set(ctx, kv.Entry{Key: "k", Value: 1})
	require.NoError(t, err)
	e, err = store.Get(ctx, kv.Key{Key: "k"})
	require.NoError(t, err)
	assert.WithinRange(t, e.At, before, time.Now())
}
