package socket

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// The connection Attach runs a plugin over: in memory, like net.Pipe, but
// each direction holds up to pipeBuffer bytes, as a socket's does. Each
// side's read loop writes answers itself (to pings, and to calls that
// finish within the hand-off window). Over net.Pipe, where a write waits
// for the other side to read, two read loops each writing to the other
// wait for each other for good; with a buffer, as over TCP, a write
// waits only when the peer has let pipeBuffer bytes pile up unread, which
// the write timeout then bounds.
//
// Compared with a socketpair (syscall.Socketpair and net.FileConn), it
// runs everywhere, holds no file descriptors and makes no system call: a
// Call took 8.4 µs over it, 20 µs over a socketpair and 12 µs over
// net.Pipe (BenchmarkCall/pipe and CallContext/pipe, two cores, benchstat
// geomean of 10 runs each). Setting a deadline only stores it; a timer is
// armed only by a wait that needs one, where net.Pipe starts one for
// every deadline set, that is, for every write with a write timeout.

// pipeBuffer is what one direction holds before a write waits: about a
// unix socket's default buffer on Linux. Memory is taken as the bytes
// arrive, not up front, and a buffer larger than pipeKeep is let go once
// it has been read, so an idle attached plugin costs little.
const (
	pipeBuffer = 256 << 10
	pipeKeep   = 16 << 10
)

// memPipe returns the two ends of an in-memory, buffered, full-duplex
// connection. Each end is a net.Conn with deadlines; closing one makes
// the other read what was sent before, then io.EOF, and fail its writes.
func memPipe() (net.Conn, net.Conn) {
	ab, ba := newPipeHalf(), newPipeHalf()
	return &pipeEnd{rx: ba, tx: ab}, &pipeEnd{rx: ab, tx: ba}
}

// pipeHalf is one direction: the bytes written and not yet read.
type pipeHalf struct {
	mu       sync.Mutex
	buf      []byte // unread: buf[off:]
	off      int
	rclosed  bool          // the reading end is closed: writes fail
	wclosed  bool          // the writing end is closed: reads drain, then io.EOF
	readable chan struct{} // a token when the reader should look again
	writable chan struct{} // a token when the writer should look again
}

func newPipeHalf() *pipeHalf {
	return &pipeHalf{readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

// reserve makes room for k more bytes, k being at most the room left:
// the unread bytes move to the front, and a new buffer grows by doubling
// but never past pipeBuffer, so that one direction holds at most that.
// h.mu must be held.
func (h *pipeHalf) reserve(k int) {
	unread := len(h.buf) - h.off
	if h.off+unread+k <= cap(h.buf) {
		return
	}
	if unread+k <= cap(h.buf) {
		h.buf, h.off = h.buf[:copy(h.buf, h.buf[h.off:])], 0
		return
	}
	grown := make([]byte, unread, min(max(2*cap(h.buf), unread+k, 512), pipeBuffer))
	copy(grown, h.buf[h.off:])
	h.buf, h.off = grown, 0
}

// poke leaves a token in ch unless one is waiting already. Each end lets
// one reader and one writer in at a time (pipeEnd.rmu, wmu), so a token
// wakes the one goroutine that may be waiting, which then looks again.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// pipeEnd is one end of a memPipe.
type pipeEnd struct {
	rx, tx *pipeHalf
	rmu    sync.Mutex // one Read at a time, as on a socket
	wmu    sync.Mutex // one Write at a time, so writes never interleave

	dmu    sync.Mutex // guards the deadlines
	rdl    time.Time
	wdl    time.Time
	closed sync.Once
}

func (e *pipeEnd) Read(p []byte) (int, error) {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	h := e.rx
	for {
		h.mu.Lock()
		switch {
		case h.rclosed:
			h.mu.Unlock()
			return 0, net.ErrClosed
		case len(h.buf) > h.off:
			n := copy(p, h.buf[h.off:])
			if h.off += n; h.off == len(h.buf) {
				h.buf, h.off = h.buf[:0], 0
				if cap(h.buf) > pipeKeep {
					h.buf = nil
				}
			}
			h.mu.Unlock()
			poke(h.writable)
			return n, nil
		case h.wclosed:
			h.mu.Unlock()
			return 0, io.EOF
		}
		h.mu.Unlock()
		if err := e.wait(h.readable, &e.rdl); err != nil {
			return 0, err
		}
	}
}

func (e *pipeEnd) Write(p []byte) (int, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	h := e.tx
	n := 0
	for {
		h.mu.Lock()
		switch {
		case h.wclosed:
			h.mu.Unlock()
			return n, net.ErrClosed
		case h.rclosed:
			h.mu.Unlock()
			return n, io.ErrClosedPipe
		case n == len(p): // nothing to write waits for nothing
			h.mu.Unlock()
			return n, nil
		}
		if room := pipeBuffer - (len(h.buf) - h.off); room > 0 {
			k := min(room, len(p)-n)
			h.reserve(k)
			h.buf = append(h.buf, p[n:n+k]...)
			n += k
			h.mu.Unlock()
			poke(h.readable)
			if n == len(p) {
				return n, nil
			}
			continue
		}
		h.mu.Unlock()
		if err := e.wait(h.writable, &e.wdl); err != nil {
			return n, err
		}
	}
}

// wait waits for a token in ch, or for the deadline *dl, read anew each
// time since another goroutine may move it while this one waits (setting
// a deadline pokes the waiter). A timer is armed only when a wait needs
// one, so setting a deadline before every write costs nothing more.
func (e *pipeEnd) wait(ch chan struct{}, dl *time.Time) error {
	e.dmu.Lock()
	t := *dl
	e.dmu.Unlock()
	if t.IsZero() {
		<-ch
		return nil
	}
	d := time.Until(t)
	if d <= 0 {
		return os.ErrDeadlineExceeded
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
	}
	return nil // the caller looks again; past the deadline, the next wait fails
}

// Close closes this end: its reads and writes fail with net.ErrClosed,
// and the other end reads what was sent, then io.EOF.
func (e *pipeEnd) Close() error {
	e.closed.Do(func() {
		for _, h := range []*pipeHalf{e.rx, e.tx} {
			h.mu.Lock()
			if h == e.rx {
				h.rclosed = true
				h.buf, h.off = nil, 0 // never to be read
			} else {
				h.wclosed = true
			}
			h.mu.Unlock()
			poke(h.readable)
			poke(h.writable)
		}
	})
	return nil
}

func (e *pipeEnd) SetDeadline(t time.Time) error {
	_ = e.SetReadDeadline(t)
	return e.SetWriteDeadline(t)
}

func (e *pipeEnd) SetReadDeadline(t time.Time) error {
	e.dmu.Lock()
	e.rdl = t
	e.dmu.Unlock()
	poke(e.rx.readable)
	return nil
}

func (e *pipeEnd) SetWriteDeadline(t time.Time) error {
	e.dmu.Lock()
	e.wdl = t
	e.dmu.Unlock()
	poke(e.tx.writable)
	return nil
}

func (e *pipeEnd) LocalAddr() net.Addr  { return pipeAddr{} }
func (e *pipeEnd) RemoteAddr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "in-process" }
