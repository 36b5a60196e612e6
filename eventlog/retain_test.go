package eventlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/eventlog"
)

// TestRetainBoundary runs with the clock stopped: an event exactly maxAge
// old is kept, one a nanosecond older goes.
func TestRetainBoundary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := eventlog.NewMemory()
		defer s.Close()
		ctx := t.Context()
		now := time.Now()
		for _, age := range []time.Duration{time.Hour + 1, time.Hour, 0} {
			require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "t", Time: now.Add(-age)}))
		}
		require.NoError(t, eventlog.Retain(ctx, s, "t", time.Hour, 0))
		first, last, err := s.Bounds(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, [2]uint64{2, 3}, [2]uint64{first, last})

		time.Sleep(time.Hour) // the bubble's clock: an hour passes at once
		require.NoError(t, eventlog.Retain(ctx, s, "t", time.Hour, 0))
		first, last, err = s.Bounds(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, [2]uint64{3, 3}, [2]uint64{first, last}, "an hour later")
	})
}

// RetainBytes keeps the latest events whose sizes fit the limit, and reads
// only about what it keeps.
func TestRetainBytes(t *testing.T) {
	ctx := context.Background()
	s := eventlog.NewMemory()
	defer s.Close()
	for i := range 3000 {
		e := &eventlog.Event{Topic: "t", Data: json.RawMessage(fmt.Sprintf(`"%04d"`, i))}
		require.NoError(t, s.Append(ctx, e))
	}
	one := (&eventlog.Event{Topic: "t", Data: json.RawMessage(`"0000"`)}).Size()
	require.NoError(t, eventlog.RetainBytes(ctx, s, "t", int64(1500*one)))
	first, last, err := s.Bounds(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, uint64(3000), last)
	assert.Equal(t, uint64(1501), first, "the latest 1500 events, %d bytes each", one)
	require.NoError(t, eventlog.RetainBytes(ctx, s, "t", int64(1500*one)), "within the limit: nothing to do")
	first, _, _ = s.Bounds(ctx, "t")
	assert.Equal(t, uint64(1501), first)
	require.NoError(t, eventlog.RetainBytes(ctx, s, "t", 0), "no limit")
	require.NoError(t, eventlog.RetainBytes(ctx, s, "none", 10), "an empty topic")
}
