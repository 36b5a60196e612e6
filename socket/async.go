package socket

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// asyncQueue holds async items between the plugins' read loops and the
// host's Async calls. It is bounded; see Socket.Async for the policy.
type asyncQueue struct {
	mu       sync.Mutex
	items    []envelope.AsyncData
	reading  bool // Async has been called: the host consumes the queue
	dropped  uint64
	burst    uint64 // drops since the last time the queue had room
	closed   bool
	notEmpty chan struct{}
	notFull  chan struct{}
	done     chan struct{}
}

func (q *asyncQueue) init() {
	if q.done == nil {
		q.notEmpty = make(chan struct{}, 1)
		q.notFull = make(chan struct{}, 1)
		q.done = make(chan struct{})
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push adds an item. With room it never waits. When the queue is full and
// the host reads Async, it waits up to wait for room; when the host has
// never read, or room does not come in time, the oldest item is dropped.
func (q *asyncQueue) push(it envelope.AsyncData, limit int, wait time.Duration, log *slog.Logger) {
	q.mu.Lock()
	q.init()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if len(q.items) >= limit && q.reading {
		q.mu.Unlock()
		t := time.NewTimer(wait)
		defer t.Stop()
		for waiting := true; waiting; {
			select {
			case <-q.notFull:
				q.mu.Lock()
				waiting = len(q.items) >= limit
				if waiting {
					q.mu.Unlock()
				}
			case <-t.C:
				q.mu.Lock()
				waiting = false
			case <-q.done:
				return
			}
		}
	}
	if len(q.items) >= limit {
		q.items[0] = envelope.AsyncData{}
		q.items = q.items[1:]
		q.dropped++
		q.burst++
		if q.burst == 1 {
			log.Warn("plugsock: async queue full, dropping oldest items", "limit", limit, "reading", q.reading)
		}
	} else if q.burst > 0 {
		log.Warn("plugsock: async queue has room again", "dropped", q.burst)
		q.burst = 0
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	signal(q.notEmpty)
}

func (q *asyncQueue) pop(ctx context.Context) (*envelope.AsyncData, error) {
	for {
		q.mu.Lock()
		q.init()
		q.reading = true
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = envelope.AsyncData{}
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			signal(q.notFull)
			if more {
				signal(q.notEmpty)
			}
			return &it, nil
		}
		closed := q.closed
		notEmpty, done := q.notEmpty, q.done
		q.mu.Unlock()
		if closed {
			return nil, envelope.ErrShutdown
		}
		select {
		case <-notEmpty:
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (q *asyncQueue) close() {
	q.mu.Lock()
	q.init()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	q.mu.Unlock()
}

func (q *asyncQueue) stats() (queued int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items), q.dropped
}
