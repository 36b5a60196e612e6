package envelope

import "github.com/plugsock/plugsock/internal/jsonfast"

// unmarshal decodes raw into v, treating absent data as null.
func unmarshal(raw []byte, v any) error { return unmarshalValid(raw, v, false) }

// unmarshalValid is unmarshal for raw that is known to be one valid JSON
// value when valid is set: the params or result of a message Decode has
// read, which it checked, so that they need not be scanned once more
// before encoding/json scans them (jsondec.go).
func unmarshalValid(raw []byte, v any, valid bool) error {
	if len(raw) == 0 {
		raw, valid = []byte("null"), true
	}
	if p, ok := v.(*[]byte); ok && p != nil && decodeBytes(raw, p) {
		return nil
	}
	return decodeValue(raw, v, valid)
}

// decodeBytes decodes raw into *p when raw is a JSON string of nothing
// but padded standard base64, the way encoding/json encodes a []byte: the
// bytes are decoded straight out of raw, which encoding/json would scan
// twice first (validating, then unquoting) at several times the cost of
// decoding them. It reports false, and leaves *p alone, for anything
// else (null, escapes, line breaks, bad base64, not a string), which is
// left to encoding/json, and its errors with it. Under encoding/json v1,
// jsonfast.Decode would do the same; this also serves GOEXPERIMENT=jsonv2.
func decodeBytes(raw []byte, p *[]byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	b, ok := jsonfast.Base64(raw[1 : len(raw)-1])
	if ok {
		*p = b
	}
	return ok
}

// DecodeParams decodes a request's params into v. Absent params leave v
// as it is, the way JSON null does.
func DecodeParams(m *Envelope, v any) error { return unmarshalValid(m.Params, v, m.valid) }
