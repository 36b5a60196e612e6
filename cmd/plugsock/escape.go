package main

// Text that plugins control (names, versions, function and field names,
// messages, results) reaches a terminal through this file only.
//
// A terminal obeys what it is sent: ESC and CSI sequences set its title,
// clear it or move the cursor, \r and \b write over what was printed, and
// Unicode's bidirectional and other format characters reorder or hide
// text ("Trojan Source"). So every character that is not graphic is shown
// as a Go escape instead, and bytes that are not UTF-8 as \xNN: the
// output shows what was sent and cannot act on the terminal. Backslashes
// are left as they are, so that JSON and paths read as usual; where it
// matters whether "\x1b" was sent as four characters or one, --json
// tells.

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// safe reports whether r may reach a terminal as it is. Graphic
// characters (letters, marks, numbers, punctuation, symbols and spaces)
// may; control (Cc: C0, DEL, C1), format (Cf: the bidi embeddings,
// overrides and isolates, zero-width characters, soft hyphen, tags), line
// and paragraph separators, private-use, surrogate and unassigned code
// points may not.
func safe(r rune) bool {
	return r < utf8.RuneSelf && r >= ' ' && r != 0x7f || r >= utf8.RuneSelf && unicode.IsGraphic(r)
}

// escapeRune appends r as a Go escape: \x1b, \r, \u202e, \U000e0041.
func escapeRune(b []byte, r rune) []byte {
	q := strconv.AppendQuoteRuneToASCII(nil, r) // '\x1b'
	return append(b, q[1:len(q)-1]...)
}

// appendText appends s to b with every unsafe character escaped. With
// layout set, \n and \t are kept: for text whose line breaks this program
// made. Without it, the result is one line.
func appendText(b []byte, s []byte, layout bool) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && n <= 1:
			b = append(b, `\x`...)
			b = append(b, "0123456789abcdef"[s[0]>>4], "0123456789abcdef"[s[0]&0xf])
		case safe(r), layout && (r == '\n' || r == '\t'):
			b = append(b, s[:n]...)
		default:
			b = escapeRune(b, r)
		}
		s = s[n:]
	}
	return b
}

// text returns s as one line that is safe to print: every character that
// could control a terminal or reorder, hide or break the text around it
// is escaped. It is the one way plugin-controlled text is printed.
func text(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || !safe(r) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s // the common case: nothing to escape
	}
	return string(appendText([]byte(s[:i]), []byte(s[i:]), false))
}

// textLines is text for output of several lines that this program laid
// out (such as indented JSON, which has no raw line breaks of its own):
// \n and \t are kept.
func textLines(s string) string {
	return string(appendText(nil, []byte(s), true))
}

// escapingWriter passes what is written to it through appendText, with
// layout kept, for output that code elsewhere formats (plugintest's
// report quotes what a plugin wrote). A UTF-8 sequence split between two
// writes is held back until it is whole.
type escapingWriter struct {
	w       io.Writer
	pending []byte // an incomplete UTF-8 sequence at the end of the last write
}

func (e *escapingWriter) Write(p []byte) (int, error) {
	buf := append(e.pending, p...)
	e.pending = nil
	// Hold back a trailing sequence that may yet be completed.
	if i := lastStart(buf); i >= 0 && !utf8.FullRune(buf[i:]) {
		e.pending = bytes.Clone(buf[i:])
		buf = buf[:i]
	}
	if _, err := e.w.Write(appendText(nil, buf, true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held-back incomplete sequence, escaped.
func (e *escapingWriter) Flush() error {
	if len(e.pending) == 0 {
		return nil
	}
	_, err := e.w.Write(appendText(nil, e.pending, true))
	e.pending = nil
	return err
}

// lastStart returns the index of the last byte of b, among its last
// utf8.UTFMax, that can start a UTF-8 sequence, or -1.
func lastStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return -1
}

// safeJSON returns the JSON text raw with every unsafe character inside
// its strings written as a \u escape, and any byte that is not UTF-8 as
// \ufffd, which is what decoders read it as. The JSON means exactly the
// same values; it just cannot act on a terminal when --json output is
// read there. raw must be valid JSON: outside strings it holds only
// structural characters and JSON whitespace, which are kept.
func safeJSON(raw []byte) []byte {
	var b []byte
	inString, escaped := false, false
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			switch {
			case !inString:
				inString = c == '"'
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			case c == 0x7f:
				b = append(b, `\u007f`...)
				i++
				continue
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(raw[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b = append(b, `\ufffd`...)
		case unicode.IsGraphic(r):
			b = append(b, raw[i:i+n]...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			b = appendU(appendU(b, r1), r2)
		default:
			b = appendU(b, r)
		}
		i += n
	}
	return b
}

func appendU(b []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

// oneLine returns s escaped, with runs of white space (line breaks
// included) made single spaces: for an error message on one line.
func oneLine(s string) string { return text(strings.Join(strings.Fields(s), " ")) }
