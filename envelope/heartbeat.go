package envelope

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults for a Heartbeat, used by both the socket and the plugin side.
// With them a peer that stops answering is found out within about 40
// seconds: 10 idle, then 3 pings of 10 seconds each without an answer.
const (
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultHeartbeatMisses   = 3
)

// ErrUnresponsive is why a Heartbeat closes a connection: the peer has
// not answered $/ping several times in a row. The process on the other
// end may be frozen, or the network may have dropped the connection
// without either side hearing of it (a half-open TCP connection).
var ErrUnresponsive = errors.New("peer stopped answering $/ping")

// Heartbeat checks that a Conn's peer is still there: every interval it
// sends a $/ping request, unless the last one is still unanswered, and
// when misses intervals in a row pass without an answer it closes the
// connection with an error wrapping ErrUnresponsive, which fails the calls
// waiting on it. Any answer counts, even a late one, or an error from a
// peer that does not know $/ping. Misses are counted by the clock, not by
// the ping, so a ping stuck behind a write that the peer never reads is a
// miss like any other.
//
// A Heartbeat owns no goroutine while it waits: it is a timer, and a
// goroutine exists only while a ping is in flight. That keeps an idle
// connection cheap.
type Heartbeat struct {
	c        *Conn
	interval time.Duration
	misses   int
	ctx      context.Context // ends on Stop, abandoning the ping in flight
	cancel   context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	waiting bool // a ping is in flight
	missed  int  // intervals that passed while it was
	running sync.WaitGroup
}

// StartHeartbeat starts pinging c's peer every interval; when misses
// intervals in a row (DefaultHeartbeatMisses when misses < 1) pass without
// an answer, it closes c. An interval of zero or less starts nothing and
// returns nil, whose Stop does nothing. Call Stop once c has ended.
func StartHeartbeat(c *Conn, interval time.Duration, misses int) *Heartbeat {
	if interval <= 0 {
		return nil
	}
	if misses < 1 {
		misses = DefaultHeartbeatMisses
	}
	h := &Heartbeat{c: c, interval: interval, misses: misses}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.mu.Lock()
	h.timer = time.AfterFunc(interval, h.tick)
	h.mu.Unlock()
	return h
}

// Stop stops the heartbeat and waits for a ping in flight to give up. It
// does not close the connection, and is meant for after it has ended: a
// ping stuck in a write to an open connection holds Stop up until the
// write returns. It may be called more than once.
func (h *Heartbeat) Stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.stopped = true
	h.timer.Stop()
	h.mu.Unlock()
	h.cancel()
	h.running.Wait()
}

// tick runs every interval: it counts a miss when the last ping is still
// unanswered, and sends the next one otherwise.
func (h *Heartbeat) tick() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	if h.waiting {
		h.missed++
		if h.missed >= h.misses {
			h.stopped = true
			h.mu.Unlock()
			h.c.CloseWithError(fmt.Errorf("%w: no answer for %d intervals of %v", ErrUnresponsive, h.missed, h.interval))
			return
		}
		h.timer.Reset(h.interval)
		h.mu.Unlock()
		return
	}
	h.waiting = true
	h.timer.Reset(h.interval)
	h.running.Add(1)
	h.mu.Unlock()
	defer h.running.Done()

	err := h.c.Call(h.ctx, MethodPing, nil, nil)
	var answer *Error
	h.mu.Lock()
	if err == nil || errors.As(err, &answer) {
		h.waiting = false
		h.missed = 0
	} else {
		// The connection has ended, or Stop was called.
		h.stopped = true
		h.timer.Stop()
	}
	h.mu.Unlock()
}
