package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
)

// Keeper has state: a string, and what Snapshot and Restore do with it.
type Keeper struct {
	mu    sync.Mutex
	state string
	fail  error
}

func (k *Keeper) Get(context.Context, struct{}) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state, nil
}

func (k *Keeper) Snapshot(context.Context) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.state == "panic" {
		panic("boom")
	}
	return []byte(k.state), k.fail
}

func (k *Keeper) Restore(_ context.Context, data []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	k.state = string(data)
	return nil
}

// HalfKeeper has a Snapshot and no Restore.
type HalfKeeper struct{}

func (HalfKeeper) Get(context.Context, struct{}) (string, error) { return "", nil }
func (HalfKeeper) Snapshot(context.Context) ([]byte, error)      { return nil, nil }

// PointerKeeper keeps state on its pointer only.
type PointerKeeper struct{}

func (PointerKeeper) Get(context.Context, struct{}) (string, error) { return "", nil }
func (*PointerKeeper) Snapshot(context.Context) ([]byte, error)     { return nil, nil }
func (*PointerKeeper) Restore(context.Context, []byte) error        { return nil }

// A value with Snapshot and Restore declares the capability state, and
// neither is a function; $/snapshot answers its data in base64 and
// $/restore hands it back.
func TestStateSnapshotAndRestore(t *testing.T) {
	k := &Keeper{state: "hello"}
	r, hs := connectHealth(t, k)
	assert.JSONEq(t, "true", string(hs.Capabilities[envelope.CapabilityState]))
	assert.Contains(t, hs.Functions, "Get")
	assert.NotContains(t, hs.Functions, "Snapshot")
	assert.NotContains(t, hs.Functions, "Restore")

	var raw json.RawMessage
	require.NoError(t, r.host.call(t.Context(), envelope.MethodSnapshot, nil, &raw))
	assert.JSONEq(t, `{"data":"aGVsbG8="}`, string(raw))
	require.NoError(t, r.host.call(t.Context(), envelope.MethodRestore, envelope.RestoreParams{Data: []byte("back")}, nil))
	var got string
	require.NoError(t, r.host.call(t.Context(), "Get", envelope.Params(nil, true), &got))
	assert.Equal(t, "back", got)

	err := r.host.call(t.Context(), envelope.MethodRestore, map[string]any{"data": 7}, nil)
	assert.Equal(t, int64(envelope.CodeInvalidParams), rpcError(t, err).Code)

	k.mu.Lock()
	k.fail = errors.New("disk on fire")
	k.mu.Unlock()
	err = r.host.call(t.Context(), envelope.MethodRestore, envelope.RestoreParams{Data: []byte("x")}, nil)
	assert.Equal(t, &envelope.Error{Code: envelope.CodeMethodError, Message: "disk on fire"}, rpcError(t, err))
	k.mu.Lock()
	k.state, k.fail = "panic", nil
	k.mu.Unlock()
	err = r.host.call(t.Context(), envelope.MethodSnapshot, nil, nil)
	assert.Equal(t, &envelope.Error{Code: envelope.CodeInternalError, Message: "panic in Snapshot: boom"}, rpcError(t, err))

	_, hs = connectHealth(t, newCalc())
	assert.NotContains(t, hs.Capabilities, envelope.CapabilityState)
	r, _ = connectHealth(t, newCalc())
	err = r.host.call(t.Context(), envelope.MethodSnapshot, nil, nil)
	assert.Equal(t, int64(envelope.CodeMethodNotFound), rpcError(t, err).Code)
}

// State kept by halves, or on the pointer only, is an error, not state
// left out without a word.
func TestStateNeedsBothMethodsOnTheValue(t *testing.T) {
	r := start(t, &plugin.Plugin{}, HalfKeeper{}, nil, nil, hostOpts{answer: speaksHealth})
	err := r.wait(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "keeps state with both Snapshot(ctx) ([]byte, error) and Restore(ctx, []byte) error; it has only one")

	err = (&plugin.Plugin{}).Start(PointerKeeper{}, nil, nopConn{}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pass a pointer")
}

// nopConn is a connection Start closes at once.
type nopConn struct{}

func (nopConn) Read([]byte) (int, error)  { return 0, io.EOF }
func (nopConn) Write([]byte) (int, error) { return 0, net.ErrClosed }
func (nopConn) Close() error              { return nil }

// Subscriber subscribes to its own method Ping, which is not a stream.
type Subscriber struct{ fn string }

func (s Subscriber) Subscriptions() []plugin.Subscription {
	return []plugin.Subscription{{Name: "s", Function: s.fn, Filter: eventlog.Filter{Topic: "t"}}}
}
func (Subscriber) Ping(context.Context, struct{}) (string, error) { return "pong", nil }

func TestSubscriptionsGoToAStreamMethod(t *testing.T) {
	for _, fn := range []string{"Ping", "Nothing"} {
		err := (&plugin.Plugin{}).Start(Subscriber{fn}, nil, nopConn{}, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `has no stream method "`+fn+`" to deliver its events to`)
	}
}
