package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ID is a JSON-RPC 2.0 request id: a string or a number, in any form JSON
// allows (-1, 1.5, 1e2, a 30-digit integer). The zero ID is no id at all:
// a notification's, or the null id of an answer to a message whose id
// could not be read; it is written as null.
//
// An ID keeps the JSON text it was read from, so an answer carries the id
// exactly as the request had it, byte for byte, whatever the peer's
// language makes of numbers. (One exception: a string id with bytes that
// are not UTF-8 is read as encoding/json reads it, with U+FFFD in their
// place, so that nothing plugsock writes is invalid UTF-8.) Two IDs are
// equal, as Go values and as map keys, when their text is: 1e2 and 100
// are different ids to plugsock, as "a" and "\u0061" are, so a peer that
// cancels a request must name it the way it sent it. Answers to the
// requests a Conn sends itself are matched more leniently: see
// [Conn.Call].
type ID struct {
	// A plain decimal integer below 2^64-1, the common case, is kept as
	// its value plus one, so that reading and writing it allocates
	// nothing; any other id as its JSON text. Each text has exactly one
	// of the two forms, so comparing IDs compares their text.
	num uint64
	raw string
}

// NumberID returns the id n.
func NumberID(n int64) ID {
	if n >= 0 {
		return ID{num: uint64(n) + 1}
	}
	return ID{raw: strconv.FormatInt(n, 10)}
}

// StringID returns the string id s.
func StringID(s string) ID { return ID{raw: string(appendQuote(nil, s))} }

// seqID returns the id of a Conn's request number n.
func seqID(n uint64) ID { return ID{num: n + 1} }

// rawID returns the id with the JSON text b, a valid string or number.
func rawID(b []byte) ID {
	if n, ok := plainUint(b); ok {
		return ID{num: n + 1}
	}
	return ID{raw: string(b)}
}

// plainUint returns the value of b when it is a decimal integer written
// without sign, fraction, exponent or leading zero, below 2^64-1.
func plainUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 || b[0] == '0' && len(b) > 1 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-2-d)/10 {
			return 0, false // n+1 would not fit
		}
		n = n*10 + d
	}
	return n, true
}

// IsZero reports whether id is the zero ID: no id, or null.
func (id ID) IsZero() bool { return id.num == 0 && id.raw == "" }

// String returns id as JSON text: a string id in quotes, a number as it
// was written, "null" for the zero ID.
func (id ID) String() string { return string(id.appendTo(nil)) }

// appendTo appends id's JSON text to b.
func (id ID) appendTo(b []byte) []byte {
	switch {
	case id.raw != "":
		return append(b, id.raw...)
	case id.num != 0:
		return strconv.AppendUint(b, id.num-1, 10)
	}
	return append(b, "null"...)
}

// MarshalJSON returns id's JSON text; null for the zero ID.
func (id ID) MarshalJSON() ([]byte, error) { return id.appendTo(nil), nil }

// ErrBadID is what UnmarshalJSON's errors wrap: an id that is an object,
// an array or a boolean, which JSON-RPC 2.0 does not allow.
var ErrBadID = errors.New("invalid request id")

// UnmarshalJSON reads a string, a number or null (the zero ID), and
// refuses anything else with an error wrapping ErrBadID.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = trimSpace(b)
	p := scan{b: b}
	var kind string
	switch {
	case len(b) == 0:
		kind = "nothing"
	case b[0] == 'n':
		if p.literal("null") && p.i == len(b) {
			*id = ID{}
			return nil
		}
		kind = "malformed JSON"
	case b[0] == '"':
		if !p.str() || p.i != len(b) {
			kind = "a malformed string"
			break
		}
		if utf8.Valid(b) {
			*id = ID{raw: string(b)}
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: %v", ErrBadID, err)
		}
		*id = StringID(s)
		return nil
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		if p.number() && p.i == len(b) {
			*id = rawID(b)
			return nil
		}
		kind = "a malformed number"
	case b[0] == '{':
		kind = "an object"
	case b[0] == '[':
		kind = "an array"
	case b[0] == 't' || b[0] == 'f':
		kind = "a boolean"
	default:
		kind = "malformed JSON"
	}
	return fmt.Errorf("%w: an id must be a string, a number or null, got %s", ErrBadID, kind)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// seq returns the value of a numeric id when it is a whole number from 1
// to the largest uint64, whatever its form: 3, 3.0, 3e0 and 0.3e1 all give
// 3. The value is worked out from the decimal text exactly, never through
// a float, so no id is mistaken for a neighbour.
func (id ID) seq() (uint64, bool) {
	if id.num != 0 {
		return id.num - 1, id.num > 1
	}
	s := id.raw
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false // a string, a negative number, or none
	}
	// The value is sig * 10^(zeros+exp): sig the significant digits
	// without leading or trailing zeros, zeros the trailing zeros.
	var sig [20]byte
	n, zeros, exp := 0, 0, 0
	digit := func(c byte) bool {
		if c == '0' {
			if n > 0 {
				zeros++
			}
			return true
		}
		if n+zeros >= len(sig) {
			// A 21st significant digit, not a zero: the value is a
			// fraction or at least 10^20, above any uint64, either way.
			return false
		}
		for ; zeros > 0; zeros-- {
			sig[n] = '0'
			n++
		}
		sig[n] = c
		n++
		return true
	}
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if !digit(s[i]) {
			return 0, false
		}
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if !digit(s[i]) {
				return 0, false
			}
			exp--
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		neg := i < len(s) && s[i] == '-'
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		e := 0
		for ; i < len(s); i++ {
			if e > 1<<30/10 {
				return 0, false // beyond any digits a frame can hold
			}
			e = e*10 + int(s[i]-'0')
		}
		if neg {
			e = -e
		}
		exp += e
	}
	exp += zeros
	if n == 0 || exp < 0 || n+exp > 20 {
		return 0, false // zero, a fraction, or too large
	}
	var v uint64
	for k := range n + exp {
		d := uint64(0)
		if k < n {
			d = uint64(sig[k] - '0')
		}
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
