package bolt

import (
	"encoding/binary"
	"fmt"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/internal/eventcodec"
)

// An event is stored under its topic's bucket, keyed by its offset in
// eight bytes big-endian, so that a cursor walks the topic in order. Its
// value is the head internal/eventcodec writes, then its data, length
// first. A snapshot's value is the version byte, its time and its data.

// formatVersion is the first byte of every value.
const formatVersion = eventcodec.Version

func key(offset uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), offset)
}

func encodeEvent(e *eventlog.Event) ([]byte, error) {
	b, err := eventcodec.AppendEventHead(make([]byte, 0, 32+e.Size()+2*len(e.Attrs)), e)
	if err != nil {
		return nil, err
	}
	return eventcodec.AppendBytes(b, e.Data), nil
}

func encodeSnapshot(s eventlog.Snapshot) ([]byte, error) {
	b := make([]byte, 0, 32+len(s.Data))
	b = append(b, formatVersion)
	b, err := eventcodec.AppendTime(b, s.Time)
	if err != nil {
		return nil, err
	}
	return eventcodec.AppendBytes(b, s.Data), nil
}

func decodeEvent(v []byte, topic string, offset uint64) (eventlog.Event, error) {
	d := eventcodec.Decoder{B: v}
	e := eventlog.Event{Topic: topic, Offset: offset}
	d.EventHead(&e)
	if data := d.Bytes(); len(data) > 0 {
		e.Data = append([]byte(nil), data...)
	}
	if d.Bad || len(d.B) != 0 {
		return eventlog.Event{}, fmt.Errorf("%w: topic %q offset %d: %w", ErrCorrupt, topic, offset, eventcodec.ErrValue)
	}
	return e, nil
}

func decodeSnapshot(v []byte, plugin string) (eventlog.Snapshot, error) {
	d := eventcodec.Decoder{B: v}
	d.Version()
	s := eventlog.Snapshot{Time: d.Time()}
	if data := d.Bytes(); len(data) > 0 {
		s.Data = append([]byte(nil), data...)
	}
	if d.Bad || len(d.B) != 0 {
		return eventlog.Snapshot{}, fmt.Errorf("%w: snapshot of plugin %q: %w", ErrCorrupt, plugin, eventcodec.ErrValue)
	}
	return s, nil
}
