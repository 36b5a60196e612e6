package eventlog_test

import (
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
