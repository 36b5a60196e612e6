// Package eventcodec is the binary encoding that plugsock's event stores
// (eventlog/bolt and natsstore) keep events and snapshots in: every field
// length-prefixed, so that an event's Data, a json.RawMessage, comes back
// byte for byte and nothing is escaped, and decoded by a Decoder that
// checks every length against what is left before it allocates anything,
// since a file or a stream may hold anything.
//
// An event, without its topic and offset, which the store keeps
// elsewhere, begins with its head:
//
//	version byte (Version)
//	time      uvarint length, time.Time.MarshalBinary
//	type      uvarint length, bytes
//	action    uvarint length, bytes
//	key       uvarint length, bytes
//	attrs     uvarint count, then per attribute: name and value as above
//
// and each store says how its data follows.
package eventcodec

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/plugsock/plugsock/eventlog"
)

// Version is the first byte of every value.
const Version = 1

// ErrValue is what a Decoder that failed reports; stores wrap it with
// their ErrCorrupt and where the value was.
var ErrValue = errors.New("value does not decode")

// AppendBytes appends s with its length.
func AppendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendString appends s with its length.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendTime appends t with its length.
func AppendTime(b []byte, t time.Time) ([]byte, error) {
	tb, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return AppendBytes(b, tb), nil
}

// AppendEventHead appends the version and e's head: everything but its
// topic, offset and data.
func AppendEventHead(b []byte, e *eventlog.Event) ([]byte, error) {
	b = append(b, Version)
	b, err := AppendTime(b, e.Time)
	if err != nil {
		return nil, err
	}
	b = AppendString(b, e.Type)
	b = AppendString(b, e.Action)
	b = AppendString(b, e.Key)
	b = binary.AppendUvarint(b, uint64(len(e.Attrs)))
	for k, v := range e.Attrs {
		b = AppendString(b, k)
		b = AppendString(b, v)
	}
	return b, nil
}

// A Decoder reads a value field by field. A field that does not decode
// marks it Bad, after which every field reads as zero: check Bad once, at
// the end.
type Decoder struct {
	B   []byte // what is left
	Bad bool
}

// Uvarint returns the next unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.Bad {
		return 0
	}
	n, size := binary.Uvarint(d.B)
	if size <= 0 {
		d.Bad = true
		return 0
	}
	d.B = d.B[size:]
	return n
}

// Bytes returns the next length-prefixed field, aliasing the value: copy
// before keeping.
func (d *Decoder) Bytes() []byte {
	n := d.Uvarint()
	if d.Bad || n > uint64(len(d.B)) {
		d.Bad = true
		return nil
	}
	s := d.B[:n:n]
	d.B = d.B[n:]
	return s
}

// Fixed returns the next n bytes, aliasing the value.
func (d *Decoder) Fixed(n int) []byte {
	if d.Bad || n > len(d.B) {
		d.Bad = true
		return nil
	}
	s := d.B[:n:n]
	d.B = d.B[n:]
	return s
}

// Time returns the next time.
func (d *Decoder) Time() time.Time {
	var t time.Time
	if b := d.Bytes(); !d.Bad {
		if err := t.UnmarshalBinary(b); err != nil {
			d.Bad = true
		}
	}
	return t
}

// Version reads the version byte, which must be Version.
func (d *Decoder) Version() {
	if len(d.B) == 0 || d.B[0] != Version {
		d.Bad = true
		return
	}
	d.B = d.B[1:]
}

// EventHead reads the version and an event's head into e, which owns
// what it is given: the value may be reused.
func (d *Decoder) EventHead(e *eventlog.Event) {
	d.Version()
	e.Time = d.Time()
	e.Type = string(d.Bytes())
	e.Action = string(d.Bytes())
	e.Key = string(d.Bytes())
	// Each attribute takes at least two bytes, its two lengths: a count
	// larger than that allows is garbage, not a map to allocate.
	if n := d.Uvarint(); n > uint64(len(d.B))/2 {
		d.Bad = true
	} else if n > 0 {
		e.Attrs = make(map[string]string, n)
		for range n {
			k := string(d.Bytes())
			e.Attrs[k] = string(d.Bytes())
		}
	}
}
