package bolt

import (
	"errors"

	"go.etcd.io/bbolt"
)

// Group commit. A sync costs the same for one write as for a thousand, so
// the writes that arrive while a transaction is being synced wait and go
// together into the next one. A write that arrives alone is written at
// once: unlike bbolt's Batch, nothing waits for company on a timer, which
// on a disk that syncs in a fraction of a millisecond costs more than it
// saves (the benchmarks measure both).
//
// One writer at a time leads: it takes the queue, its own write among
// them, commits them in one transaction, tells each its result, and hands
// the lead to the first of those that queued meanwhile, so that no writer
// keeps serving others after its own write is done.

// maxGroup bounds the writes of one transaction.
const maxGroup = 1000

type pending struct {
	fn   func(*bbolt.Tx) error
	done chan error // the result, or errLead first
}

// errLead tells a waiting writer that it leads the next transaction.
var errLead = errors.New("lead the next transaction")

func (s *store) group(fn func(*bbolt.Tx) error) error {
	p := &pending{fn: fn, done: make(chan error, 1)}
	s.qmu.Lock()
	s.queue = append(s.queue, p)
	if s.leading {
		s.qmu.Unlock()
		if err := <-p.done; err != errLead {
			return err
		}
		s.qmu.Lock()
	} else {
		s.leading = true
	}
	n := min(len(s.queue), maxGroup)
	writes := s.queue[:n:n]
	s.queue = s.queue[n:]
	s.qmu.Unlock()

	s.commit(writes)

	s.qmu.Lock()
	if len(s.queue) > 0 {
		s.queue[0].done <- errLead
	} else {
		s.leading = false
		s.queue = nil // let the array go
	}
	s.qmu.Unlock()
	return <-p.done
}

// commit runs writes in one transaction and tells each its result. When
// one of them fails, the transaction is rolled back and each is run again
// in one of its own, so that one write's failure is its own.
func (s *store) commit(writes []*pending) {
	failed := false
	err := safeUpdate(s.db, func(tx *bbolt.Tx) error {
		for _, w := range writes {
			failed = true // stays so should fn panic
			if err := w.fn(tx); err != nil {
				return err
			}
			failed = false
		}
		return nil
	})
	if failed && len(writes) > 1 {
		for _, w := range writes {
			w.done <- safeUpdate(s.db, w.fn)
		}
		return
	}
	for _, w := range writes {
		w.done <- err
	}
}
