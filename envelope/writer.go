package envelope

import (
	"io"
	"net"
	"runtime"
	"sync"
)

// frameWriter puts whole frames on a kernel byte stream (a TCP or unix
// stream socket), one write at a time, and lets frames that come together
// share one system call. A small frame that comes while no write is under
// way, on a connection where frames have lately been coming together,
// yields its goroutine once (runtime.Gosched) before it goes out: the
// goroutines that are ready to run then (under load, the callers that the
// last read woke) add their frames to its write instead of each paying for
// one of their own. When none is ready, Gosched returns at once and the
// frame goes out alone, uncopied, as under a plain mutex. Frames that come
// while a write is under way are gathered, in the order they came, into
// one batch, which the first of them writes as soon as the write before it
// is done. On a byte stream where the bytes go is all that counts, not how
// many Write calls carried them.
//
// Every writer waits until the write that carried its frame has returned,
// and shares its error, so a frame is on the wire when its write returns,
// as with a plain mutex. Memory stays bounded by the frames of the
// goroutines that are waiting, and a peer that stops reading still holds
// everyone back (up to the write timeout) instead of letting frames pile
// up. A frame over gatherMax never waits for company.
type frameWriter struct {
	mu   sync.Mutex
	idle sync.Cond // signalled when busy turns false; L is &mu
	busy bool      // a write is under way
	next *batch    // frames waiting for the next write
	lead []byte    // the frame of a writer yielding before its write
	// shared counts down the yields still to try: it is set to
	// sharedStreak when a frame comes while another is being written or
	// yielding, and each yield that finds no company takes one off. Only
	// on a connection whose frames have lately come together does a small
	// frame yield. Elsewhere (a sequential caller, one of a broadcast's
	// thousand connections) yielding would only cost its goroutine a turn
	// behind every other runnable one, and behind a CPU-bound goroutine a
	// turn is its time slice: up to 4.5 ms a call, against 27–46 µs without
	// (docs/performance.md).
	shared int
}

// sharedStreak is how many lonely yields a connection tries after its
// frames last came together, before it writes at once again.
const sharedStreak = 256

// gatherMax is the largest frame that waits for others to join its write:
// copying a bigger one into a batch would cost more than a system call.
const gatherMax = 4 << 10

// batch is frames written together.
type batch struct {
	buf  []byte
	done chan struct{} // closed once buf is written; then err is set
	err  error
	bp   *[]byte // where buf came from, in batchBufs
}

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (w *frameWriter) init() { w.idle.L = &w.mu }

// write writes b with raw, running first (when not nil) before b is queued
// and while no other frame can be: what first enables cannot overtake b.
func (w *frameWriter) write(b []byte, first func(), raw func([]byte) error) error {
	w.mu.Lock()
	if first != nil {
		first()
	}
	if !w.busy && w.next == nil {
		w.busy = true
		if len(b) > gatherMax || w.shared == 0 {
			w.mu.Unlock()
			err := raw(b)
			w.release()
			return err
		}
		// Let the goroutines that are ready to run add their frames
		// before this one goes out: under load they are the callers the
		// last read woke, and they join this write instead of each paying
		// for one of its own. When none is ready, Gosched returns at once.
		w.lead = b
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
		w.lead = nil
		p := w.next
		w.next = nil
		if p != nil {
			w.shared = sharedStreak
		} else {
			w.shared--
		}
		w.mu.Unlock()
		if p == nil {
			err := raw(b)
			w.release()
			return err
		}
		err := raw(p.buf)
		w.finish(p, err)
		return err
	}
	w.shared = sharedStreak
	if p := w.next; p != nil {
		p.buf = append(p.buf, b...)
		w.mu.Unlock()
		<-p.done
		return p.err
	}
	if w.lead != nil {
		// The first to join a leader that is yielding: the batch starts
		// with the leader's frame.
		p := newBatch(w.lead, b)
		w.next = p
		w.mu.Unlock()
		<-p.done
		return p.err
	}
	// Lead the next batch: wait for the write under way, then write what
	// gathered in the meantime.
	p := newBatch(b)
	w.next = p
	for w.busy {
		w.idle.Wait()
	}
	w.busy = true
	w.next = nil
	w.mu.Unlock()
	err := raw(p.buf)
	w.finish(p, err)
	return err
}

// writeIfIdle writes b with raw only when no write is under way or
// waiting for its turn, and reports whether it did.
func (w *frameWriter) writeIfIdle(b []byte, raw func([]byte) error) (bool, error) {
	if !w.acquire() {
		return false, nil
	}
	err := raw(b)
	w.release()
	return true, err
}

// acquire takes the writer when no write is under way or waiting for its
// turn, and reports whether it did; release gives it back.
func (w *frameWriter) acquire() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy || w.next != nil {
		return false
	}
	w.busy = true
	return true
}

// newBatch starts a batch with frames, in a pooled buffer.
func newBatch(frames ...[]byte) *batch {
	bp := batchBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, f := range frames {
		buf = append(buf, f...)
	}
	return &batch{buf: buf, done: make(chan struct{}), bp: bp}
}

// finish reports p's write, recycles its buffer and lets the next write go.
func (w *frameWriter) finish(p *batch, err error) {
	p.err = err
	close(p.done)
	if cap(p.buf) <= 64<<10 {
		*p.bp = p.buf[:0]
		batchBufs.Put(p.bp)
	}
	p.buf = nil
	w.release()
}

func (w *frameWriter) release() {
	w.mu.Lock()
	w.busy = false
	w.mu.Unlock()
	w.idle.Signal()
}

// gathers reports whether frames for rwc may share a write: only on the
// kernel's byte streams, where no one sees where one Write ended and the
// next began. Anything else (a net.Pipe, a wrapped or message-oriented
// connection) gets one frame per Write.
func gathers(rwc io.ReadWriteCloser) bool {
	switch c := rwc.(type) {
	case *net.TCPConn:
		return true
	case *net.UnixConn:
		a := c.LocalAddr()
		if a == nil {
			a = c.RemoteAddr()
		}
		return a != nil && a.Network() == "unix"
	}
	return false
}
