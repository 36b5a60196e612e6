package envelope

import (
	"container/heap"
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

// Heartbeat checks that a Conn's peer is still there. Every interval it
// looks at what the connection has read since the last look: anything
// the peer sent (a call, an answer, its own $/ping) shows that it is
// there, and no ping goes out. Only after an interval in which nothing
// came in does it send a $/ping request; when misses intervals in a row
// then pass without an answer, it closes the connection with an error
// wrapping ErrUnresponsive, which fails the calls waiting on it. Any
// answer counts, even a late one, or an error from a peer that does not
// know $/ping. Misses are counted by the clock, not by the ping, so a
// ping stuck behind a write that the peer never reads is a miss like any
// other.
//
// So a busy connection is never pinged, and an idle one is pinged from
// one side only when the other side follows (FollowHeartbeat): a peer
// that answers pings has shown that both directions work.
//
// A Heartbeat owns no goroutine and, outside a testing/synctest bubble,
// no runtime timer either: the heartbeats of a process share one timer
// (hbClock), which writes a ping itself when the connection takes it at
// once; a goroutine exists only while a ping waits for its write.
type Heartbeat struct {
	c        *Conn
	interval time.Duration
	misses   int

	mu      sync.Mutex
	stopped bool
	seen    uint64         // c.heard when last looked at
	ping    chan *Envelope // the answer to the ping in flight; nil when none is
	pingID  uint64
	missed  int // intervals that passed while a ping was in flight
	running sync.WaitGroup

	// On the shared clock (clock != nil): when the next tick is due, and
	// where the heartbeat is in the clock's queue. Guarded by clock.mu.
	clock *hbClock
	due   time.Duration // since clock.base
	index int
	// Otherwise a timer of its own.
	timer *time.Timer
}

// StartHeartbeat starts watching c's peer every interval, pinging it
// after an interval in which nothing came from it; when misses intervals
// in a row (DefaultHeartbeatMisses when misses < 1) pass without an
// answer, it closes c. It is for the side that pings an idle connection:
// the host. An interval of zero or less starts nothing and returns nil,
// whose Stop does nothing. Call Stop once c has ended.
func StartHeartbeat(c *Conn, interval time.Duration, misses int) *Heartbeat {
	return startHeartbeat(c, interval, misses, interval)
}

// FollowHeartbeat is StartHeartbeat for the side whose peer pings an idle
// connection on its own (a plugin, whose host does). It works the same,
// but its intervals are offset by half of one from the peer's, which
// started at about the same moment, so that the peer's pings arrive in
// the middle of them: while the peer pings every interval, each of its
// intervals has heard something and it sends no ping of its own. When the
// peer stops (it has gone, or never pings, or pings less often), its
// intervals fall silent and it pings as StartHeartbeat does, so a peer
// that has vanished is still found out in the same time.
func FollowHeartbeat(c *Conn, interval time.Duration, misses int) *Heartbeat {
	return startHeartbeat(c, interval, misses, interval+interval/2)
}

func startHeartbeat(c *Conn, interval time.Duration, misses int, first time.Duration) *Heartbeat {
	if interval <= 0 {
		return nil
	}
	if misses < 1 {
		misses = DefaultHeartbeatMisses
	}
	h := &Heartbeat{c: c, interval: interval, misses: misses, seen: c.heard.Load()}
	if fakeClock() {
		h.mu.Lock()
		h.timer = time.AfterFunc(first, h.ownTick)
		h.mu.Unlock()
		return h
	}
	h.clock = &sharedClock
	h.clock.add(h, first)
	return h
}

// Stop stops the heartbeat and waits for a ping being written to give
// up. It does not close the connection, and is meant for after it has
// ended: a ping stuck in a write to an open connection holds Stop up until
// the write returns. It may be called more than once.
func (h *Heartbeat) Stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.stopped = true
	if h.timer != nil {
		h.timer.Stop()
	}
	id := h.pingID
	h.ping = nil
	h.mu.Unlock()
	if h.clock != nil {
		h.clock.remove(h)
	}
	if id != 0 {
		h.c.forget(id)
	}
	h.running.Wait()
}

// ownTick is tick on a timer of the heartbeat's own.
func (h *Heartbeat) ownTick() {
	if h.tick() {
		h.mu.Lock()
		if !h.stopped {
			h.timer.Reset(h.interval)
		}
		h.mu.Unlock()
	}
}

// tick runs every interval: it looks for signs of life since the last
// tick, counts a miss when there were none while a ping is in flight, and
// sends a ping when there were none and no ping is. It reports whether the
// heartbeat goes on. It must not block: on the shared clock every other
// heartbeat waits for it.
func (h *Heartbeat) tick() bool {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return false
	}
	heard := h.c.heard.Load() - h.seen
	h.seen += heard
	if h.ping != nil {
		select {
		case m := <-h.ping:
			if m == nil {
				// The connection has ended.
				h.stopped = true
				h.mu.Unlock()
				return false
			}
			// Answered. The answer itself says nothing about the rest of
			// the interval: only what else came counts.
			h.ping, h.pingID, h.missed = nil, 0, 0
			heard--
		default:
		}
	}
	if heard > 0 {
		h.missed = 0
		h.mu.Unlock()
		return true
	}
	if h.ping != nil {
		h.missed++
		if h.missed >= h.misses {
			h.stopped = true
			missed := h.missed
			h.mu.Unlock()
			h.c.CloseWithError(fmt.Errorf("%w: no answer for %d intervals of %v", ErrUnresponsive, missed, h.interval))
			return false
		}
		h.mu.Unlock()
		return true
	}
	ch := make(chan *Envelope, 1)
	id, ok := h.c.expect(ch)
	if !ok {
		h.stopped = true
		h.mu.Unlock()
		return false
	}
	h.ping, h.pingID = ch, id
	h.running.Add(1)
	h.mu.Unlock()
	h.send(id)
	return true
}

// send writes the ping numbered id: at once when the connection takes it
// without waiting, which on an idle kernel socket it does, and otherwise
// from a goroutine of its own, so that the clock, which ticks every other
// heartbeat too, never waits for a write. A write that fails ends the
// connection, and the ping's channel then gets nil.
func (h *Heartbeat) send(id uint64) {
	m := newMsg()
	var err error
	if h.c.Protocol() >= Protocol2 {
		err = m.request2(seqID(id), MethodPing, nil, nil)
	} else {
		err = m.request(seqID(id), MethodPing, nil, "")
	}
	if err != nil {
		m.free()
		h.running.Done()
		return
	}
	switch ok, rest := h.c.writeQuick(m.frame()); {
	case !ok:
		go func() {
			_ = h.c.write(m.frame())
			m.free()
			h.running.Done()
		}()
	case rest != nil:
		go func() {
			h.c.finishQuick(rest)
			m.free()
			h.running.Done()
		}()
	default:
		m.free()
		h.running.Done()
	}
}

// expect numbers a request whose answer goes to ch, as Call does, and
// reports false when the connection no longer makes calls.
func (c *Conn) expect(ch chan *Envelope) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.state.open() {
		return 0, false
	}
	c.seq++
	c.pending[c.seq] = ch
	return c.seq, true
}

// fakeClock reports whether time runs on a testing/synctest bubble's fake
// clock, which starts at midnight UTC on 2000-01-01. The shared clock runs
// on the clock of the goroutine that started it, real or fake, so a
// heartbeat started in a bubble gets a timer of its own. A real clock
// that reads 2000 or earlier (one never set) gets the same: slower, and
// just as right.
func fakeClock() bool { return time.Now().Before(fakeClockEnd) }

var fakeClockEnd = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// hbClock runs the heartbeats of a process on one runtime timer. A timer
// per connection would cost little by itself, but the runtime keeps every
// timer of a P in one heap, and a timer that is reset to fire sooner (as
// Detach's is, on every call) makes it walk the whole heap: with a
// heartbeat timer for each of 20,000 connections, that made every call
// about twice as slow. Ticks are rounded up to a 1/64th of their interval
// so that heartbeats started at about the same time share a firing.
type hbClock struct {
	mu    sync.Mutex
	base  time.Time // what due times count from, on the monotonic clock
	queue hbQueue
	timer *time.Timer
	at    time.Duration // when timer fires; zero when it is not set
}

var sharedClock hbClock

// add queues h to tick after first.
func (k *hbClock) add(h *Heartbeat, first time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.base.IsZero() {
		k.base = time.Now()
	}
	h.due = roundUp(time.Since(k.base)+first, h.interval)
	heap.Push(&k.queue, h)
	k.arm()
}

func (k *hbClock) remove(h *Heartbeat) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if h.index >= 0 {
		heap.Remove(&k.queue, h.index)
	}
}

// arm sets the timer for the first heartbeat due, unless it is set for
// then already. k.mu is held.
func (k *hbClock) arm() {
	if len(k.queue) == 0 {
		return
	}
	due := k.queue[0].due
	if k.at != 0 && k.at <= due {
		return
	}
	k.at = due
	d := due - time.Since(k.base)
	if k.timer == nil {
		k.timer = time.AfterFunc(d, k.fire)
	} else {
		k.timer.Reset(d)
	}
}

// fire ticks every heartbeat that is due and sets the timer for the next.
func (k *hbClock) fire() {
	var due []*Heartbeat
	k.mu.Lock()
	now := time.Since(k.base)
	k.at = 0
	for len(k.queue) > 0 && k.queue[0].due <= now {
		h := k.queue[0]
		due = append(due, h)
		// The next tick is an interval after this one was due, so that
		// the two ends' ticks keep their offset; one that fell far behind
		// (the process was stopped) starts again from now.
		next := h.due + h.interval
		if next <= now {
			next = now + h.interval
		}
		h.due = roundUp(next, h.interval)
		heap.Fix(&k.queue, 0)
	}
	k.mu.Unlock()
	for _, h := range due {
		if !h.tick() {
			k.remove(h)
		}
	}
	k.mu.Lock()
	k.arm()
	k.mu.Unlock()
}

// roundUp rounds d up to a multiple of interval/64.
func roundUp(d, interval time.Duration) time.Duration {
	g := interval / 64
	if g <= 0 {
		return d
	}
	return (d + g - 1) / g * g
}

// hbQueue is the shared clock's heartbeats, the first due first.
type hbQueue []*Heartbeat

func (q hbQueue) Len() int           { return len(q) }
func (q hbQueue) Less(i, j int) bool { return q[i].due < q[j].due }
func (q hbQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *hbQueue) Push(x any) {
	h := x.(*Heartbeat)
	h.index = len(*q)
	*q = append(*q, h)
}
func (q *hbQueue) Pop() any {
	old := *q
	h := old[len(old)-1]
	old[len(old)-1] = nil
	h.index = -1
	*q = old[:len(old)-1]
	return h
}
