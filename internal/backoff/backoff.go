// Package backoff is the one formula for how long to wait before trying
// again: plugin.Run uses it between connection attempts, and
// socket.Socket.Launch between restarts of a plugin's process.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns the wait before attempt n+1, n counting failures from 0:
// lo doubled n times, capped at hi, then jittered to a random wait
// between half of that and all of it, so that peers that failed together
// do not all try again at the same moment. A negative n counts as 0.
func Delay(n int, lo, hi time.Duration) time.Duration {
	n = max(n, 0)
	d := hi
	// The shift is bounded and checked, so that no n overflows into a
	// wait shorter than lo, or negative.
	if n < 30 && lo<<n < hi && lo<<n > 0 {
		d = lo << n
	}
	return d/2 + rand.N(d/2+1)
}
