// Package jsonkey holds what plugsock's hand-written JSON readers need to
// know about how encoding/json matches object keys to struct fields, so
// that a fast path can tell when to leave a message to encoding/json.
package jsonkey

import (
	"bytes"
	"unicode/utf8"
)

// MayMatch reports whether encoding/json might match key to one of
// names. It matches names case-insensitively, with Unicode's simple
// folding, so a key with any non-ASCII byte might match one; an ASCII key
// matches when it equals a name but for case.
func MayMatch(key []byte, names []string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}
