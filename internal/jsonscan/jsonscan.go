// Package jsonscan walks JSON text that is already known to be valid
// without decoding it: it finds where values end and what an object's
// members are. It never recurses, so a value of any depth costs no stack,
// and it allocates nothing.
//
// It is the one scanner behind the hand-written readers that must not
// trust their input: the host's handshake reader (package socket) and the
// protocol 2 params reader (package envelope). On input that is not valid
// JSON it reports failure rather than panicking, but what it reports is
// then meaningless; callers validate first.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Space returns the index of the first byte at or after i that is not
// JSON white space.
func Space(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n') {
		i++
	}
	return i
}

// Value returns the end of the JSON value that starts at p[i], how many
// objects it holds (a null counts as one, as it decodes to as much), and,
// if it is an object, how many members it has. It counts brackets rather
// than recursing, so any depth costs nothing.
func Value(p []byte, i int) (end, objects, members int, ok bool) {
	if i >= len(p) {
		return 0, 0, 0, false
	}
	switch p[i] {
	case '"':
		end, ok := String(p, i)
		return end, 0, 0, ok
	case '{', '[':
	default:
		// A number or a literal: it runs to the next delimiter.
		for end = i; end < len(p) && !strings.ContainsRune(",]} \t\r\n", rune(p[end])); end++ {
		}
		return end, 0, 0, end > i
	}
	depth := 0
	for end = i; end < len(p); {
		switch p[end] {
		case '"':
			var ok bool
			if end, ok = String(p, end); !ok {
				return 0, 0, 0, false
			}
			continue
		case ':':
			if depth == 1 {
				members++ // only objects have colons
			}
		case '{':
			objects++
			depth++
		case 'n':
			// Outside a string an n can only start null, and a null in a
			// list of fields decodes to a whole Entity, as {} does: five
			// bytes must not buy what the limit charges an object for.
			objects++
		case '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return end + 1, objects, members, true
			}
		}
		end++
	}
	return 0, 0, 0, false
}

// String returns the end of the JSON string that starts at p[i]. It
// looks for each quote with bytes.IndexByte, which is many times faster
// than a loop over a long string's bytes, and tells the closing quote
// from an escaped one by the backslashes before it: an odd run escapes it.
func String(p []byte, i int) (int, bool) {
	for start := i + 1; ; {
		j := bytes.IndexByte(p[start:], '"')
		if j < 0 {
			return 0, false
		}
		q := start + j
		n := 0
		for k := q - 1; k > i && p[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		start = q + 1
	}
}

// Member is one member of an object, as offsets into the object's text:
// the key's string (quotes included) is p[Key:KeyEnd] and the value is
// p[Val:End].
type Member struct {
	Key, KeyEnd, Val, End int
}

// Members calls fn for each member of the object that starts at p[i],
// after any white space, in order, until fn returns false. It returns the
// end of the object, or, when fn stopped it, the end of the last member
// fn saw; ok is false when p[i:] does not start with an object.
func Members(p []byte, i int, fn func(m Member) bool) (end int, ok bool) {
	i = Space(p, i)
	if i >= len(p) || p[i] != '{' {
		return 0, false
	}
	i = Space(p, i+1)
	if i < len(p) && p[i] == '}' {
		return i + 1, true
	}
	for i < len(p) {
		if p[i] != '"' {
			return 0, false
		}
		var m Member
		var ok bool
		m.Key = i
		if m.KeyEnd, ok = String(p, i); !ok {
			return 0, false
		}
		i = Space(p, m.KeyEnd)
		if i >= len(p) || p[i] != ':' {
			return 0, false
		}
		m.Val = Space(p, i+1)
		if m.End, _, _, ok = Value(p, m.Val); !ok {
			return 0, false
		}
		if !fn(m) {
			return m.End, true
		}
		i = Space(p, m.End)
		switch {
		case i < len(p) && p[i] == ',':
			i = Space(p, i+1)
		case i < len(p) && p[i] == '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// KeyIs reports whether the JSON string key, quotes included, is name once
// its escapes are decoded: "\u005fmeta" is _meta, as encoding/json reads it.
func KeyIs(key []byte, name string) bool {
	s := key[1 : len(key)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s) == name
	}
	var k string
	return json.Unmarshal(key, &k) == nil && k == name
}

// HasMember reports whether the object that starts at p[i] has a member
// called name (KeyIs).
func HasMember(p []byte, i int, name string) bool {
	found := false
	Members(p, i, func(m Member) bool {
		found = KeyIs(p[m.Key:m.KeyEnd], name)
		return !found
	})
	return found
}

// Plain8 reports whether none of the eight bytes of w (read little-endian
// from a string's body) is '"', '\\' or below 0x20: the bytes a string's
// scan must stop at, so that a long string's body goes by eight bytes at a
// time. These are the classic tests for a zero byte and for a byte below
// n, exact as to whether there is one.
func Plain8(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - lo) & ^v & hi }
	below := (w - lo*0x20) & ^w & hi
	return below|zero(w^(lo*'"'))|zero(w^(lo*'\\')) == 0
}
