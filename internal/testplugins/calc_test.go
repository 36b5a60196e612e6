package testplugins_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCalcArithmetic(t *testing.T) {
	c := testplugins.NewCalc()
	ctx := t.Context()

	sum, err := c.Add(ctx, testplugins.Args{A: 2, B: 3})
	require.NoError(t, err)
	assert.Equal(t, 5, sum)

	q, err := c.Div(ctx, testplugins.Args{A: 7, B: 2})
	require.NoError(t, err)
	assert.Equal(t, 3, q)
	_, err = c.Div(ctx, testplugins.Args{A: 1})
	assert.EqualError(t, err, "division by zero")

	echo, err := c.Echo(ctx, "zürich")
	require.NoError(t, err)
	assert.Equal(t, "zürich", echo)

	assert.PanicsWithValue(t, "boom", func() { _, _ = c.Panic(ctx, struct{}{}) })
}

func TestCalcBlockReportsItsTrace(t *testing.T) {
	c := testplugins.NewCalc()

	released := make(chan int, 1)
	go func() {
		n, _ := c.Block(envelope.WithTrace(t.Context(), "released"), 7)
		released <- n
	}()
	assert.Equal(t, "released", recv(t, c.Entered))
	close(c.Release)
	assert.Equal(t, 7, recv(t, released))

	// A new Calc's Release is open, so a context that ended before the
	// call is Block's only way out.
	c = testplugins.NewCalc()
	ctx, cancel := context.WithCancel(envelope.WithTrace(t.Context(), "cancelled"))
	cancel()
	n, err := c.Block(ctx, 7)
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, n)
	assert.Equal(t, "cancelled", recv(t, c.Entered))
	assert.Equal(t, "cancelled", recv(t, c.CtxDone))
}

func TestCalcEmitUsesTheHook(t *testing.T) {
	c := testplugins.NewCalc()
	hook := make(chan any, 2)
	c.UseAsyncHook(hook)
	n, err := c.Emit(t.Context(), []string{"one", "two"})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, "one", <-hook)
	assert.Equal(t, "two", <-hook)
}

// TestMethodSets pins what Calc offers: the admin and socket tests list
// its functions, with the one each adds.
func TestMethodSets(t *testing.T) {
	methods := func(v any) []string {
		typ := reflect.TypeOf(v)
		var names []string
		for i := range typ.NumMethod() {
			names = append(names, typ.Method(i).Name)
		}
		return names
	}
	assert.Equal(t, []string{"Add", "Block", "Div", "Echo", "Emit", "Panic", "UseAsyncHook"}, methods(testplugins.NewCalc()))
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
		var zero T
		return zero
	}
}

func TestLogRecords(t *testing.T) {
	var l testplugins.Log
	_, _ = l.Write([]byte(`{"msg":"a","n":1}` + "\n"))
	_, _ = l.Write([]byte(`{"msg":"b"}` + "\n"))
	recs, err := l.Records()
	require.NoError(t, err)
	assert.Equal(t, []map[string]any{{"msg": "a", "n": float64(1)}, {"msg": "b"}}, recs)
	_, _ = l.Write([]byte("not json\n"))
	_, err = l.Records()
	assert.ErrorContains(t, err, `log line "not json"`)
}
