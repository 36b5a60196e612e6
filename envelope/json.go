package envelope

import "github.com/segmentio/asm/base64"

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
// left to encoding/json, and its errors with it.
func decodeBytes(raw []byte, p *[]byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	s := raw[1 : len(raw)-1]
	if len(s)%4 != 0 {
		return false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	// Decode skips line breaks, which would show as fewer bytes than the
	// text's length says; anything else not base64 is an error.
	pad := 0
	for i := len(s) - 1; i >= len(s)-2 && i >= 0 && s[i] == '='; i-- {
		pad++
	}
	if err != nil || n != len(b)-pad {
		return false
	}
	*p = b[:n]
	return true
}

// DecodeParams decodes a request's params into v. Absent params leave v
// as it is, the way JSON null does.
func DecodeParams(m *Envelope, v any) error { return unmarshalValid(m.Params, v, m.valid) }
