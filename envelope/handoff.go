package envelope

import (
	"runtime"
	"sync"
	"time"
)

// A connection has one reader at a time, but not always the same
// goroutine. A Handler with slow work to do for a message (a plugin
// running the method a request names) calls Detach and then does the work
// where it is, on the goroutine that read the message. Reading moves on
// to another goroutine only if that work is still running after
// handOnDelay, or at once if more input is already waiting to be read.
//
// Why not simply start the work on a goroutine of its own, as net/rpc
// does? Because waking a goroutine is not free: it makes the Go scheduler
// wake an idle thread to run it, and on a machine with few cores the work
// then waits for that thread or races it for the network poller. A call
// that runs where its request was read costs no wake-up at all, and most
// calls are over long before handOnDelay: on a two-core machine that made
// a sequential call about a quarter faster than handing each call to a
// goroutine, and than handing the reading on at once. The price is that a
// message arriving while a Handler works waits up to handOnDelay for a
// reader, or, when the work keeps every core busy, until the Go runtime
// runs timers again (at most about 10 ms later, when it preempts the
// work).
//
// A goroutine whose Handler returns after reading has moved on waits to be
// the reader again (the one that waited last goes first: its stack is the
// warmest), so a connection keeps as many goroutines as it has had slow
// Handlers running at once, at most maxIdleReaders of them idle, instead
// of starting one per message. They all end with the connection; Wait
// waits for them.

// handOnDelay is how long a detached Handler keeps the read loop before
// another goroutine takes over reading.
const handOnDelay = 50 * time.Microsecond

// maxIdleReaders bounds the goroutines a Conn keeps waiting to read.
var maxIdleReaders = max(64, 4*runtime.GOMAXPROCS(0))

// readers are the goroutines a Conn has started.
type readers struct {
	mu     sync.Mutex
	idle   []chan bool // true: read now; false: end
	closed bool        // the connection has ended: no goroutine waits any more
	wg     sync.WaitGroup

	// holding is the message whose detached Handler still runs on the
	// reader: reading has not moved on yet, and will when timer fires,
	// if it is still the same hold then.
	holding *Envelope
	holds   uint64      // Detach calls that held the reader, ever
	armed   bool        // timer is set, for the hold numbered armedAt
	armedAt uint64      // holds when timer was set
	timer   *time.Timer // runs handOnLate; made at the first Detach
}

// run is the body of every goroutine a Conn starts: it reads until a
// Handler detaches it and reading moves on, then, once that Handler has
// returned, waits for its next turn.
func (c *Conn) run() {
	defer c.readers.wg.Done()
	var turn chan bool
	for c.readLoop() {
		if turn == nil {
			turn = make(chan bool, 1)
		}
		r := &c.readers
		r.mu.Lock()
		if r.closed || len(r.idle) >= maxIdleReaders {
			r.mu.Unlock()
			return
		}
		r.idle = append(r.idle, turn)
		r.mu.Unlock()
		if !<-turn {
			return
		}
	}
}

// Detach lets the Handler, called on the read loop with m, take as long as
// it likes over m. The Handler goes on running where it is; if it is still
// running after a short while (50 µs), or at once when more input is
// already waiting, another goroutine takes over reading the connection,
// and this one stops being the read loop when the Handler returns. So a
// quick Handler costs no goroutine switch at all, and a slow one holds up
// later messages only briefly. Messages still reach the Handler in the
// order they arrived, but once reading has moved on, the Handler is called
// for the next ones while this call still runs.
//
// Detach reports whether it did that. It does nothing and returns false
// when m is not the message the Handler is running for at that moment (a
// Handler that has returned, or a message passed elsewhere), or when m has
// been detached already; the caller should then run its work on a
// goroutine of its own.
func (c *Conn) Detach(m *Envelope) bool {
	if m == nil || !c.handing.CompareAndSwap(m, nil) {
		return false
	}
	r := &c.readers
	r.mu.Lock()
	defer r.mu.Unlock()
	// Only the reader gets past the swap above, so fr is ours to look at.
	if c.fr.r.Buffered() > 0 {
		c.handOn()
		return true
	}
	r.holding = m
	r.holds++
	if !r.armed {
		r.arm(c)
	}
	return true
}

// arm sets the timer for the hold under way. It is set at most once per
// handOnDelay, however many calls detach meanwhile, and never stopped: a
// hold that ends before it fires costs no timer operation at all. A timer
// reset on every call made the runtime walk its whole timer heap once per
// call (a timer reset to fire sooner marks the heap for a scan), which
// with a timer or two per connection made calls slower the more
// connections the process had. r.mu is held.
func (r *readers) arm(c *Conn) {
	r.armed, r.armedAt = true, r.holds
	if r.timer == nil {
		r.timer = time.AfterFunc(handOnDelay, c.handOnLate)
	} else {
		r.timer.Reset(handOnDelay)
	}
}

// handOn makes another goroutine the reader: the one that went idle last,
// or a new one. r.mu is held.
func (c *Conn) handOn() {
	r := &c.readers
	if n := len(r.idle); n > 0 {
		turn := r.idle[n-1]
		r.idle[n-1] = nil
		r.idle = r.idle[:n-1]
		turn <- true
		return
	}
	r.wg.Add(1) // not from zero: the goroutine detached is counted
	go c.run()
}

// handOnLate moves reading on from a detached Handler that is still
// running when the timer fires.
func (c *Conn) handOnLate() {
	r := &c.readers
	r.mu.Lock()
	defer r.mu.Unlock()
	r.armed = false
	switch {
	case r.holding == nil || r.closed:
		// Every hold since the timer was set ended in time.
	case r.holds != r.armedAt:
		// The hold under way began after the timer was set: it gets its
		// own handOnDelay, so at most twice that in all.
		r.arm(c)
	default:
		r.holding = nil
		c.handOn()
	}
}

// resume is what the read loop asks when the Handler that detached m has
// returned: whether this goroutine is still the reader, because reading
// has not moved on meanwhile. It then never will for m.
func (c *Conn) resume(m *Envelope) bool {
	r := &c.readers
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holding != m {
		return false
	}
	r.holding = nil // the timer, if it fires, finds nothing to do
	return true
}

// endReaders ends the goroutines waiting for a turn, and any that would
// start waiting later; the read loop runs it when the connection ends.
func (c *Conn) endReaders() {
	r := &c.readers
	r.mu.Lock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	for _, turn := range idle {
		turn <- false
	}
}

// Wait waits until the connection has ended and every goroutine it
// started has returned, including any still running a Handler that
// called Detach.
func (c *Conn) Wait() {
	<-c.done
	c.readers.wg.Wait()
	c.streams.flusher.Wait()
}
