package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// TestKVProgram runs the kv program against a socket on a Unix domain
// socket and watches its change events arrive through Async.
func TestKVProgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	var s socket.Socket
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
	require.NoError(t, s.CallContext(ctx, "kv", "Set", kv.Entry{Key: "color", Value: "blue"}, &isNew))
	assert.True(t, isNew)
	require.NoError(t, s.CallContext(ctx, "kv", "Set", kv.Entry{Key: "color", Value: "red"}, &isNew))
	assert.False(t, isNew)
	require.NoError(t, s.CallContext(ctx, "kv", "Set", kv.Entry{Key: "sizes", Value: []int{1, 2}}, &isNew))

	var e kv.Entry
	require.NoError(t, s.CallContext(ctx, "kv", "Get", kv.Key{Key: "color"}, &e))
	assert.Equal(t, kv.Entry{Key: "color", Value: "red"}, e)

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
