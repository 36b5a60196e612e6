package envelope

import (
	"bytes"
	"encoding/binary"
	"sync"
	"unicode/utf8"

	"github.com/plugsock/plugsock/internal/jsonkey"
	"github.com/plugsock/plugsock/internal/jsonscan"
)

// The fast path of Decode. encoding/json's reflection costs more than the
// rest of a call's work put together, so the envelope's own members are
// parsed by hand here. The hand parser takes only the plain shapes every
// implementation sends (lower-case member names, each once; strings
// without escapes, except in ids and values; ids whose strings are valid
// UTF-8; no "error" member) and gives up on anything else, which then goes
// through encoding/json exactly as before. Whatever it accepts,
// encoding/json would have decoded to the same Envelope: it checks the
// whole body is valid JSON by the same grammar, and FuzzDecodeFast holds
// the two to that.

// envBox holds an Envelope with its Meta, so that decoding a message
// costs one allocation for both. e must stay its first field: recycle
// finds the box from the Envelope.
type envBox struct {
	e      Envelope
	meta   Meta
	inline [128]byte // for small params or a small result; see keep
}

// boxes keeps the boxes of answers that Conn.finish is done with. An
// answer's box is about half the bytes a small call allocates on its
// caller's side; reused, it makes the collector run that much less
// often, which is what a host with many idle connections, whose every
// collection marks all of them, pays for per call. The pool holds no
// more boxes than answers were in flight at once, until the collector
// empties it.
var boxes = sync.Pool{New: func() any { return new(envBox) }}

func putBox(b *envBox) {
	*b = envBox{}
	boxes.Put(b)
}

// minPooledCopy is the size from which params or a result copied out of
// a frame go into a pooled buffer (bufpool.go) rather than a new one.
const minPooledCopy = 16 << 10

// maxFastDepth bounds the nesting the fast path validates by recursion;
// deeper values are left to encoding/json, which has its own limit.
const maxFastDepth = 256

const (
	seenJSONRPC = 1 << iota
	seenID
	seenMethod
	seenParams
	seenMeta
	seenResult
)

// envelopeMembers are the names encoding/json would match, case
// insensitively, to Envelope's fields.
var envelopeMembers = []string{"jsonrpc", "id", "method", "params", "meta", "result", "error"}

// decodeFast parses body when it has one of the plain shapes; ok is false
// when encoding/json must decide. With own set, Params or Result may
// point into body rather than be a copy of it (see keep).
func decodeFast(body []byte, own bool) (e *Envelope, ok bool) {
	p := scan{b: body}
	p.ws()
	if !p.eat('{') {
		return nil, false
	}
	box := boxes.Get().(*envBox)
	e = &box.e
	e.boxed = true
	var seen uint
	once := func(bit uint) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			key, ok := p.plainString()
			if !ok {
				return nil, false
			}
			p.ws()
			if !p.eat(':') {
				return nil, false
			}
			p.ws()
			switch string(key) {
			case "jsonrpc":
				s, ok := p.plainString()
				if !ok || !once(seenJSONRPC) {
					return nil, false
				}
				if string(s) == "2.0" {
					e.JSONRPC = "2.0"
				} else {
					e.JSONRPC = string(s)
				}
			case "id":
				if !once(seenID) {
					return nil, false
				}
				if !p.id(&e.ID) {
					return nil, false
				}
			case "method":
				s, ok := p.plainString()
				if !ok || !once(seenMethod) {
					return nil, false
				}
				e.Method = methodName(s)
			case "params":
				raw, ok := p.value(0)
				if !ok || !once(seenParams) {
					return nil, false
				}
				e.Params = box.keep(raw, own, body)
			case "result":
				raw, ok := p.value(0)
				if !ok || !once(seenResult) {
					return nil, false
				}
				e.Result = box.keep(raw, own, body)
			case "meta":
				if !once(seenMeta) {
					return nil, false
				}
				if p.null() {
					break
				}
				if !p.meta(&box.meta) {
					return nil, false
				}
				e.Meta = &box.meta
			default:
				if jsonkey.MayMatch(key, envelopeMembers) {
					// "error", or a member spelled in another case.
					return nil, false
				}
				if _, ok := p.value(0); !ok {
					return nil, false
				}
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return nil, false
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, false
	}
	return e, true
}

// methodName returns s as a string, without allocating for the reserved
// names.
func methodName(s []byte) string {
	switch string(s) {
	case MethodAsync:
		return MethodAsync
	case MethodCancel:
		return MethodCancel
	case MethodShutdown:
		return MethodShutdown
	case MethodHandshake:
		return MethodHandshake
	case MethodPing:
		return MethodPing
	}
	return string(s)
}

// scan is a cursor over JSON text.
type scan struct {
	b []byte
	i int
}

func (p *scan) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *scan) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// null consumes a JSON null.
func (p *scan) null() bool {
	if bytes.HasPrefix(p.b[p.i:], []byte("null")) {
		p.i += 4
		return true
	}
	return false
}

// plainString consumes a string without escapes whose bytes are valid
// UTF-8, and returns its contents: exactly what encoding/json would
// decode it to.
func (p *scan) plainString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// id consumes a request id as ID's UnmarshalJSON reads it: null, any
// JSON number, or a string, here only one that is valid UTF-8 (the others
// are rewritten, which is left to encoding/json).
func (p *scan) id(id *ID) bool {
	if p.null() {
		*id = ID{}
		return true
	}
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '"' {
		if !p.str() || !utf8.Valid(p.b[start:p.i]) {
			return false
		}
	} else if !p.number() {
		return false
	}
	*id = rawID(p.b[start:p.i])
	return true
}

// keep returns raw, part of frame, or a copy of it. raw itself is kept
// only when the frame is the message's to keep and raw is at least half
// of it: a small value must not pin a large frame, for as long as its
// message lives, behind a length that looks small. The frame kept, or a
// large copy in a pooled buffer, becomes the message's held buffer, which
// goes back to the pool once the message is done with (release). A small
// copy goes into the box, when the box has room, as the message's first:
// a small call's params or result then cost no allocation of their own.
func (box *envBox) keep(raw []byte, own bool, frame []byte) []byte {
	e := &box.e
	switch {
	case own && 2*len(raw) >= len(frame):
		if pooledSize(cap(frame)) {
			e.held = frame
		}
		return raw[:len(raw):len(raw)]
	case len(raw) <= len(box.inline) && e.Params == nil && e.Result == nil:
		n := copy(box.inline[:], raw)
		return box.inline[:n:n]
	case len(raw) < minPooledCopy || e.held != nil:
		return bytes.Clone(raw)
	}
	b := getBig(len(raw))
	copy(b, raw)
	e.held = b
	return b[:len(raw):len(raw)]
}

// meta consumes the "meta" object.
func (p *scan) meta(m *Meta) bool {
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		return true
	}
	trace := false
	for {
		p.ws()
		key, ok := p.plainString()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		switch {
		case string(key) == "trace":
			s, ok := p.plainString()
			if !ok || trace {
				return false
			}
			trace = true
			m.Trace = string(s)
		case jsonkey.MayMatch(key, []string{"trace"}):
			return false
		default:
			if _, ok := p.value(0); !ok {
				return false
			}
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		return p.eat('}')
	}
}

// value consumes one JSON value, checking it by the grammar encoding/json
// uses, and returns its text.
func (p *scan) value(depth int) ([]byte, bool) {
	if depth > maxFastDepth || p.i >= len(p.b) {
		return nil, false
	}
	start := p.i
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		p.ws()
		if !p.eat('}') {
			for {
				p.ws()
				if !p.str() {
					return nil, false
				}
				p.ws()
				if !p.eat(':') {
					return nil, false
				}
				p.ws()
				if _, ok := p.value(depth + 1); !ok {
					return nil, false
				}
				p.ws()
				if p.eat(',') {
					continue
				}
				if p.eat('}') {
					break
				}
				return nil, false
			}
		}
	case c == '[':
		p.i++
		p.ws()
		if !p.eat(']') {
			for {
				p.ws()
				if _, ok := p.value(depth + 1); !ok {
					return nil, false
				}
				p.ws()
				if p.eat(',') {
					continue
				}
				if p.eat(']') {
					break
				}
				return nil, false
			}
		}
	case c == '"':
		if !p.str() {
			return nil, false
		}
	case c == '-' || c >= '0' && c <= '9':
		if !p.number() {
			return nil, false
		}
	case c == 't':
		if !p.literal("true") {
			return nil, false
		}
	case c == 'f':
		if !p.literal("false") {
			return nil, false
		}
	case c == 'n':
		if !p.literal("null") {
			return nil, false
		}
	default:
		return nil, false
	}
	return p.b[start:p.i], true
}

func (p *scan) literal(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// str consumes any valid JSON string. Like encoding/json's scanner it
// accepts any byte from 0x20 up, valid UTF-8 or not.
func (p *scan) str() bool {
	if !p.eat('"') {
		return false
	}
	for p.i < len(p.b) {
		// Eight bytes at a time while none of them is a quote, a
		// backslash or a control character: a long string's body goes by
		// several times faster than byte by byte (BenchmarkDecodeStreamItem).
		for p.i+8 <= len(p.b) && jsonscan.Plain8(binary.LittleEndian.Uint64(p.b[p.i:])) {
			p.i += 8
		}
		if p.i >= len(p.b) {
			break
		}
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i >= len(p.b) {
				return false
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p.i+4 > len(p.b) {
					return false
				}
				for _, h := range p.b[p.i : p.i+4] {
					if !isHex(h) {
						return false
					}
				}
				p.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number consumes a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *scan) number() bool {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.eat('.') {
		if p.digits() == 0 {
			return false
		}
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return false
		}
	}
	return true
}

func (p *scan) digits() int {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}
