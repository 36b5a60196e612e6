package main

// Presentation: tables and the short notation for JSON shapes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// table lays out rows in columns separated by two spaces. Cells are
// measured in runes, which is right for the text this tool prints. Every
// cell is escaped (see text): a cell is one line, whoever wrote it.
type table struct {
	indent string
	rows   [][]string
}

func (t *table) row(cells ...string) {
	r := make([]string, len(cells))
	for i, c := range cells {
		r[i] = text(c)
	}
	t.rows = append(t.rows, r)
}

func (t *table) write(w io.Writer) {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b, line strings.Builder
	for _, r := range t.rows {
		line.Reset()
		line.WriteString(t.indent)
		for i, c := range r {
			line.WriteString(c)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(w, b.String())
}

// maxShapeDepth bounds how deep a shape is rendered: a description comes
// from a plugin (through the admin API, which this program need not
// trust) and may nest far deeper than any real type; nothing below this
// depth is walked, and "…" stands for it. Each "[]", "map[K]" and struct
// level counts one, as for typedesc.MaxDepth, the most the host accepts,
// so whatever the host accepted is shown whole.
const maxShapeDepth = typedesc.MaxDepth

// maxToken bounds a field or type name as shown; --json has all of it.
const maxToken = 80

// describeWidth is the width describe lays shapes out in.
const describeWidth = 80

// shape renders what JSON an entity describes, compactly:
//
//	int                        a scalar, by its Go kind
//	{a int, note? string}      an object; "?" marks an optional field
//	[]{key string, value any}  an array of objects
//	map[string]float64         an object used as a map
//	-                          nothing described (nil)
//	…                          nested deeper than maxShapeDepth
//
// A struct whose fields are not given (a recursive type where it repeats,
// or an empty struct) is "{…}". Names are escaped (see text).
func shape(e *typedesc.Entity) string {
	s, _ := shapeWithin(e, -1)
	return s
}

// shapeWithin is shape that stops once the result is longer than limit
// runes, reporting whether it fit; limit < 0 is no limit.
func shapeWithin(e *typedesc.Entity, limit int) (string, bool) {
	if e == nil {
		return "-", limit < 0 || limit >= 1
	}
	w := &shapeWriter{limit: limit}
	w.compact(e.Type, e.Fields, 0)
	return w.b.String(), !w.over()
}

// shapeWriter renders shapes, counting the runes of the line it is on so
// that a caller can ask whether a shape fits.
type shapeWriter struct {
	b     strings.Builder
	n     int // runes written since the last line break
	limit int // compact stops once n exceeds it; < 0: no limit
}

func (w *shapeWriter) str(s string) {
	w.b.WriteString(s)
	w.n += utf8.RuneCountInString(s)
}

func (w *shapeWriter) newline(indent int) {
	w.b.WriteByte('\n')
	w.b.WriteString(strings.Repeat(" ", indent))
	w.n = indent
}

func (w *shapeWriter) over() bool { return w.limit >= 0 && w.n > w.limit }

// token writes a name from the description, escaped and shortened to
// maxToken runes, looking at no more of it than that.
func (w *shapeWriter) token(s string) {
	end, cut := 0, 0 // byte offsets after maxToken and maxToken-1 runes
	for runes := 0; end < len(s) && runes < maxToken; runes++ {
		cut = end
		_, n := utf8.DecodeRuneInString(s[end:])
		end += n
	}
	if end < len(s) {
		s = s[:cut] + "…"
	}
	w.str(text(s))
}

// prefixes writes the "[]" and "map[K]" that begin typ and returns the
// rest of typ and the depth reached, or ok false when the depth limit cut
// the shape off (with "…" written) or the line is full.
func (w *shapeWriter) prefixes(typ string, depth int) (rest string, _ int, ok bool) {
	for {
		if w.over() {
			return "", depth, false
		}
		s := typedesc.ParseType(typ)
		if s.Kind != typedesc.Slice && s.Kind != typedesc.Map {
			return typ, depth, true // "map[broken" too: shown as it is
		}
		if depth >= maxShapeDepth {
			w.str("…")
			return "", depth, false
		}
		w.token(typ[:len(typ)-len(s.Elem)]) // "[]" or "map[K]"
		typ, depth = s.Elem, depth+1
	}
}

// field writes a struct field's name and "?" when it is optional.
func (w *shapeWriter) field(f *typedesc.Entity) {
	w.token(f.Name)
	if !f.Mandatory {
		w.str("?")
	}
	w.str(" ")
}

// compact writes a Type on one line, expanding the innermost "struct"
// into its fields.
func (w *shapeWriter) compact(typ string, fields []typedesc.Entity, depth int) {
	typ, depth, ok := w.prefixes(typ, depth)
	if !ok {
		return
	}
	switch typ {
	case "struct":
		if len(fields) == 0 {
			w.str("{…}")
			return
		}
		if depth >= maxShapeDepth {
			w.str("…")
			return
		}
		w.str("{")
		for i := range fields {
			if w.over() {
				return
			}
			if i > 0 {
				w.str(", ")
			}
			w.field(&fields[i])
			w.compact(fields[i].Type, fields[i].Fields, depth+1)
		}
		w.str("}")
	case "":
		w.str("any")
	default:
		w.token(typ)
	}
}

// block writes a Type starting on the current line, which continues at
// column indent: a struct that does not fit in width gets one field per
// line, each laid out the same way one level further in.
func (w *shapeWriter) block(typ string, fields []typedesc.Entity, depth, indent, width int) {
	// Try it on one line first, then throw that away if it is too long.
	try := &shapeWriter{n: w.n, limit: width}
	try.compact(typ, fields, depth)
	if !try.over() {
		w.str(try.b.String())
		return
	}
	typ, depth, ok := w.prefixes(typ, depth)
	if !ok {
		return
	}
	if typ != "struct" || len(fields) == 0 || depth >= maxShapeDepth {
		w.compact(typ, fields, depth)
		return
	}
	w.str("{")
	for i := range fields {
		w.newline(indent + 2)
		w.field(&fields[i])
		w.block(fields[i].Type, fields[i].Fields, depth+1, indent+2, width)
	}
	w.newline(indent)
	w.str("}")
}

// shapeBlock renders e over as many lines as it needs to fit in width,
// the first starting at column col and the others indented by indent.
func shapeBlock(e *typedesc.Entity, col, indent, width int) string {
	if e == nil {
		return "-"
	}
	w := &shapeWriter{n: col, limit: -1}
	w.block(e.Type, e.Fields, 0, indent, width)
	return w.b.String()
}

// functionsTable lists a plugin's functions, sorted by name. With plugin
// set, the plugin's name is the first column, written on its first row
// only so that each plugin's functions read as a group.
func functionsTable(t *table, info *envelope.PluginInfo, plugin bool) {
	for i, name := range slices.Sorted(maps.Keys(info.Functions)) {
		f := info.Functions[name]
		cells := []string{text(name), shape(f.Input), shape(f.Output)}
		if plugin {
			owner := text(info.Name)
			if i > 0 {
				owner = ""
			}
			cells = append([]string{owner}, cells...)
		}
		t.row(cells...)
	}
}

// compact renders a JSON value on one line, for tables, escaped: a
// character text would escape shows as the \u escape JSON has for it.
func compact(v any) string {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return fmt.Sprintf("%v", v)
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return text(string(raw))
	}
	return spaced(text(b.String()))
}

// spaced adds a space after the commas and colons between the members of
// compact JSON, which reads better in a terminal: {"a": 1, "b": [1, 2]}.
func spaced(s string) string {
	var b strings.Builder
	inString, escaped := false, false
	for _, r := range s {
		b.WriteRune(r)
		switch {
		case inString && escaped:
			escaped = false
		case inString && r == '\\':
			escaped = true
		case r == '"':
			inString = !inString
		case !inString && (r == ',' || r == ':'):
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// indented renders a JSON value over several lines, for results,
// escaped as compact is. Valid JSON has no raw line breaks or tabs in its
// strings, so those in the result are json.Indent's own.
func indented(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return text(string(raw))
	}
	return textLines(b.String())
}

// errorText renders a JSON-RPC style error for a person, on one line.
func errorText(code int64, message string) string {
	if code == 0 {
		return oneLine(message)
	}
	return fmt.Sprintf("%s (code %d, %s)", oneLine(message), code, codeName(code))
}

// codeName names the error codes of the protocol.
func codeName(code int64) string {
	switch code {
	case envelope.CodeParseError:
		return "parse error"
	case envelope.CodeInvalidRequest:
		return "invalid request"
	case envelope.CodeMethodNotFound:
		return "method not found"
	case envelope.CodeInvalidParams:
		return "invalid params"
	case envelope.CodeInternalError:
		return "internal error"
	case envelope.CodeMethodError:
		return "method error"
	case envelope.CodeNameTaken:
		return "name taken"
	case envelope.CodeUnauthorized:
		return "unauthorised"
	case envelope.CodeShuttingDown:
		return "shutting down"
	case envelope.CodeRequestCancelled:
		return "request cancelled"
	}
	return "error"
}

// plural returns "1 function", "2 functions".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
