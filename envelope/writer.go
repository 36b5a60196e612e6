package envelope

import (
	"io"
	"net"
	"sync"
)

// frameWriter puts whole frames on a kernel byte stream (a TCP or unix
// stream socket), one write at a time. A frame that comes while no write
// is under way is written at once, by its own goroutine, with one system
// call, exactly as under a plain mutex. Frames that come while a write is
// under way are gathered, in the order they came, into one batch, which
// the first of them writes with one system call as soon as the write
// before it is done; the others wait for that write and share its result.
// Under concurrent calls that turns many small writes, each of which would
// otherwise queue for the lock and pay for a system call of its own, into
// a few: on a byte stream where the bytes go is all that counts, not how
// many Write calls carried them.
//
// Memory stays bounded by the frames of the goroutines that are waiting,
// as it would be with a plain mutex, and every writer waits until its
// frame is written, so a peer that stops reading still holds everyone back
// (up to the write timeout) instead of letting frames pile up.
type frameWriter struct {
	mu   sync.Mutex
	idle sync.Cond // signalled when busy turns false; L is &mu
	busy bool      // a write is under way
	next *batch    // frames waiting for the next write
}

// batch is frames written together.
type batch struct {
	buf  []byte
	done chan struct{} // closed once buf is written; then err is set
	err  error
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
		w.mu.Unlock()
		err := raw(b)
		w.release()
		return err
	}
	if p := w.next; p != nil {
		p.buf = append(p.buf, b...)
		w.mu.Unlock()
		<-p.done
		return p.err
	}
	// Lead the next batch: wait for the write under way, then write what
	// gathered in the meantime.
	bp := batchBufs.Get().(*[]byte)
	p := &batch{buf: append((*bp)[:0], b...), done: make(chan struct{})}
	w.next = p
	for w.busy {
		w.idle.Wait()
	}
	w.busy = true
	w.next = nil
	w.mu.Unlock()
	err := raw(p.buf)
	p.err = err
	close(p.done)
	if cap(p.buf) <= 64<<10 {
		*bp = p.buf[:0]
		batchBufs.Put(bp)
	}
	p.buf = nil
	w.release()
	return err
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
