package socket

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// DefaultAsyncBytes bounds the JSON the async queue holds, besides the
// count of items WithAsyncBuffer bounds.
const DefaultAsyncBytes = 64 << 20

// WithAsyncBytes bounds the total size of the items Async holds, counted
// as the bytes of JSON they arrived as: without it, a full queue of large
// items could hold WithAsyncBuffer times the maximum frame size. An item
// larger than the whole budget is still taken into an empty queue, so
// nothing is refused for its size alone. Past the bound the policy for a
// full queue applies (see Socket.Async). Default DefaultAsyncBytes.
func WithAsyncBytes(n int) Options {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.asyncBytes = n
		}
	})
}

// asyncQueue holds async items between the plugins' read loops and the
// host's Async calls. It is bounded; see Socket.Async for the policy.
type asyncQueue struct {
	mu       sync.Mutex
	items    []asyncItem
	bytes    int  // sum of the items' sizes
	reading  bool // the host reads Async and keeps up: a full queue waits for it
	dropped  uint64
	burst    uint64 // drops since the last time the queue had room
	closed   bool
	notEmpty chan struct{} // a token when an item may be waiting
	room     chan struct{} // closed when an item is taken; nil when nobody waits
	done     chan struct{}
}

type asyncItem struct {
	data envelope.AsyncData
	size int
}

func (q *asyncQueue) init() {
	if q.done == nil {
		q.notEmpty = make(chan struct{}, 1)
		q.done = make(chan struct{})
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// full reports whether an item of size does not fit. q.mu must be held.
func (q *asyncQueue) full(size, limit, maxBytes int) bool {
	return len(q.items) >= limit || (maxBytes > 0 && len(q.items) > 0 && q.bytes+size > maxBytes)
}

// wake wakes every push waiting for room. q.mu must be held.
func (q *asyncQueue) wake() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// push adds a connect or disconnect event, whose size does not matter.
func (q *asyncQueue) push(it envelope.AsyncData, limit int, wait time.Duration, log *slog.Logger) {
	q.add(it, 0, limit, 0, wait, log)
}

// add adds an item of size bytes. With room it never waits. When the queue
// is full and the host reads Async, it waits up to wait for room. When the
// host has never read, or has not made room in time, the oldest items are
// dropped to make room; after such a timeout nothing waits until the host
// calls Async again, so a host that stops reading stalls a plugin's
// connection once, not once per item.
func (q *asyncQueue) add(it envelope.AsyncData, size, limit, maxBytes int, wait time.Duration, log *slog.Logger) {
	q.mu.Lock()
	q.init()
	if q.full(size, limit, maxBytes) && q.reading && !q.closed {
		t := time.NewTimer(wait)
		defer t.Stop()
		for q.full(size, limit, maxBytes) && q.reading && !q.closed {
			if q.room == nil {
				q.room = make(chan struct{})
			}
			room := q.room
			q.mu.Unlock()
			select {
			case <-room:
				q.mu.Lock()
			case <-t.C:
				q.mu.Lock()
				if q.reading {
					q.reading = false
					log.Warn("plugsock: async queue full and not read for a while; dropping oldest items until Async is called again",
						"limit", limit, "waited", wait)
					q.wake() // other waiting plugins stop waiting too
				}
			case <-q.done:
				q.mu.Lock()
			}
		}
	}
	if q.closed {
		q.mu.Unlock()
		return
	}
	if q.full(size, limit, maxBytes) {
		first := q.burst == 0
		for q.full(size, limit, maxBytes) {
			q.bytes -= q.items[0].size
			q.items[0] = asyncItem{}
			q.items = q.items[1:]
			q.dropped++
			q.burst++
		}
		if first {
			log.Warn("plugsock: async queue full, dropping oldest items", "limit", limit, "bytes", q.bytes, "reading", q.reading)
		}
	} else if q.burst > 0 {
		log.Warn("plugsock: async queue has room again", "dropped", q.burst)
		q.burst = 0
	}
	q.items = append(q.items, asyncItem{data: it, size: size})
	q.bytes += size
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
			q.items[0] = asyncItem{}
			q.items = q.items[1:]
			q.bytes -= it.size
			more := len(q.items) > 0
			q.wake()
			q.mu.Unlock()
			if more {
				signal(q.notEmpty)
			}
			return &it.data, nil
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
		q.wake()
	}
	q.mu.Unlock()
}

func (q *asyncQueue) stats() (queued int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items), q.dropped
}
