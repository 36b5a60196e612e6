// Package names holds the protocol's rule for plugin names, so that the
// host, which enforces it, and the conformance battery, which checks
// plugins against it, cannot drift apart. docs/protocol.md ("Name rules")
// states the same rule for implementers.
package names

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest name allowed, in bytes.
const MaxLen = 128

// Check reports whether name is a valid plugin name, and if not, why.
//
// A name must read well in logs and on command lines, and be usable as
// one URL path segment once escaped (the admin API routes by it): so it
// is 1 to MaxLen bytes of valid UTF-8, without '/', '@' (kept for
// addressing a version, name@version), white space or unprintable
// characters, and is neither "." nor "..", which URL resolution removes
// as dot-segments even when percent-encoded. Every other name escapes to
// a segment that reaches a server unchanged.
func Check(name string) error {
	switch {
	case name == "":
		return errors.New("plugin name is empty")
	case len(name) > MaxLen:
		return fmt.Errorf("plugin name is %d bytes long; at most %d allowed", len(name), MaxLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("plugin name %q is not valid UTF-8", name)
	case name == "." || name == "..":
		return fmt.Errorf("plugin name %q is a dot-segment, which cannot be a URL path segment", name)
	case strings.ContainsAny(name, "@/"):
		return fmt.Errorf("plugin name %q contains '@' or '/'", name)
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("plugin name %q contains white space or unprintable characters", name)
	}
	return nil
}
