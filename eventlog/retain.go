package eventlog

import (
	"context"
	"time"
)

// Retain trims topic down to its events of the last maxAge and to its
// latest maxEvents events, whichever keeps fewer; a limit of zero or less
// is no limit. It is meant to be called on a timer, and costs one Bounds,
// at most a few dozen one-event Reads and one Trim, however long the
// topic: it finds the first event young enough by bisecting offsets, so
// it assumes that times do not go down as offsets go up. That holds for
// the times Append sets; an event appended with an older Time of its own
// may be kept for longer, or trimmed with the older ones around it.
//
// Retain keeps no byte limit: the Store interface has no cheap way to
// weigh a topic, and adding up every event's Size on each tick would read
// the whole topic. Bound a topic's bytes with maxEvents, each event
// being at most the store's size limit.
func Retain(ctx context.Context, s Store, topic string, maxAge time.Duration, maxEvents int) error {
	first, last, err := s.Bounds(ctx, topic)
	if err != nil || first == 0 {
		return err
	}
	before := first
	if maxEvents > 0 && last-first+1 > uint64(maxEvents) {
		before = last - uint64(maxEvents) + 1
	}
	if maxAge > 0 {
		cutoff := time.Now().Add(-maxAge)
		// Every event below lo is older than the cutoff, or gone; the
		// event at hi, if any, is not.
		lo, hi := before, last+1
		for lo < hi {
			mid := lo + (hi-lo)/2
			events, err := s.Read(ctx, topic, mid, 1)
			if err != nil {
				return err
			}
			if len(events) == 0 || !events[0].Time.Before(cutoff) {
				hi = mid
			} else {
				lo = min(events[0].Offset+1, hi)
			}
		}
		before = lo
	}
	if before <= first {
		return nil
	}
	return s.Trim(ctx, topic, before)
}
