package natsstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/internal/eventcodec"
)

// An event is one message of its topic's stream, whose sequence is its
// offset: the head internal/eventcodec writes, then its data, which is the
// rest of the message.
//
// A snapshot's head message (see snapshot.go) is the version byte, its
// time, the data's length, the number of chunks, the sequence of the first
// chunk, the chunk subject's id and the data's SHA-256, then the data
// itself when it has no chunks.

// formatVersion is the first byte of every message.
const formatVersion = eventcodec.Version

func encodeEvent(e *eventlog.Event) ([]byte, error) {
	b, err := eventcodec.AppendEventHead(make([]byte, 0, 32+e.Size()+2*len(e.Attrs)), e)
	if err != nil {
		return nil, err
	}
	return append(b, e.Data...), nil
}

// decodeEvent decodes the message of topic's stream at seq. The event owns
// its attributes and data: msg may be reused.
func decodeEvent(msg []byte, topic string, seq uint64) (eventlog.Event, error) {
	d := eventcodec.Decoder{B: msg}
	e := eventlog.Event{Topic: topic, Offset: seq}
	d.EventHead(&e)
	if d.Bad {
		return eventlog.Event{}, fmt.Errorf("%w: topic %q offset %d: %w", ErrCorrupt, topic, seq, eventcodec.ErrValue)
	}
	if len(d.B) > 0 {
		e.Data = append([]byte(nil), d.B...)
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
	b, err := eventcodec.AppendTime(b, h.time)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, h.size)
	b = binary.AppendUvarint(b, h.chunks)
	b = binary.AppendUvarint(b, h.firstChunk)
	b = eventcodec.AppendString(b, h.id)
	b = append(b, h.sum[:]...)
	return append(b, h.data...), nil
}

// decodeHead decodes a snapshot's head, refusing one whose data would be
// larger than maxSize (a store with a larger limit wrote it, or someone
// else did) before anything of that size is allocated.
func decodeHead(msg []byte, plugin string, maxSize int) (head, error) {
	d := eventcodec.Decoder{B: msg}
	d.Version()
	h := head{time: d.Time()}
	h.size = d.Uvarint()
	h.chunks = d.Uvarint()
	h.firstChunk = d.Uvarint()
	h.id = string(d.Bytes())
	copy(h.sum[:], d.Fixed(sha256.Size))
	h.data = d.B
	switch {
	case d.Bad:
	case h.size > uint64(maxSize):
		return head{}, fmt.Errorf("%w: snapshot of plugin %q: %d bytes, more than this store's limit of %d", eventlog.ErrTooLarge, plugin, h.size, maxSize)
	case h.chunks == 0 && uint64(len(h.data)) == h.size && sha256.Sum256(h.data) == h.sum:
		return h, nil
	case h.chunks > 0 && len(h.data) == 0 && h.chunks <= h.size && h.firstChunk > 0 && validToken(h.id):
		return h, nil
	}
	return head{}, fmt.Errorf("%w: snapshot of plugin %q: head: %w", ErrCorrupt, plugin, eventcodec.ErrValue)
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
