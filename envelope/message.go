package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/segmentio/asm/base64"
)

// Envelope is one JSON-RPC 2.0 message as read off the wire: a request (ID
// and Method), a notification (Method, no ID) or a response (ID and Result
// or Error). It is decoded once; Params and Result stay raw until the code
// that knows their type decodes them.
//
// ID is the zero ID when the message has none or "id": null. A message
// with a method and a null id is therefore a notification, as
// sourcegraph/jsonrpc2 and most libraries read it, and is not answered.
type Envelope struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      ID              `json:"id,omitzero"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Meta    *Meta           `json:"meta,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`

	// Set by RequestContext on a protocol 2 request: params._meta has
	// been moved out of Params, into meta2.
	proto int
	meta2 callMeta

	// held is a pooled buffer that Params or Result point into: the
	// frame itself or a copy out of it. See keep.
	held []byte
	// valid is set when Decode read e: Params and Result are each one
	// valid JSON value, as RequestContext and Input leave them too.
	valid bool
	// boxed is set when e is the Envelope of an envBox from boxes, which
	// recycle gives back.
	boxed bool
	// spent is set by the Handler e was read for, through msgbuf.Spent,
	// when nothing will read e once the Handler has returned.
	spent bool
}

// holds reports whether e holds the buffer b.
func (e *Envelope) holds(b []byte) bool {
	return len(e.held) > 0 && len(b) > 0 && &e.held[0] == &b[0]
}

// release gives e's held buffer back to the pool, once nothing will read
// e's Params or Result again: e itself must not be used afterwards.
func (e *Envelope) release() {
	if e.held != nil {
		putBig(e.held)
		e.held, e.Params, e.Result = nil, nil, nil
	}
}

// recycle releases e and, when it came out of the box pool, gives its box
// back: nothing may hold e, or anything in it but strings, afterwards.
// That is known of an answer whose result has been decoded (Conn.finish),
// and of a request whose Handler said so (msgbuf.Spent) and has returned
// on a goroutine that is still the reader (readLoop): until then the read
// loop compares messages by their address to learn whether reading moved
// on, and a box reused meanwhile could pass for the message it held.
func (e *Envelope) recycle() {
	e.release()
	if e.boxed {
		putBox((*envBox)(unsafe.Pointer(e)))
	}
}

// IsRequest reports whether e is a request that expects a response.
func (e *Envelope) IsRequest() bool { return e.Method != "" && !e.ID.IsZero() }

// IsNotification reports whether e is a notification.
func (e *Envelope) IsNotification() bool { return e.Method != "" && e.ID.IsZero() }

// IsResponse reports whether e answers a request.
func (e *Envelope) IsResponse() bool {
	return e.Method == "" && (e.Result != nil || e.Error != nil)
}

// Trace returns the trace id in e's meta, or "".
func (e *Envelope) Trace() string {
	if e.proto >= Protocol2 {
		return e.meta2.Trace
	}
	if e.Meta == nil {
		return ""
	}
	return e.Meta.Trace
}

// Decode parses one message body. It rejects what JSON-RPC 2.0 does not
// allow (a batch, a wrong version, a message that is neither request,
// notification nor response) with an error wrapping ErrProtocol.
func Decode(body []byte) (*Envelope, error) {
	e, err := decode(body, false)
	if e != nil {
		// What the caller does with it is not known: DecodeParams checks
		// the params again, and it never goes back to the box pool.
		e.valid, e.boxed = false, false
	}
	return e, err
}

// decode is Decode. With own set, body belongs to the message from now
// on: Params and Result may point into it instead of being copies, which
// spares a large frame its second copy.
func decode(body []byte, own bool) (_ *Envelope, err error) {
	if i := firstNonSpace(body); i >= 0 && body[i] == '[' {
		return nil, fmt.Errorf("%w: batches are not supported", ErrProtocol)
	}
	e, ok := decodeFast(body, own)
	if own && (!ok || !e.holds(body)) {
		// Nothing points into the frame: its buffer can be used again,
		// once this message is read (the caller may still look at it
		// when it is not a valid one).
		defer func() {
			if err == nil {
				putBig(body)
			}
		}()
	}
	if !ok {
		e = new(Envelope)
		if err = json.Unmarshal(body, e); err != nil {
			if errors.Is(err, ErrBadID) {
				return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			return nil, fmt.Errorf("%w: malformed JSON: %v", ErrProtocol, err)
		}
	}
	if e.JSONRPC != "2.0" {
		return nil, fmt.Errorf("%w: jsonrpc must be \"2.0\", got %q", ErrProtocol, e.JSONRPC)
	}
	switch {
	case e.Method != "":
		if e.Result != nil || e.Error != nil {
			return nil, fmt.Errorf("%w: message has both method and result or error", ErrProtocol)
		}
	case e.Result != nil || e.Error != nil:
		if e.Result != nil && e.Error != nil {
			return nil, fmt.Errorf("%w: response has both result and error", ErrProtocol)
		}
		if e.ID.IsZero() && e.Error == nil {
			return nil, fmt.Errorf("%w: response without id", ErrProtocol)
		}
	default:
		return nil, fmt.Errorf("%w: message is neither request, notification nor response", ErrProtocol)
	}
	e.valid = true
	return e, nil
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return i
		}
	}
	return -1
}

// msg builds one outgoing frame. The body is written after headroom bytes
// so that the header can be put in front of it without copying.
type msg struct {
	b     []byte
	small []byte // the msg's own buffer, which b is, or which b outgrew
	enc   *json.Encoder
}

// maxSmallMsg is the largest buffer a msg keeps as its own; larger ones
// come from the bounded pool of big buffers (bufpool.go) and go back to
// it, so that one large payload does not pin memory for the life of the
// process in every msg it passed through.
const maxSmallMsg = 64 << 10

var msgPool = sync.Pool{New: func() any {
	m := &msg{b: make([]byte, headroom, 512)}
	m.small = m.b
	m.enc = json.NewEncoder(m)
	m.enc.SetEscapeHTML(false)
	return m
}}

func newMsg() *msg {
	m := msgPool.Get().(*msg)
	m.b = m.b[:headroom]
	return m
}

func (m *msg) free() {
	if cap(m.b) <= maxSmallMsg {
		m.small = m.b
	} else {
		putBig(m.b)
		m.b = m.small
	}
	msgPool.Put(m)
}

// grow makes room for n more bytes. Past maxSmallMsg the buffer comes
// from the pool: without it a 1 MiB []byte cost a fresh 1.4 MB buffer
// per message.
func (m *msg) grow(n int) {
	need := len(m.b) + n
	if need <= cap(m.b) || need <= maxSmallMsg {
		return // append grows a small buffer as well as anything
	}
	// Room for the rest of the message too, which is short.
	nb := getBig(need + 512)[:len(m.b)]
	copy(nb, m.b)
	if cap(m.b) > maxSmallMsg {
		putBig(m.b)
	} else {
		m.small = m.b
	}
	m.b = nb
}

// Write lets the JSON encoder append to the message; it writes a whole
// value at once.
func (m *msg) Write(p []byte) (int, error) {
	m.grow(len(p))
	m.b = append(m.b, p...)
	return len(p), nil
}

// base64 appends b as encoding/json encodes a []byte, straight into the
// message rather than through the encoder's buffer. segmentio/asm's
// base64, byte for byte the standard one's, encodes with AVX2 where the
// processor has it, 14 times as fast as encoding/base64 here; with
// decodeBytes, it took the 1 MiB []byte echo from 4.2 times gob's time to
// under 3 (docs/performance.md).
func (m *msg) base64(b []byte) {
	if b == nil {
		m.str("null")
		return
	}
	n := base64.StdEncoding.EncodedLen(len(b))
	m.grow(n + 2)
	m.b = append(m.b, '"')
	m.b = append(m.b, make([]byte, n)...)
	base64.StdEncoding.Encode(m.b[len(m.b)-n:], b)
	m.b = append(m.b, '"')
}

func (m *msg) str(s string) { m.b = append(m.b, s...) }

func (m *msg) quote(s string) { m.b = appendQuote(m.b, s) }

// value appends v as JSON. A json.RawMessage is checked, not trusted: a
// malformed one would otherwise cost the peer its connection.
func (m *msg) value(v any) error {
	switch v := v.(type) {
	case nil:
		m.str("null")
		return nil
	case []byte:
		m.base64(v)
		return nil
	case valueParams:
		if b, ok := v.Value.([]byte); ok {
			m.str(`{"value":`)
			m.base64(b)
			m.str(`}`)
			return nil
		}
	}
	if b, ok := appendEncoded(m.b, v); ok {
		m.b = b // encoded, and so checked, once already
		return nil
	}
	n := len(m.b)
	if err := m.enc.Encode(v); err != nil {
		m.b = m.b[:n]
		return err
	}
	m.b = m.b[:len(m.b)-1] // Encode's trailing newline
	return nil
}

// id appends id exactly as it was read; null for the zero ID.
func (m *msg) id(id ID) { m.b = id.appendTo(m.b) }

// frame finishes the message and returns the bytes to write.
func (m *msg) frame() []byte { return putHeader(m.b) }

// request writes a request, or a notification when id is the zero ID.
func (m *msg) request(id ID, method string, params any, trace string) error {
	m.str(`{"jsonrpc":"2.0",`)
	if !id.IsZero() {
		m.str(`"id":`)
		m.id(id)
		m.str(`,`)
	}
	m.str(`"method":`)
	m.quote(method)
	if params != nil {
		m.str(`,"params":`)
		if err := m.value(params); err != nil {
			return fmt.Errorf("encoding params of %s: %w", method, err)
		}
	}
	if trace != "" {
		m.str(`,"meta":{"trace":`)
		m.quote(trace)
		m.str(`}`)
	}
	m.str(`}`)
	return nil
}

func (m *msg) result(id ID, result any) error {
	m.str(`{"jsonrpc":"2.0","id":`)
	m.id(id)
	m.str(`,"result":`)
	if err := m.value(result); err != nil {
		return err
	}
	m.str(`}`)
	return nil
}

func (m *msg) error(id ID, e *Error) {
	m.str(`{"jsonrpc":"2.0","id":`)
	m.id(id)
	m.str(`,"error":{"code":`)
	m.b = strconv.AppendInt(m.b, e.Code, 10)
	m.str(`,"message":`)
	m.quote(e.Message)
	if len(e.Data) > 0 && json.Valid(e.Data) {
		m.str(`,"data":`)
		m.b = append(m.b, e.Data...)
	}
	m.str(`}}`)
}

const hex = "0123456789abcdef"

// appendQuote appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so a frame is always valid JSON.
func appendQuote(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
