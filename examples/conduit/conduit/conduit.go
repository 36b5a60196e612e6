// Package conduit is a source connector shaped like a Conduit one: it
// streams records to the host, each at a position, and the host
// acknowledges the positions it has written. After a crash the host opens
// the stream again from the last position it acknowledged, so that no
// record is lost; the records it had written but not yet acknowledged
// come again, and the host, which keys what it writes by position, keeps
// each once.
//
// The records come from a deterministic generator, so that a host (or a
// test) can tell exactly which ones it should have: record p, for p from
// 1 to the connector's Records, is Generate(p).
package conduit

import (
	"context"
	"fmt"

	"github.com/plugsock/plugsock/plugin"
)

// The plugin's name and version, as it gives them in its handshake.
const (
	Name    = "conduit"
	Version = "1.0.0"
)

// Position is where a record stands in the source: record p is at
// position p, from 1. Conduit's positions are opaque bytes that only the
// connector reads; a record number is the simplest position that orders
// records and lets the connector resume after one.
//
// The zero Position is no position at all: reading from it starts at the
// first record.
type Position uint64

// Record is one record of the source.
type Record struct {
	Key     string `json:"key"`
	Payload string `json:"payload"`
}

// Generate returns the record at position p. It is the whole of the
// source's data: the same position always gives the same record.
func Generate(p Position) Record {
	return Record{
		Key:     fmt.Sprintf("rec-%06d", p),
		Payload: fmt.Sprintf("payload %d: %x", p, uint64(p)*0x9e3779b97f4a7c15),
	}
}

// Connector is the source. Its zero value has no records.
type Connector struct {
	// Records is the number of records the source holds: positions 1 to
	// Records.
	Records Position
}

// Read streams the records after position from, in order, each sent at
// its position (SendAt), and returns once the host has settled every one
// it was sent: the stream then ends for the host with io.EOF.
//
// The host's credit paces it: a host that stops acknowledging stops Read
// at its window, holding no more than that. When the host asks the plugin
// to stop (Unplug, Shutdown), Read sends nothing more and returns once
// what it has sent is settled, so the host's last acknowledged position
// is exactly where the next Read should start.
func (c *Connector) Read(ctx context.Context, from Position, out *plugin.Source[Record]) error {
	stopping := plugin.Stopping(ctx)
	for p := from; p < c.Records; { // from+1 would wrap for the largest position
		p++
		select {
		case <-stopping:
			return out.Drain(ctx)
		default:
		}
		if _, err := out.SendAt(ctx, p, Generate(p)); err != nil {
			return err
		}
	}
	return out.Drain(ctx)
}
