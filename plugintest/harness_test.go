package plugintest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugintest"
	"github.com/plugsock/plugsock/socket"
)

// Counter is a plugin under test.
type Counter struct{ hook chan any }

type Pair struct {
	A int `json:"a"`
	B int `json:"b"`
}

func (c *Counter) UseAsyncHook(h chan any) { c.hook = h }

func (c *Counter) Add(_ context.Context, in Pair) (int, error) { return in.A + in.B, nil }

func (c *Counter) Fail(_ context.Context, msg string) (struct{}, error) {
	return struct{}{}, errors.New(msg)
}

func (c *Counter) Emit(_ context.Context, n int) (int, error) {
	for i := range n {
		c.hook <- i
	}
	return n, nil
}

type traceKey struct{}

func (c *Counter) Trace(ctx context.Context, _ struct{}) ([]string, error) {
	v, _ := ctx.Value(traceKey{}).(string)
	return []string{envelope.TraceFrom(ctx), v}, nil
}

func (c *Counter) Block(ctx context.Context, _ struct{}) (struct{}, error) {
	<-ctx.Done()
	return struct{}{}, ctx.Err()
}

func TestHarness(t *testing.T) {
	for name, opts := range map[string][]plugintest.Option{
		"attached": nil,
		"tcp":      {plugintest.Config{TCP: true}},
	} {
		t.Run(name, func(t *testing.T) {
			h := plugintest.New(t, &Counter{}, opts...)
			assert.Equal(t, "Counter", h.Name(), "the type's name when no info is given")

			var sum int
			require.NoError(t, h.Call("Add", Pair{A: 2, B: 40}, &sum))
			assert.Equal(t, 42, sum)

			err := h.Call("Fail", "out of coffee", nil)
			var e *envelope.Error
			require.ErrorAs(t, err, &e)
			assert.EqualValues(t, envelope.CodeMethodError, e.Code)
			assert.Equal(t, "out of coffee", err.Error())
			assert.ErrorIs(t, h.Call("Nope", nil, nil), envelope.ErrMethodNotFound)
			assert.ErrorIs(t, h.Call("Add", "not a pair", nil), envelope.ErrInvalidParams)

			info := h.Info()
			require.NotNil(t, info)
			assert.Contains(t, info.Functions, "Add")
			assert.Equal(t, "struct", info.Functions["Add"].Input.Type)

			require.NoError(t, h.Call("Emit", 3, nil))
			for i := range 3 {
				assert.Equal(t, float64(i), h.NextAsync())
			}

			var traces []string
			require.NoError(t, h.CallContext(envelope.WithTrace(t.Context(), "t-1"), "Trace", nil, &traces))
			assert.Equal(t, "t-1", traces[0])

			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			assert.ErrorIs(t, h.CallContext(ctx, "Block", nil, nil), context.Canceled)

			assert.True(t, h.Unplug(), "leaves in good order")
			assert.ErrorIs(t, h.Call("Add", Pair{}, nil), socket.ErrNoPlugin)
			assert.False(t, h.Unplug(), "already gone")
		})
	}
}

func TestHarnessOptions(t *testing.T) {
	h := plugintest.New(t, &Counter{},
		plugintest.Config{
			Info:        &envelope.PluginInfo{Name: "counter", Version: "3.1.4"},
			ContextKey:  traceKey{},
			CallTimeout: 50 * time.Millisecond,
			Socket:      socket.Config{MaxFrameSize: 8 << 10},
		})
	assert.Equal(t, "counter", h.Name())
	assert.Equal(t, "3.1.4", h.Info().Version)
	var traces []string
	require.NoError(t, h.CallContext(envelope.WithTrace(t.Context(), "t-2"), "Trace", nil, &traces))
	assert.Equal(t, []string{"t-2", "t-2"}, traces, "the trace id under the context key too")
	err := h.Call("Block", nil, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the call timeout applies")
	h.Close()
	h.Close() // again, and once more at cleanup
	_, open := <-h.Async()
	assert.False(t, open, "Async is closed with the harness")
}
