package backoff_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/internal/backoff"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The wait doubles from lo up to hi and is jittered down to no less than
// half of that.
func TestDelay(t *testing.T) {
	lo, hi := 10*time.Millisecond, time.Second
	for n := range 40 {
		want := hi
		if n < 7 {
			want = lo << n
		}
		for range 20 {
			d := backoff.Delay(n, lo, hi)
			assert.GreaterOrEqual(t, d, want/2, "attempt %d", n)
			assert.LessOrEqual(t, d, want, "attempt %d", n)
		}
	}
}

// However many failures there were, the wait never overflows into one
// below lo or above hi.
func TestDelayHasNoOverflow(t *testing.T) {
	lo, hi := 200*time.Millisecond, 10*time.Second
	for _, n := range []int{-1, 0, 29, 30, 31, 62, 63, 64, 1000, math.MaxInt} {
		d := backoff.Delay(n, lo, hi)
		assert.GreaterOrEqual(t, d, lo/2, "n=%d", n)
		assert.LessOrEqual(t, d, hi, "n=%d", n)
	}
	assert.LessOrEqual(t, backoff.Delay(-5, lo, hi), lo, "a negative n counts as 0")
}

// Peers that failed together get different waits.
func TestDelayIsJittered(t *testing.T) {
	seen := make(map[time.Duration]bool)
	for range 100 {
		seen[backoff.Delay(3, time.Millisecond, time.Second)] = true
	}
	assert.Greater(t, len(seen), 10, "100 waits for the same attempt should not all be alike")
}
