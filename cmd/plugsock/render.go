package main

// Presentation: tables and the short notation for JSON shapes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
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
		cells := []string{text(name), shape(f.Input), outputShape(&f)}
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

// outputShape is what the OUTPUT column says of f: its output's shape, or,
// for a stream, what flows each way, which is what it gives back:
// "stream out {…}" for a source, "stream in {…}" for a sink, both for a
// processor.
func outputShape(f *typedesc.Function) string {
	st := f.Stream
	if st == nil {
		return shape(f.Output)
	}
	out := "stream"
	if st.In != nil || len(st.InSchema) > 0 {
		out += " in " + shape(orSchema(st.In, st.InSchema))
	}
	if st.Out != nil || len(st.OutSchema) > 0 {
		out += " out " + shape(orSchema(st.Out, st.OutSchema))
	}
	return out
}

// orSchema is e, or the Entity summing up schema when e is nil.
func orSchema(e *typedesc.Entity, schema json.RawMessage) *typedesc.Entity {
	if e == nil && len(schema) > 0 {
		return schemaEntity(schema)
	}
	return e
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

// What describe says of a function beyond its shapes, from its schemas:
// each member's description, its enum's values and its format, one row a
// member:
//
//	input.title  What is on.
//	input.kind   one of "talk", "workshop"
//	input.when   date-time; When it starts.
//	output       The booking's id.
//
// A schema comes from a plugin: the walk stops at maxShapeDepth, follows
// references only within the schema and never into a type it is already
// inside of, and lists at most maxNotes rows a function.
const (
	maxNotes    = 100
	maxNoteText = 160 // runes of a note; --json has all of it
)

// functionNotes returns the rows of notes on fn: a member's path and what
// its schema says of it.
func functionNotes(fn *typedesc.Function) [][2]string {
	var rows [][2]string
	for _, side := range []struct {
		name string
		raw  json.RawMessage
	}{{"input", fn.InputSchema}, {"output", fn.OutputSchema}} {
		if len(side.raw) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(side.raw))
		dec.UseNumber()
		var root any
		if dec.Decode(&root) != nil {
			continue
		}
		n := &noter{root: root, rows: rows}
		n.walk(side.name, root, 0, nil)
		rows = n.rows
	}
	if len(rows) > maxNotes {
		rows = append(rows[:maxNotes], [2]string{"…", "more in --json"})
	}
	return rows
}

type noter struct {
	root any
	rows [][2]string
}

// walk notes the member at path, of schema s, and its members in turn.
// seen are the references followed on the way.
func (n *noter) walk(path string, s any, depth int, seen []string) {
	if depth > maxShapeDepth || len(n.rows) > maxNotes {
		return
	}
	m, refs := n.resolve(s)
	for _, r := range refs {
		if slices.Contains(seen, r) {
			return // a type it is inside of, noted there
		}
	}
	seen = append(slices.Clip(seen), refs...)
	if note := noteOf(m); note != "" {
		n.rows = append(n.rows, [2]string{path, note})
	}
	props, _ := m["properties"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(props)) {
		n.walk(joinPath(path, name), props[name], depth+1, seen)
	}
	if items, ok := m["items"]; ok {
		n.walk(path+"[]", items, depth+1, seen)
	}
	if add, ok := m["additionalProperties"].(map[string]any); ok {
		n.walk(path+"[*]", add, depth+1, seen)
	}
}

func joinPath(path, name string) string { return path + "." + name }

// resolve returns the object schema s stands for: through "$ref" within
// the root, a few at a time, and the branch of an anyOf or oneOf that is
// not null, with the references it followed.
func (n *noter) resolve(s any) (map[string]any, []string) {
	var refs []string
	for range 8 {
		m, ok := s.(map[string]any)
		if !ok {
			return nil, refs
		}
		if r, ok := m["$ref"].(string); ok {
			if t := n.pointer(r); t != nil {
				refs = append(refs, r)
				if d, ok := m["description"]; ok {
					if tm, ok := t.(map[string]any); ok && tm["description"] == nil {
						t = withMember(tm, "description", d)
					}
				}
				s = t
				continue
			}
		}
		if other := notNull(m); other != nil {
			if d, ok := m["description"]; ok && other["description"] == nil {
				other = withMember(other, "description", d)
			}
			s = other
			continue
		}
		return m, refs
	}
	m, _ := s.(map[string]any)
	return m, refs
}

// notNull returns the one branch of m's anyOf or oneOf that is not null,
// when m says nothing else of its type: a Go pointer's schema.
func notNull(m map[string]any) map[string]any {
	if m["type"] != nil || m["properties"] != nil {
		return nil
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		branches, _ := m[k].([]any)
		var others []map[string]any
		for _, b := range branches {
			if bm, ok := b.(map[string]any); ok && bm["type"] != "null" {
				others = append(others, bm)
			}
		}
		if len(others) == 1 {
			return others[0]
		}
	}
	return nil
}

// withMember returns a copy of m with the member k set to v.
func withMember(m map[string]any, k string, v any) map[string]any {
	c := maps.Clone(m)
	c[k] = v
	return c
}

// pointer returns what a "#/..." reference points to in the root.
func (n *noter) pointer(ref string) any {
	if ref == "#" {
		return n.root
	}
	frag, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	if u, err := url.PathUnescape(frag); err == nil {
		frag = u
	}
	at := n.root
	for _, tok := range strings.Split(frag, "/") {
		m, ok := at.(map[string]any)
		if !ok {
			return nil
		}
		at = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)]
	}
	return at
}

// noteOf says what a schema says of its value beyond its shape.
func noteOf(m map[string]any) string {
	var parts []string
	// A string's format says what text it must be; a number's ("int64",
	// "double") only repeats its Go kind, which the shape shows.
	if f, ok := m["format"].(string); ok && isString(m) {
		parts = append(parts, f)
	}
	if e, ok := m["contentEncoding"].(string); ok {
		parts = append(parts, e)
	}
	if values, ok := m["enum"].([]any); ok {
		var vs []string
		for _, v := range values {
			b, err := json.Marshal(v)
			if err == nil {
				vs = append(vs, string(b))
			}
		}
		parts = append(parts, "one of "+strings.Join(vs, ", "))
	}
	if d, ok := m["description"].(string); ok && d != "" {
		parts = append(parts, strings.Join(strings.Fields(d), " "))
	}
	s := strings.Join(parts, "; ")
	if utf8.RuneCountInString(s) > maxNoteText {
		s = string([]rune(s)[:maxNoteText-1]) + "…"
	}
	return s
}

// isString reports whether a schema's type is "string", alone or beside
// "null".
func isString(m map[string]any) bool {
	switch t := m["type"].(type) {
	case string:
		return t == "string"
	case []any:
		return slices.Contains(t, any("string"))
	}
	return false
}

// writeNotes writes the notes on fn as rows indented by indent.
func writeNotes(w io.Writer, fn *typedesc.Function, indent string) {
	rows := functionNotes(fn)
	if len(rows) == 0 {
		return
	}
	t := &table{indent: indent}
	for _, r := range rows {
		t.row(r[0], r[1])
	}
	t.write(w)
}

// notesTable writes the notes on every function of info, sorted by name,
// as a table after describe's, when there are any.
func notesTable(w io.Writer, info *envelope.PluginInfo) {
	t := &table{}
	for _, name := range slices.Sorted(maps.Keys(info.Functions)) {
		fn := info.Functions[name]
		for i, r := range functionNotes(&fn) {
			owner := name
			if i > 0 {
				owner = ""
			}
			t.row(owner, r[0], r[1])
		}
	}
	if len(t.rows) == 0 {
		return
	}
	t.rows = append([][]string{{"FUNCTION", "MEMBER", "NOTE"}}, t.rows...)
	fmt.Fprintln(w)
	t.write(w)
}

// withSchemaShapes returns info with an Entity, for its shape, wherever a
// function has a schema that says something and no Entity: a plugin in
// another language may describe its functions with JSON Schema alone. A
// Go plugin's schema of no input at all, any object, is left as "-". The Entity is a summary
// of the schema in JSON Schema's own words ("integer", "number"); a type
// the schema is already inside of is "{…}", as a recursive Go type is.
func withSchemaShapes(info *envelope.PluginInfo) *envelope.PluginInfo {
	var out *envelope.PluginInfo
	for name, fn := range info.Functions {
		changed := false
		if fn.Input == nil && !anyObject(fn.InputSchema) {
			fn.Input, changed = schemaEntity(fn.InputSchema), true
		}
		if fn.Output == nil && !anyObject(fn.OutputSchema) {
			fn.Output, changed = schemaEntity(fn.OutputSchema), true
		}
		if !changed {
			continue
		}
		if out == nil {
			out = &envelope.PluginInfo{Name: info.Name, Version: info.Version, Functions: maps.Clone(info.Functions)}
		}
		out.Functions[name] = fn
	}
	if out == nil {
		return info
	}
	return out
}

// anyObject reports whether a schema is absent or says no more than "any
// object, or null", which is how a Go plugin describes no input.
func anyObject(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	delete(m, "$schema")
	if string(m["additionalProperties"]) == "true" {
		delete(m, "additionalProperties")
	}
	switch string(bytes.ReplaceAll(m["type"], []byte(" "), nil)) {
	case `"object"`, `["object","null"]`:
		delete(m, "type")
	}
	return len(m) == 0
}

// schemaEntity summarises a schema as an Entity, or nil when it is not
// JSON.
func schemaEntity(raw json.RawMessage) *typedesc.Entity {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var root any
	if dec.Decode(&root) != nil {
		return nil
	}
	n := &noter{root: root}
	e := n.entity(root, 0, nil)
	return &e
}

// entity summarises schema s, depth levels down, inside the types seen.
func (n *noter) entity(s any, depth int, seen []string) typedesc.Entity {
	m, refs := n.resolve(s)
	if m == nil || depth > maxShapeDepth {
		return typedesc.Entity{Type: "any"}
	}
	for _, r := range refs {
		if slices.Contains(seen, r) {
			return typedesc.Entity{Type: "struct"} // shown as {…}
		}
	}
	seen = append(slices.Clip(seen), refs...)
	var types []string
	switch t := m["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			if x, ok := x.(string); ok && x != "null" {
				types = append(types, x)
			}
		}
	}
	if len(types) == 0 && m["properties"] != nil {
		types = []string{"object"}
	}
	if len(types) != 1 {
		return typedesc.Entity{Type: "any"}
	}
	switch types[0] {
	case "array":
		items, ok := m["items"]
		if !ok {
			return typedesc.Entity{Type: "[]any"}
		}
		inner := n.entity(items, depth+1, seen)
		return typedesc.Entity{Type: "[]" + inner.Type, Fields: inner.Fields}
	case "object":
		props, _ := m["properties"].(map[string]any)
		if props == nil {
			if add, ok := m["additionalProperties"].(map[string]any); ok {
				inner := n.entity(add, depth+1, seen)
				return typedesc.Entity{Type: "map[string]" + inner.Type, Fields: inner.Fields}
			}
			return typedesc.Entity{Type: "map[string]any"}
		}
		required, _ := m["required"].([]any)
		e := typedesc.Entity{Type: "struct"}
		for _, name := range slices.Sorted(maps.Keys(props)) {
			f := n.entity(props[name], depth+1, seen)
			f.Name, f.Mandatory = name, slices.Contains(required, any(name))
			e.Fields = append(e.Fields, f)
		}
		if len(e.Fields) == 0 {
			return typedesc.Entity{Type: "map[string]any"}
		}
		return e
	}
	return typedesc.Entity{Type: types[0]}
}
