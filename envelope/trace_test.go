package envelope_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

type otherKey struct{}

func TestWithTrace(t *testing.T) {
	base := context.WithValue(context.Background(), otherKey{}, "other")
	assert.Equal(t, "", envelope.TraceFrom(base))
	ctx := envelope.WithTrace(base, "t1")
	assert.Equal(t, "t1", envelope.TraceFrom(ctx))
	assert.Equal(t, "other", ctx.Value(otherKey{}), "other values pass through")
	inner := envelope.WithTrace(context.WithValue(ctx, otherKey{}, "x"), "t2")
	assert.Equal(t, "t2", envelope.TraceFrom(inner), "the innermost id wins")
	assert.Equal(t, "t1", envelope.TraceFrom(ctx))

	// Cancellation passes through it both ways.
	parent, cancel := context.WithCancel(context.Background())
	child, cancelChild := context.WithCancel(envelope.WithTrace(parent, "t3"))
	defer cancelChild()
	cancel()
	select {
	case <-child.Done():
	default:
		require.Fail(t, "a context under the trace's did not end with its parent")
	}
	assert.Equal(t, "t3", envelope.TraceFrom(child))
	assert.Contains(t, envelope.WithTrace(context.Background(), "t4").(interface{ String() string }).String(), `WithTrace("t4")`)
}

var traceSink context.Context

func TestWithTraceAllocs(t *testing.T) {
	base := context.Background()
	var got string
	n := testing.AllocsPerRun(100, func() {
		traceSink = envelope.WithTrace(base, "3d1f7c2a-95b4-4e0f-8a61-2c7d9e4b1f03")
		got = envelope.TraceFrom(traceSink)
	})
	assert.Equal(t, "3d1f7c2a-95b4-4e0f-8a61-2c7d9e4b1f03", got)
	assert.Equal(t, 1.0, n, "allocations to carry a trace id and read it back")
}
