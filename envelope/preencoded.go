package envelope

import (
	"bytes"
	"encoding/json"
)

// Encoded is a value encoded as JSON once, to be sent in many messages
// without being encoded, or checked, again: a host that sends one payload
// to every plugin (socket.Broadcast) pays for its encoding once rather
// than once per plugin. Passed as a request's params, or as the value of
// Params, the bytes are copied into the frame as they are. Anywhere else
// it encodes as those bytes through its MarshalJSON. The zero Encoded is
// JSON null.
type Encoded struct {
	raw []byte // valid JSON, compact, as a Conn would write it
}

// Encode encodes v the way a Conn encodes params (encoding/json, without
// escaping HTML), so that the frames carrying it are byte for byte those
// Call would write with v itself. An Encoded value passed again returns
// as it is.
func Encode(v any) (Encoded, error) {
	if e, ok := v.(Encoded); ok {
		return e, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return Encoded{}, err
	}
	return Encoded{raw: bytes.TrimSuffix(b.Bytes(), []byte("\n"))}, nil
}

// MarshalJSON returns the encoded bytes.
func (e Encoded) MarshalJSON() ([]byte, error) {
	if e.raw == nil {
		return []byte("null"), nil
	}
	return e.raw, nil
}

// appendEncoded appends v to b when v is, or wraps as Params does, an
// Encoded value, and reports whether it did; for msg.value.
func appendEncoded(b []byte, v any) ([]byte, bool) {
	switch p := v.(type) {
	case Encoded:
		return appendRaw(b, p), true
	case valueParams:
		e, ok := p.Value.(Encoded)
		if !ok {
			return b, false
		}
		b = append(b, `{"value":`...)
		return append(appendRaw(b, e), '}'), true
	}
	return b, false
}

func appendRaw(b []byte, e Encoded) []byte {
	if e.raw == nil {
		return append(b, "null"...)
	}
	return append(b, e.raw...)
}
