package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/plugsock/plugsock/eventlog"
)

// An event is stored under its topic's bucket, keyed by its offset in
// eight bytes big-endian, so that a cursor walks the topic in order. Its
// value leaves out the topic and the offset, which the bucket and the key
// tell:
//
//	version byte (1)
//	time      uvarint length, time.Time.MarshalBinary
//	type      uvarint length, bytes
//	action    uvarint length, bytes
//	key       uvarint length, bytes
//	attrs     uvarint count, then per attribute: name and value as above
//	data      uvarint length, bytes
//
// A snapshot's value is the version byte, its time and its data.
const formatVersion = 1

// errCorruptValue is decode's error; callers wrap it with ErrCorrupt and
// where it was.
var errCorruptValue = errors.New("value does not decode")

func key(offset uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), offset)
}

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	tb, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return appendBytes(b, tb), nil
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
	return appendBytes(b, e.Data), nil
}

func encodeSnapshot(s eventlog.Snapshot) ([]byte, error) {
	b := make([]byte, 0, 32+len(s.Data))
	b = append(b, formatVersion)
	b, err := appendTime(b, s.Time)
	if err != nil {
		return nil, err
	}
	return appendBytes(b, s.Data), nil
}

// decoder reads a value that the file may have garbled: every length is
// checked against what is left before anything is allocated.
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

// bytes returns the next field, aliasing the value: copy before keeping.
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

func decodeEvent(v []byte, topic string, offset uint64) (eventlog.Event, error) {
	d := decoder{b: v}
	d.version()
	e := eventlog.Event{Topic: topic, Offset: offset, Time: d.time()}
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
	if data := d.bytes(); len(data) > 0 {
		e.Data = append([]byte(nil), data...)
	}
	if d.bad || len(d.b) != 0 {
		return eventlog.Event{}, fmt.Errorf("%w: topic %q offset %d: %w", ErrCorrupt, topic, offset, errCorruptValue)
	}
	return e, nil
}

func decodeSnapshot(v []byte, plugin string) (eventlog.Snapshot, error) {
	d := decoder{b: v}
	d.version()
	s := eventlog.Snapshot{Time: d.time()}
	if data := d.bytes(); len(data) > 0 {
		s.Data = append([]byte(nil), data...)
	}
	if d.bad || len(d.b) != 0 {
		return eventlog.Snapshot{}, fmt.Errorf("%w: snapshot of plugin %q: %w", ErrCorrupt, plugin, errCorruptValue)
	}
	return s, nil
}
