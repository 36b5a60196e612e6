package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// A frame over the limit costs its call, not the connection. The sender
// refuses to write one (Call, Notify and Reply check the frame they built
// against the connection's limit, which both sides are assumed to share);
// a peer that writes one anyway, a foreign or a hostile one, has its body
// read through and thrown away in the reader's own buffer, while a scan
// that keeps nothing but a few counters picks out its top-level "id" and
// "method", so that the request can be answered and the call it answers
// failed. Only a declaration too large to be worth reading through
// (discardLimit) still ends the connection.

// discardFactor and minDiscard set discardLimit.
const (
	discardFactor = 16
	minDiscard    = 256 << 20
)

// discardLimit is the largest body, declared over the limit, that a
// reader reads through and discards rather than ending the connection: a
// peer declaring more (2^62 bytes, say) is not worth waiting for.
// Reading through costs the time the bytes take to arrive, no memory; a
// peer that trickles them stops answering pings meanwhile, and the
// heartbeat hangs up on it as on any peer that stops answering.
func discardLimit(limit int) int64 {
	return max(int64(limit)*discardFactor, minDiscard)
}

// tooLarge is the error for a frame over the limit that was read through
// (or that the stream ended in the middle of, err). It wraps
// ErrFrameTooLarge.
type tooLarge struct {
	size, limit int64
	found       found
	err         error // why the body could not be read through; nil if it was
}

func (e *tooLarge) Error() string {
	s := fmt.Sprintf("%s: %d bytes, limit is %d", ErrFrameTooLarge.Error(), e.size, e.limit)
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *tooLarge) Unwrap() []error {
	if e.err != nil {
		return []error{ErrFrameTooLarge, e.err}
	}
	return []error{ErrFrameTooLarge}
}

// discard reads through a body of n bytes, over the limit, in the
// reader's own buffer, scanning it as it goes.
func (f *FrameReader) discard(n int64) error {
	e := &tooLarge{size: n, limit: int64(f.max)}
	var s bodyScan
	for n > 0 {
		b, err := f.r.Peek(int(min(n, int64(f.r.Size()))))
		s.feed(b)
		_, _ = f.r.Discard(len(b))
		n -= int64(len(b))
		if err != nil {
			e.err = unexpected(err)
			return e
		}
	}
	e.found = s.result()
	return e
}

// found is what bodyScan found in a body.
type found struct {
	object bool   // the body is one JSON object, as far as its structure goes
	id     ID     // its top-level "id", the zero ID when none could be read
	method string // its top-level "method" (truncated), when it is a string
	call   bool   // it has a "method" member: a request or a notification
}

// Bounds on what bodyScan keeps of a member: an id or a method longer
// than this is not one a Conn sent or serves.
const (
	scanKeyMax   = 64 // enough for "method" with every letter escaped
	scanValueMax = 256
)

// Members of interest to bodyScan.
const (
	memberOther = iota
	memberID
	memberMethod
)

// bodyScan follows a JSON body's structure a chunk at a time and keeps
// the top-level "id" and "method", wherever in the object they are. It
// uses a fixed amount of memory however long or deeply nested the body:
// a depth counter, whether it is inside a string, and a small buffer for
// the key or value being read at the top level. It checks structure, not
// validity: a body it takes for an object may still be malformed, which
// matters not, since the body is refused either way.
type bodyScan struct {
	depth    int  // 1 inside the top-level object
	started  bool // the top-level object has opened
	ended    bool // and closed
	bad      bool // the body is not one JSON object
	str      bool // inside a string
	esc      bool // just after a backslash in a string
	wantKey  bool // at the top level, the next string is a key
	member   int  // the top-level member whose value is being read
	keeping  bool // the current key or top-level value goes into buf
	overflow bool // it did not fit
	n        int
	buf      [scanValueMax]byte

	id     [scanValueMax]byte
	idLen  int // 0: no usable id
	method [scanValueMax]byte
	mLen   int
	call   bool
}

func (s *bodyScan) keep(b []byte) {
	if !s.keeping {
		return
	}
	limit := scanValueMax
	if s.wantKey {
		limit = scanKeyMax
	}
	if s.n+len(b) > limit {
		// What fits is kept, to name a long method by its start.
		s.n += copy(s.buf[s.n:limit], b)
		s.overflow = true
		s.keeping = false
		return
	}
	s.n += copy(s.buf[s.n:], b)
}

var quote = []byte{'"'}

// feed scans the next chunk of the body.
func (s *bodyScan) feed(b []byte) {
	for i := 0; i < len(b); {
		if s.bad {
			return
		}
		if s.str {
			if s.esc {
				s.keep(b[i : i+1])
				s.esc = false
				i++
				continue
			}
			// Two IndexByte passes, which are vectorised, beat one
			// IndexAny, which is not, on the long strings (base64) that
			// make most of a large body.
			j := bytes.IndexByte(b[i:], '"')
			seg := b[i:]
			if j >= 0 {
				seg = seg[:j]
			}
			if k := bytes.IndexByte(seg, '\\'); k >= 0 {
				j = k
			}
			if j < 0 {
				s.keep(b[i:])
				return
			}
			s.keep(b[i : i+j])
			i += j
			if b[i] == '\\' {
				s.keep(b[i : i+1])
				s.esc = true
				i++
				continue
			}
			s.str = false
			if s.depth == 1 {
				s.keep(b[i : i+1])
				s.endString()
			}
			i++
			continue
		}
		c := b[i]
		i++
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case !s.started:
			if c != '{' {
				s.bad = true
				return
			}
			s.started, s.depth, s.wantKey = true, 1, true
		case s.ended:
			s.bad = true // something after the object
			return
		case c == '"':
			s.str = true
			if s.depth == 1 {
				s.n, s.overflow = 0, false
				s.keeping = s.wantKey || s.member != memberOther
				s.keep(quote)
			}
		case c == '{' || c == '[':
			if s.depth == 1 {
				s.keeping = false // an object or array is no id or method
				s.member = memberOther
			}
			s.depth++
		case c == '}' || c == ']':
			s.depth--
			if s.depth == 0 {
				s.endValue()
				s.ended = true
			}
		case s.depth > 1:
		case c == ':':
			s.member = memberOther
			if s.wantKey && !s.overflow && s.n > 0 {
				switch {
				case quotedKey(s.buf[:s.n], "id"):
					s.member = memberID
				case quotedKey(s.buf[:s.n], "method"):
					// A method of any type makes a request, to be
					// answered: never a response to fail a call with.
					s.member, s.call = memberMethod, true
				}
			}
			s.wantKey, s.keeping, s.n, s.overflow = false, s.member != memberOther, 0, false
		case c == ',':
			s.endValue()
			s.wantKey = true
		default:
			// A number or a literal at the top level.
			s.keep(b[i-1 : i])
		}
	}
}

// endString ends a string at the top level: a key, or a value kept.
func (s *bodyScan) endString() {
	if !s.wantKey {
		s.endValue()
	}
}

// endValue ends a top-level member's value, and keeps it if it is one of
// interest.
func (s *bodyScan) endValue() {
	switch s.member {
	case memberID:
		s.idLen = 0
		if s.keeping && !s.overflow {
			s.idLen = copy(s.id[:], s.buf[:s.n])
		}
	case memberMethod:
		s.mLen = 0
		if s.n > 0 && s.buf[0] == '"' {
			// Truncated when too long to keep: it only names the
			// request in messages.
			s.mLen = copy(s.method[:], s.buf[:s.n])
		}
	}
	s.member, s.keeping, s.n, s.overflow = memberOther, false, 0, false
}

// quotedKey reports whether the top-level key in buf is a whole JSON
// string called name; a malformed body may put anything there.
func quotedKey(key []byte, name string) bool {
	if len(key) < 2 || key[0] != '"' || key[len(key)-1] != '"' {
		return false
	}
	if k := key[1 : len(key)-1]; bytes.IndexByte(k, '\\') < 0 {
		return string(k) == name
	}
	// A copy, so that the scan's buffer stays on the stack.
	return isKey(bytes.Clone(key), name)
}

// result is what the scan found, once the whole body has gone past.
func (s *bodyScan) result() found {
	f := found{object: s.started && s.ended && !s.bad && !s.str}
	if !f.object {
		return f
	}
	if s.idLen > 0 {
		var id ID
		if id.UnmarshalJSON(bytes.Clone(s.id[:s.idLen])) == nil {
			f.id = id
		}
	}
	f.call = s.call
	if s.mLen > 0 {
		var m string
		if json.Unmarshal(bytes.Clone(s.method[:s.mLen]), &m) == nil {
			f.method = m
		} else {
			// Truncated, or malformed: enough to name it in a message.
			f.method = string(bytes.Trim(s.method[:s.mLen], `"`))
		}
	}
	return f
}

// sendLimit is the largest body c sends. A Conn knows only its own
// limit, and takes the peer's to be the same, since the host and its
// plugins are configured together, but never lower than
// DefaultMaxFrameSize: a limit lowered on one side only must not stop the
// other from sending what it could before (an error answer longer than a
// tiny limit, say). Either way a peer whose limit is lower than this fails
// just the one call, on its side (see oversized).
func (c *Conn) sendLimit() int { return max(c.maxSize, DefaultMaxFrameSize) }

// sendable returns an error wrapping ErrFrameTooLarge when the message m
// holds is over the limit; what and method name it in the error.
func (c *Conn) sendable(m *msg, what, method string) error {
	n, limit := len(m.b)-headroom, c.sendLimit()
	if n <= limit {
		return nil
	}
	if method != "" {
		what += " " + strconv.Quote(method)
	}
	return fmt.Errorf("%w: %s of %d bytes exceeds the limit of %d bytes (MaxFrameSize)", ErrFrameTooLarge, what, n, limit)
}

// tooLargeError is the error answer sent in place of an answer that err,
// from sendable, refused.
func tooLargeError(err error) *Error {
	return &Error{Code: CodeFrameTooLarge, Message: err.Error()}
}

// oversized deals with a frame the reader read through and discarded for
// being over the limit. A request is answered with an error; a response
// fails the call it answers, as that answer would have. Anything else (a
// notification, a body that is not an object or has no id this side can
// read) has no one to tell, and is dropped with a warning.
func (c *Conn) oversized(e *tooLarge) {
	f := e.found
	switch {
	case f.call && !f.id.IsZero():
		what := "request"
		if f.method != "" {
			what = "request " + strconv.Quote(f.method)
		}
		_ = c.ReplyError(f.id, Errorf(CodeFrameTooLarge, "%v: %s of %d bytes exceeds the limit of %d bytes (MaxFrameSize)", ErrFrameTooLarge, what, e.size, e.limit))
		return
	case !f.call && !f.id.IsZero():
		m := &Envelope{JSONRPC: "2.0", ID: f.id, Error: Errorf(CodeFrameTooLarge, "%v: response of %d bytes exceeds the limit of %d bytes (MaxFrameSize)", ErrFrameTooLarge, e.size, e.limit)}
		if err := c.deliver(m); err == nil {
			return
		}
	}
	c.log.Warn("plugsock: dropped a frame over the size limit", "reason", e.Error(),
		"object", f.object, "id", f.id.String(), "method", f.method)
}
