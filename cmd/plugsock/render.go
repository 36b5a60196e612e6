package main

// Presentation: tables and the short notation for JSON shapes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// table lays out rows in columns separated by two spaces. Cells are
// measured in runes, which is right for the text this tool prints.
type table struct {
	indent string
	rows   [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

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

// shape renders what JSON an entity describes, compactly:
//
//	int                        a scalar, by its Go kind
//	{a int, note? string}      an object; "?" marks an optional field
//	[]{key string, value any}  an array of objects
//	map[string]float64         an object used as a map
//	-                          nothing described (nil)
//
// A struct whose fields are not given (a recursive type where it repeats,
// or an empty struct) is "{…}".
func shape(e *typedesc.Entity) string {
	if e == nil {
		return "-"
	}
	var b strings.Builder
	writeShape(&b, e.Type, e.Fields)
	return b.String()
}

// writeShape writes a Type, expanding the innermost "struct" into fields.
func writeShape(b *strings.Builder, typ string, fields []typedesc.Entity) {
	for {
		switch {
		case strings.HasPrefix(typ, "[]"):
			b.WriteString("[]")
			typ = typ[2:]
			continue
		case strings.HasPrefix(typ, "map["):
			end := strings.IndexByte(typ, ']')
			if end < 0 {
				b.WriteString(typ)
				return
			}
			b.WriteString(typ[:end+1])
			typ = typ[end+1:]
			continue
		}
		break
	}
	switch typ {
	case "struct":
		if len(fields) == 0 {
			b.WriteString("{…}")
			return
		}
		b.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Name)
			if !f.Mandatory {
				b.WriteByte('?')
			}
			b.WriteByte(' ')
			writeShape(b, f.Type, f.Fields)
		}
		b.WriteByte('}')
	case "":
		b.WriteString("any")
	default:
		b.WriteString(typ)
	}
}

// functionsTable lists a plugin's functions, sorted by name. With plugin
// set, the plugin's name is the first column, written on its first row
// only so that each plugin's functions read as a group.
func functionsTable(t *table, info *envelope.PluginInfo, plugin bool) {
	for i, name := range sortedKeys(info.Functions) {
		f := info.Functions[name]
		cells := []string{name, shape(f.Input), shape(f.Output)}
		if plugin {
			owner := info.Name
			if i > 0 {
				owner = ""
			}
			cells = append([]string{owner}, cells...)
		}
		t.row(cells...)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// compact renders a JSON value on one line, for tables.
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
		return string(raw)
	}
	return spaced(b.String())
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

// indented renders a JSON value over several lines, for results.
func indented(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// errorText renders a JSON-RPC style error for a person.
func errorText(code int64, message string) string {
	if code == 0 {
		return message
	}
	return fmt.Sprintf("%s (code %d, %s)", message, code, codeName(code))
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
