//go:build unix

package envelope

import (
	"io"
	"net"
	"os"
	"syscall"
)

// quickWriter writes to a kernel socket what the kernel takes at once,
// and never waits for room. A write that the kernel takes whole (nearly
// every write: the socket's buffer holds hundreds of kilobytes) needs no
// write deadline, and so sets none: a deadline is set only for what is
// left once the buffer is full, and cleared when that is written
// (Conn.writeRaw). Before, every connection carried a deadline timer,
// and 20,000 idle ones kept 20,000 timers in the runtime's heap, each
// firing once per heartbeat (docs/performance.md, "Heartbeats and Detach
// among 20,000 connections").
//
// Only the goroutine that holds the connection's writer uses it.
type quickWriter struct {
	rc   syscall.RawConn
	conn net.Conn
	fn   func(fd uintptr) bool // w.do, bound once so that a write allocates nothing
	b    []byte
	n    int
	err  error
}

// newQuickWriter returns a quickWriter for rwc, or nil when rwc is not a
// kernel socket.
func newQuickWriter(rwc io.ReadWriteCloser) *quickWriter {
	sc, ok := rwc.(interface {
		net.Conn
		syscall.Conn
	})
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &quickWriter{rc: rc, conn: sc}
	w.fn = w.do
	return w
}

// write writes what it can of b without waiting and returns how much
// that was. Its error is the one a net.Conn's Write would have returned.
func (w *quickWriter) write(b []byte) (int, error) {
	w.b, w.n, w.err = b, 0, nil
	err := w.rc.Write(w.fn)
	n := w.n
	if err == nil && w.err != nil {
		err = &net.OpError{Op: "write", Net: w.conn.LocalAddr().Network(), Source: w.conn.LocalAddr(), Addr: w.conn.RemoteAddr(), Err: os.NewSyscallError("write", w.err)}
	}
	w.b, w.err = nil, nil
	return n, err
}

// do is the raw write: it reports true whatever happened, so that
// RawConn.Write never waits for the socket to be writable.
func (w *quickWriter) do(fd uintptr) bool {
	for w.n < len(w.b) {
		n, err := syscall.Write(int(fd), w.b[w.n:])
		if n > 0 {
			w.n += n
		}
		if err == syscall.EINTR || (err == nil && n > 0) {
			continue
		}
		if err != syscall.EAGAIN {
			w.err = err
		}
		return true
	}
	return true
}
