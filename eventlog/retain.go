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
// RetainBytes bounds a topic's bytes.
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

// retainBatch is how many events RetainBytes weighs at a time.
const retainBatch = 1024

// RetainBytes trims topic down to its latest events whose sizes
// ((*Event).Size) add up to at most maxBytes; zero or less is no limit.
// The Store keeps no weights, so it reads the events it keeps, newest
// first, a batch at a time, until they pass the limit: a pass costs
// about maxBytes of reading (plus the events appended since the last),
// not the whole topic, and nothing at all with no limit.
func RetainBytes(ctx context.Context, s Store, topic string, maxBytes int64) error {
	if maxBytes <= 0 {
		return nil
	}
	first, last, err := s.Bounds(ctx, topic)
	if err != nil || first == 0 {
		return err
	}
	var total int64
	for hi := last; hi >= first; {
		lo := first
		if hi-first+1 > retainBatch {
			lo = hi - retainBatch + 1
		}
		events, err := s.Read(ctx, topic, lo, int(hi-lo+1))
		if err != nil {
			return err
		}
		for i := len(events) - 1; i >= 0; i-- {
			if total += int64(events[i].Size()); total > maxBytes {
				return s.Trim(ctx, topic, events[i].Offset+1)
			}
		}
		if lo == first {
			return nil
		}
		hi = lo - 1
	}
	return nil
}
