//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts mean nothing under it.

package envelope_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/envelope"
)

// TestConnCallTimeoutIsCheap: a call bounded by the call timeout costs no
// allocation for it (its timer is a pooled one), where a
// context.WithTimeout would cost eight.
func TestConnCallTimeoutIsCheap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations over many calls")
	}
	wg := newWorkers(t)
	allocs := func(opts envelope.ConnOptions) float64 {
		_, cli := startPair(t, transports[0], envelope.ConnOptions{Handler: calcHandler(wg)}, opts)
		var sum addResult
		return testing.AllocsPerRun(200, func() {
			_ = cli.Call(context.Background(), "Add", addArgs{A: 1, B: 2}, &sum)
		})
	}
	without := allocs(envelope.ConnOptions{})
	with := allocs(envelope.ConnOptions{CallTimeout: time.Minute})
	assert.LessOrEqual(t, with, without, "allocations per call: %v with the call timeout, %v without", with, without)
}
