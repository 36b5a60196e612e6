package typedesc

import (
	"bytes"
	"encoding/json"
)

// Stream describes the items of a function that is a stream
// (docs/protocol.md, "Streams"). Which of its halves are described is the
// function's shape: Out alone is a source (the plugin sends), In alone a
// sink (the plugin receives), both a processor.
type Stream struct {
	// In describes the items the host sends the plugin.
	In *Entity `json:"in,omitempty"`
	// InSchema is the JSON Schema (draft 2020-12) of those items.
	InSchema json.RawMessage `json:"inSchema,omitempty"`
	// Out describes the items the plugin sends the host.
	Out *Entity `json:"out,omitempty"`
	// OutSchema is the JSON Schema (draft 2020-12) of those items.
	OutSchema json.RawMessage `json:"outSchema,omitempty"`
}

// Stream shapes, as Shape names them.
const (
	ShapeSource    = "source"
	ShapeSink      = "sink"
	ShapeProcessor = "processor"
)

// Shape names the stream's shape: ShapeSource, ShapeSink or
// ShapeProcessor, by the halves it describes (an Entity or a schema); ""
// for a nil Stream or one that describes neither.
func (s *Stream) Shape() string {
	if s == nil {
		return ""
	}
	switch in, out := s.In != nil || len(s.InSchema) > 0, s.Out != nil || len(s.OutSchema) > 0; {
	case in && out:
		return ShapeProcessor
	case out:
		return ShapeSource
	case in:
		return ShapeSink
	}
	return ""
}

// DeepCopy returns a copy of s that shares no memory with it.
func (s *Stream) DeepCopy() *Stream {
	if s == nil {
		return nil
	}
	return &Stream{
		In: s.In.DeepCopy(), InSchema: bytes.Clone(s.InSchema),
		Out: s.Out.DeepCopy(), OutSchema: bytes.Clone(s.OutSchema),
	}
}
