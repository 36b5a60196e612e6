package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

type traceKey struct{}

type traces struct {
	Envelope string `json:"envelope"`
	Key      string `json:"key"`
}

// calc is the test plugin: plain methods plus ones that fail, panic, block
// and report, so that tests can observe every path of a call.
type calc struct {
	info      *envelope.PluginInfo
	hook      chan any
	started   chan string   // Block and Wait report here once running
	release   chan struct{} // Block returns when this is closed
	cancelled chan error    // Wait reports its context's error here
	barrier   struct {
		sync.Mutex
		n    int
		want int
		all  chan struct{}
	}
}

func newCalc() *calc {
	return &calc{
		started:   make(chan string, logSize),
		release:   make(chan struct{}),
		cancelled: make(chan error, 1),
	}
}

func (c *calc) UseAsyncHook(hook chan any) { c.hook = hook }

func (c *calc) Add(_ context.Context, in pair) (total, error) { return total{Sum: in.A + in.B}, nil }

func (c *calc) Fail(_ context.Context, msg string) (struct{}, error) {
	return struct{}{}, errors.New(msg)
}

func (c *calc) Teapot(context.Context, struct{}) (struct{}, error) {
	return struct{}{}, &envelope.Error{Code: -32418, Message: "short and stout", Data: []byte(`{"spout":true}`)}
}

func (c *calc) Panic(_ context.Context, msg string) (int, error) { panic(msg) }

func (c *calc) Trace(ctx context.Context, _ struct{}) (traces, error) {
	key, _ := ctx.Value(traceKey{}).(string)
	return traces{Envelope: envelope.TraceFrom(ctx), Key: key}, nil
}

func (c *calc) Name(context.Context, struct{}) (string, error) {
	c.started <- "Name"
	return c.info.Name, nil
}

func (c *calc) Block(ctx context.Context, id int) (int, error) {
	c.started <- fmt.Sprint("Block ", id)
	select {
	case <-c.release:
		return id, nil
	case <-ctx.Done(): // only so that a failing test ends promptly
		return 0, ctx.Err()
	}
}

func (c *calc) Wait(ctx context.Context, _ struct{}) (struct{}, error) {
	c.started <- "Wait"
	<-ctx.Done()
	c.cancelled <- ctx.Err()
	return struct{}{}, ctx.Err()
}

// Meet returns only once every expected caller is inside it, which only
// concurrent dispatch can achieve.
func (c *calc) Meet(ctx context.Context, id int) (int, error) {
	b := &c.barrier
	b.Lock()
	b.n++
	if b.n == b.want {
		close(b.all)
	}
	b.Unlock()
	select {
	case <-b.all:
		return id, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func TestCallResult(t *testing.T) {
	r, _ := connect(t, newCalc(), nil, nil)
	var out total
	require.NoError(t, r.host.call(t.Context(), "Add", pair{A: 2, B: 3}, &out))
	assert.Equal(t, 5, out.Sum)
}

func TestCallErrors(t *testing.T) {
	r, _ := connect(t, newCalc(), nil, nil)
	ctx := t.Context()

	t.Run("method error", func(t *testing.T) {
		msg := `disk "d1" is full: 100% used` // quoting and symbols survive
		e := rpcError(t, r.host.call(ctx, "Fail", msg, nil))
		assert.EqualValues(t, envelope.CodeMethodError, e.Code)
		assert.Equal(t, msg, e.Message)
	})
	t.Run("envelope error passes through", func(t *testing.T) {
		e := rpcError(t, r.host.call(ctx, "Teapot", nil, nil))
		assert.EqualValues(t, -32418, e.Code)
		assert.Equal(t, "short and stout", e.Message)
		assert.JSONEq(t, `{"spout":true}`, string(e.Data))
	})
	t.Run("unknown method", func(t *testing.T) {
		err := r.host.call(ctx, "Subtract", pair{}, nil)
		e := rpcError(t, err)
		assert.EqualValues(t, envelope.CodeMethodNotFound, e.Code)
		assert.ErrorIs(t, err, envelope.ErrMethodNotFound)
		assert.Contains(t, e.Message, "Subtract")
	})
	t.Run("unexported and ignored methods are unknown", func(t *testing.T) {
		for _, m := range []string{"UseAsyncHook", "add"} {
			e := rpcError(t, r.host.call(ctx, m, nil, nil))
			assert.EqualValues(t, envelope.CodeMethodNotFound, e.Code, m)
		}
	})
	t.Run("bad params", func(t *testing.T) {
		err := r.host.call(ctx, "Add", map[string]any{"a": "two"}, nil)
		e := rpcError(t, err)
		assert.EqualValues(t, envelope.CodeInvalidParams, e.Code)
		assert.ErrorIs(t, err, envelope.ErrInvalidParams)
		assert.Contains(t, e.Message, "Add")
		assert.Contains(t, e.Message, `field "a"`, "names the field")
	})
	t.Run("panic", func(t *testing.T) {
		e := rpcError(t, r.host.call(ctx, "Panic", "kaboom", nil))
		assert.EqualValues(t, envelope.CodeInternalError, e.Code)
		assert.Contains(t, e.Message, "kaboom")
		assert.Contains(t, e.Message, "Panic")

		var out total
		require.NoError(t, r.host.call(ctx, "Add", pair{A: 1, B: 1}, &out), "the plugin keeps serving")
		assert.Equal(t, 2, out.Sum)
	})
	t.Run("ping", func(t *testing.T) {
		assert.NoError(t, r.host.call(ctx, envelope.MethodPing, nil, nil))
	})
}

func TestCallTrace(t *testing.T) {
	t.Run("from meta", func(t *testing.T) {
		r, _ := connect(t, newCalc(), nil, traceKey{})
		var got traces
		require.NoError(t, r.host.call(envelope.WithTrace(t.Context(), "trace-42"), "Trace", nil, &got))
		assert.Equal(t, traces{Envelope: "trace-42", Key: "trace-42"}, got)
	})
	t.Run("made up when absent", func(t *testing.T) {
		r, _ := connect(t, newCalc(), nil, traceKey{})
		var got traces
		require.NoError(t, r.host.call(t.Context(), "Trace", nil, &got))
		_, err := uuid.Parse(got.Envelope)
		assert.NoError(t, err, "a missing trace id is replaced by a UUID")
		assert.Equal(t, got.Envelope, got.Key)
	})
	t.Run("no ctxKey", func(t *testing.T) {
		r, _ := connect(t, newCalc(), nil, nil)
		var got traces
		require.NoError(t, r.host.call(envelope.WithTrace(t.Context(), "trace-43"), "Trace", nil, &got))
		assert.Equal(t, traces{Envelope: "trace-43"}, got)
	})
}

func TestCallCancel(t *testing.T) {
	c := newCalc()
	r, _ := connect(t, c, nil, nil)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- r.host.call(ctx, "Wait", nil, nil) }()
	assert.Equal(t, "Wait", recv(t, c.started, "Wait to start"))

	cancel() // the host's Conn sends $/cancelRequest for the call
	assert.ErrorIs(t, recv(t, c.cancelled, "the method's context to end"), context.Canceled)
	assert.ErrorIs(t, recv(t, errs, "Call to return"), context.Canceled)

	// The plugin still answers, with the LSP's cancelled code; the host
	// drops the late answer.
	for {
		m := recv(t, r.host.wire, "cancelled answer")
		if m.IsResponse() && m.Error != nil {
			assert.EqualValues(t, envelope.CodeRequestCancelled, m.Error.Code)
			break
		}
	}

	var out total
	require.NoError(t, r.host.call(t.Context(), "Add", pair{A: 1, B: 2}, &out), "other calls are unaffected")
	assert.Equal(t, 3, out.Sum)
}

func TestCallsRunConcurrently(t *testing.T) {
	const n = 64
	c := newCalc()
	c.barrier.want = n
	c.barrier.all = make(chan struct{})
	r, _ := connect(t, c, nil, nil)

	var wg sync.WaitGroup
	got := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = r.host.call(t.Context(), "Meet", i, &got[i]) })
	}
	wg.Wait()
	for i := range n {
		if assert.NoError(t, errs[i]) {
			assert.Equal(t, i, got[i], "every call gets its own answer")
		}
	}
}

func TestManyCallsInterleaved(t *testing.T) {
	r, _ := connect(t, newCalc(), nil, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				var out total
				if err := r.host.call(t.Context(), "Add", pair{A: g, B: i}, &out); assert.NoError(t, err) {
					assert.Equal(t, g+i, out.Sum)
				}
			}
		})
	}
	wg.Wait()
}
