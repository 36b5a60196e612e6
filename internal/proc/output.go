package proc

import (
	"bytes"
	"sync"
)

// Lines is an io.Writer for a process's standard output or error that
// passes on what the process writes one line at a time: each line,
// without its "\n" and any "\r" before it, goes to the function given to
// NewLines. A line longer than the limit is passed on in pieces of the
// limit, so that a process that never writes a newline cannot make the
// host hold more than that.
//
// A Lines is safe for concurrent use. It calls the function with its own
// lock held, one line at a time and in order, so the function must not
// call back into the Lines.
type Lines struct {
	mu   sync.Mutex
	max  int
	line func(string)
	buf  []byte // the line written so far, at most max bytes
}

// NewLines returns a Lines that passes each line to line, cutting lines
// longer than limit bytes (at least 1) into pieces.
func NewLines(limit int, line func(string)) *Lines {
	return &Lines{max: max(limit, 1), line: line}
}

// Write passes on every line p completes, and keeps the rest for the
// next Write. It never fails.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			i = len(p)
		}
		if len(l.buf) == l.max && i > 0 {
			// A full piece, and the line goes on: pass the piece on. A
			// full piece is held until then, so that a line of exactly
			// the limit is not followed by an empty one.
			l.emit()
		}
		take := min(i, l.max-len(l.buf))
		l.buf = append(l.buf, p[:take]...)
		p = p[take:]
		if take == i && len(p) > 0 { // p[0] is the newline
			p = p[1:]
			l.emit()
		}
	}
	return n, nil
}

// Flush passes on a last line that had no newline, if there is one.
func (l *Lines) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit()
	}
}

// Partial returns the line written so far and not yet passed on, without
// its trailing "\r"s; "" when there is none. Flush would pass it on.
func (l *Lines) Partial() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(bytes.TrimRight(l.buf, "\r"))
}

// emit passes on l.buf and empties it. l.mu must be held.
func (l *Lines) emit() {
	l.line(string(bytes.TrimRight(l.buf, "\r")))
	l.buf = l.buf[:0]
}
