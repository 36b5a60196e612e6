package natsstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/plugsock/plugsock/eventlog"
)

// An event is one message of its topic's stream, whose sequence is its
// offset. The message leaves out the topic and the offset, which the stream
// and the sequence tell:
//
//	version byte (1)
//	time      uvarint length, time.Time.MarshalBinary
//	type      uvarint length, bytes
//	action    uvarint length, bytes
//	key       uvarint length, bytes
//	attrs     uvarint count, then per attribute: name and value as above
//	data      the rest of the message
//
// A snapshot's head message (see snapshot.go) is the version byte, its
// time, the data's length, the number of chunks, the sequence of the first
// chunk, the chunk subject's id and the data's SHA-256, then the data
// itself when it has no chunks.
//
// Every field is length-prefixed binary rather than JSON so that Data, a
// json.RawMessage, comes back byte for byte, and so that nothing is
// escaped: an event's encoding stays close to its Size.
const formatVersion = 1

// errCorruptValue is what a decoder reports; callers wrap it with
// ErrCorrupt and where it was.
var errCorruptValue = errors.New("message does not decode")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	tb, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(tb)))
	return append(b, tb...), nil
}

func encodeEvent(e *eventlog.Event) ([]byte, error) {
	b := make([]byte, 0, 32+e.Size()+2*len(e.Attrs))
	b = append(b, formatVersion)
	b, err := appendTime(b, e.Time)
	if err != nil {
		return nil, err
	}
	b = appendString(b, e.Type)
	b = appendString(b, e.Action)
	b = appendString(b, e.Key)
	b = binary.AppendUvarint(b, uint64(len(e.Attrs)))
	for k, v := range e.Attrs {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	return append(b, e.Data...), nil
}

// decoder reads a message that anyone with access to the stream may have
// written: every length is checked against what is left before anything
// is allocated.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	n, size := binary.Uvarint(d.b)
	if size <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[size:]
	return n
}

// bytes returns the next field, aliasing the message: copy before keeping.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// fixed returns the next n bytes, aliasing the message.
func (d *decoder) fixed(n int) []byte {
	if d.bad || n > len(d.b) {
		d.bad = true
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	var t time.Time
	if b := d.bytes(); !d.bad {
		if err := t.UnmarshalBinary(b); err != nil {
			d.bad = true
		}
	}
	return t
}

func (d *decoder) version() {
	if len(d.b) == 0 || d.b[0] != formatVersion {
		d.bad = true
		return
	}
	d.b = d.b[1:]
}

// decodeEvent decodes the message of topic's stream at seq. The event owns
// its attributes and data: msg may be reused.
func decodeEvent(msg []byte, topic string, seq uint64) (eventlog.Event, error) {
	d := decoder{b: msg}
	d.version()
	e := eventlog.Event{Topic: topic, Offset: seq, Time: d.time()}
	e.Type = string(d.bytes())
	e.Action = string(d.bytes())
	e.Key = string(d.bytes())
	// Each attribute takes at least two bytes, its two lengths: a count
	// larger than that allows is garbage, not a map to allocate.
	if n := d.uvarint(); n > uint64(len(d.b))/2 {
		d.bad = true
	} else if n > 0 {
		e.Attrs = make(map[string]string, n)
		for range n {
			k := string(d.bytes())
			e.Attrs[k] = string(d.bytes())
		}
	}
	if d.bad {
		return eventlog.Event{}, fmt.Errorf("%w: topic %q offset %d: %w", ErrCorrupt, topic, seq, errCorruptValue)
	}
	if len(d.b) > 0 {
		e.Data = append([]byte(nil), d.b...)
	}
	return e, nil
}

// head is what a snapshot's head message says.
type head struct {
	time       time.Time
	size       uint64 // of the data
	chunks     uint64 // 0: the data is in the head
	firstChunk uint64 // the sequence of the first chunk
	id         string // the chunks' subject's last token
	sum        [sha256.Size]byte
	data       []byte // when chunks is 0; aliases the message
}

func encodeHead(h *head) ([]byte, error) {
	b := make([]byte, 0, 64+len(h.id)+sha256.Size+len(h.data))
	b = append(b, formatVersion)
	b, err := appendTime(b, h.time)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, h.size)
	b = binary.AppendUvarint(b, h.chunks)
	b = binary.AppendUvarint(b, h.firstChunk)
	b = appendString(b, h.id)
	b = append(b, h.sum[:]...)
	return append(b, h.data...), nil
}

// decodeHead decodes a snapshot's head, refusing one whose data would be
// larger than maxSize (a store with a larger limit wrote it, or someone
// else did) before anything of that size is allocated.
func decodeHead(msg []byte, plugin string, maxSize int) (head, error) {
	d := decoder{b: msg}
	d.version()
	h := head{time: d.time()}
	h.size = d.uvarint()
	h.chunks = d.uvarint()
	h.firstChunk = d.uvarint()
	h.id = string(d.bytes())
	copy(h.sum[:], d.fixed(sha256.Size))
	h.data = d.b
	switch {
	case d.bad:
	case h.size > uint64(maxSize):
		return head{}, fmt.Errorf("%w: snapshot of plugin %q: %d bytes, more than this store's limit of %d", eventlog.ErrTooLarge, plugin, h.size, maxSize)
	case h.chunks == 0 && uint64(len(h.data)) == h.size && sha256.Sum256(h.data) == h.sum:
		return h, nil
	case h.chunks > 0 && len(h.data) == 0 && h.chunks <= h.size && h.firstChunk > 0 && validToken(h.id):
		return h, nil
	}
	return head{}, fmt.Errorf("%w: snapshot of plugin %q: head: %w", ErrCorrupt, plugin, errCorruptValue)
}

// escapeName turns a name (eventlog.CheckName's: printable UTF-8, no
// space) into one token of a subject and a key of a key-value bucket:
// letters, digits, '-' and '_' stay, which keeps the usual names readable
// in the nats CLI, and every other byte becomes "=" and two hex digits.
// The mapping is one to one, so unescapeName undoes it.
func escapeName(name string) string {
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plainByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '=', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// unescapeName undoes escapeName, refusing what escapeName cannot have
// written.
func unescapeName(s string) (string, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case plainByte(c):
			b = append(b, c)
		case c == '=' && i+2 < len(s):
			v, err := hex.DecodeString(s[i+1 : i+3])
			// Upper case only, and only for bytes that escapeName escapes,
			// so that every name has one spelling.
			if err != nil || plainByte(v[0]) || s[i+1:i+3] != fmt.Sprintf("%02X", v[0]) {
				return "", false
			}
			b = append(b, v[0])
			i += 2
		default:
			return "", false
		}
	}
	return string(b), true
}

// validToken reports whether s is one token of a subject made of plain
// bytes, as escapeName and nuid write them.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return false
		}
	}
	return true
}

// topicHash names a topic's stream and subject: stream names may not
// hold '.', '*', '>', spaces or path separators and are limited in
// length, and a topic may hold any of those, so the names carry 128 bits
// of the topic's SHA-256 in hex (lower case, so that stores on
// case-insensitive file systems keep them apart) and the stream's
// metadata carries the topic itself.
func topicHash(topic string) string {
	sum := sha256.Sum256([]byte(topic))
	return hex.EncodeToString(sum[:16])
}
