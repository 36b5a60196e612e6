package typedesc

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// The schemas of Go types. InputSchema follows encoding/json's decoder and
// OutputSchema its encoder, rule for rule (the comments name the rule of
// encoding/json each piece follows), so that a payload validates exactly
// when json.Unmarshal accepts it and every value json.Marshal writes
// validates. Where a type decodes or encodes itself, the schema says only
// what is certain and a "$comment" says why.

// SchemaDialect is the "$schema" of every schema InputSchema and
// OutputSchema return: JSON Schema draft 2020-12.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// ErrRefinement is wrapped by the errors about what an author added to a
// description: a plugsock or jsonschema struct tag InputSchema or
// OutputSchema cannot apply, an Enum method that fails, or a field named
// in a Refine that the type does not have.
var ErrRefinement = errors.New("invalid refinement")

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType            = reflect.TypeFor[time.Time]()
	durationType        = reflect.TypeFor[time.Duration]()
	numberType          = reflect.TypeFor[json.Number]()
)

// direction says which of encoding/json's two halves a schema follows.
type direction uint8

const (
	reading direction = iota // json.Unmarshal: InputSchema
	writing                  // json.Marshal: OutputSchema
)

// schemaCache holds, per direction, each reflect.Type's schemaResult.
var schemaCache [2]sync.Map

type schemaResult struct {
	raw json.RawMessage
	err error
}

// InputSchema returns the JSON Schema (draft 2020-12) of the JSON that
// json.Unmarshal accepts into a value of type t, as encoding/json reads it:
// null anywhere, object members matched to fields by name or else
// case-insensitively, unknown members ignored, integers written as
// integers that fit, and so on (see the package documentation). A payload
// validates against it exactly when json.Unmarshal(payload, new(T))
// succeeds, except where the refinements of t's struct tags and Enum
// methods narrow it, and where a type decodes itself (UnmarshalJSON,
// UnmarshalText), which the schema can only note.
//
// The error wraps ErrRefinement for a struct tag it cannot apply, and
// ErrTooDeep for a type that nests deeper than MaxDepth. Schemas are made
// once per type; the result is the caller's own copy. It returns nil for a
// nil t.
func InputSchema(t reflect.Type) (json.RawMessage, error) {
	return cachedSchema(reading, t)
}

// OutputSchema returns the JSON Schema (draft 2020-12) of the JSON that
// json.Marshal writes for a value of type t: every value it writes
// validates. Members written even when zero are "required"; a nil pointer,
// slice, map or interface is null. It takes the same refinements as
// InputSchema, and returns the same errors.
func OutputSchema(t reflect.Type) (json.RawMessage, error) {
	return cachedSchema(writing, t)
}

func cachedSchema(dir direction, t reflect.Type) (json.RawMessage, error) {
	if t == nil {
		return nil, nil
	}
	r, ok := schemaCache[dir].Load(t)
	if !ok {
		raw, err := buildSchema(dir, t)
		r, _ = schemaCache[dir].LoadOrStore(t, schemaResult{raw, err})
	}
	res := r.(schemaResult)
	return bytes.Clone(res.raw), res.err
}

// obj is one schema object. Its keys are written in a fixed, readable
// order (keywordOrder), whatever order they were set in.
type obj map[string]any

// members is a JSON object whose keys keep the order they were added in:
// "properties" in the order of the struct's fields, "$defs" in the order
// the walk met them.
type members struct {
	names []string
	vals  []any
}

func (m *members) add(name string, v any) {
	m.names = append(m.names, name)
	m.vals = append(m.vals, v)
}

// schemaGen makes one schema document.
type schemaGen struct {
	dir   direction
	defs  map[defKey]*schemaDef
	order []*schemaDef
	names map[string]bool
	depth int // of structs, arrays and maps open
	addr  map[reflect.Type]bool
}

// defKey identifies a $defs entry. A type encoding/json writes differently
// when the value is addressable (it has MarshalJSON or MarshalText only on
// its pointer, somewhere by value inside it) has one of each.
type defKey struct {
	t    reflect.Type
	addr bool
}

type schemaDef struct {
	name   string
	schema any
	refs   int
}

func buildSchema(dir direction, t reflect.Type) (json.RawMessage, error) {
	g := &schemaGen{dir: dir, defs: map[defKey]*schemaDef{}, names: map[string]bool{}}
	var root any
	var err error
	if dir == reading {
		// json.Unmarshal(data, new(T)) starts at a *T: its methods are
		// looked for even when T has no name.
		root, err = g.slot(reflect.PointerTo(t), true)
	} else {
		// json.Marshal(v) gets v in an interface: not addressable.
		root, err = g.slot(t, false)
	}
	if err != nil {
		return nil, err
	}
	root = g.inlineRoot(root)
	doc := obj{"$schema": SchemaDialect}
	switch r := root.(type) {
	case bool:
		if !r {
			doc["not"] = obj{}
		}
	case obj:
		for k, v := range r {
			doc[k] = v
		}
	}
	if len(g.order) > 0 {
		defs := &members{}
		for _, d := range g.order {
			defs.add(d.name, d.schema)
		}
		doc["$defs"] = defs
	}
	var buf bytes.Buffer
	writeJSON(&buf, doc)
	return buf.Bytes(), nil
}

// inlineRoot writes the root's own $defs entry in its place when nothing
// else refers to it, so that a plain struct reads as one object.
func (g *schemaGen) inlineRoot(root any) any {
	r, ok := root.(obj)
	if !ok {
		return root
	}
	target, nullable := r, false
	if any, ok := r["anyOf"].([]any); ok && len(r) == 1 && len(any) == 2 {
		if n, ok := any[0].(obj); ok && len(n) == 1 && n["type"] == "null" {
			target, nullable = any[1].(obj), true
		}
	}
	ref, ok := target["$ref"].(string)
	if !ok || len(target) != 1 {
		return root
	}
	i := slices.IndexFunc(g.order, func(d *schemaDef) bool { return "#/$defs/"+d.name == ref })
	if i < 0 || g.order[i].refs != 1 {
		return root
	}
	d := g.order[i]
	g.order = slices.Delete(g.order, i, i+1)
	s, ok := d.schema.(obj)
	if !ok {
		return d.schema
	}
	if nullable {
		return g.orNull(s)
	}
	return s
}

// types is the "type" keyword for the JSON types named: with null too when
// reading, since encoding/json accepts null for every Go value.
func (g *schemaGen) types(names ...string) any {
	if g.dir == reading {
		names = append(names, "null")
	}
	if len(names) == 1 {
		return names[0]
	}
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}

// orNull returns s allowing null as well. Reading, every schema allows it
// already.
func (g *schemaGen) orNull(s any) any {
	o, ok := s.(obj)
	if !ok {
		if s == false {
			return obj{"type": "null"}
		}
		return s
	}
	if g.dir == reading {
		return o
	}
	if _, ok := o["$ref"]; ok {
		return obj{"anyOf": []any{obj{"type": "null"}, o}}
	}
	t, ok := o["type"]
	if !ok {
		if _, ok := o["enum"]; !ok {
			return o // allows null already
		}
	}
	c := maps(o)
	switch t := t.(type) {
	case string:
		if t != "null" {
			c["type"] = []any{t, "null"}
		}
	case []any:
		if !slices.Contains(t, any("null")) {
			c["type"] = append(slices.Clip(t), "null")
		}
	}
	if e, ok := c["enum"].([]any); ok && !slices.Contains(e, nil) {
		c["enum"] = append(slices.Clip(e), nil)
	}
	return c
}

func maps(o obj) obj {
	c := make(obj, len(o))
	for k, v := range o {
		c[k] = v
	}
	return c
}

// slot is the schema of a value of type t where encoding/json finds it: a
// field, an element, a map value, or the top. addr says whether the value
// is addressable there, which decides, when writing, whether methods on
// *t apply. (When reading, every value is addressable.)
func (g *schemaGen) slot(t reflect.Type, addr bool) (any, error) {
	if g.dir == reading {
		return g.readSlot(t)
	}
	return g.writeSlot(t, addr)
}

// readSlot follows encoding/json's indirect: a named non-pointer type is
// addressed first, so the methods of *T count; then each pointer's own
// methods are looked at, down to the first non-pointer, whose kind decides.
func (g *schemaGen) readSlot(t reflect.Type) (any, error) {
	if t.Kind() != reflect.Pointer {
		if t.Name() != "" {
			if s, ok := g.readCustom(reflect.PointerTo(t), t); ok {
				return g.withEnum(s, t)
			}
		}
		s, err := g.kind(t, true)
		if err != nil {
			return nil, err
		}
		return g.withEnum(s, t)
	}
	for i := 0; t.Kind() == reflect.Pointer; i++ {
		if i > MaxDepth {
			return pointerLoop(), nil
		}
		if s, ok := g.readCustom(t, t.Elem()); ok {
			return g.withEnum(s, t.Elem())
		}
		t = t.Elem()
	}
	s, err := g.kind(t, true)
	if err != nil {
		return nil, err
	}
	return g.withEnum(s, t)
}

// pointerLoop is the schema of type P *P, which encoding/json never
// finishes decoding into and always writes as null.
func pointerLoop() obj {
	return obj{"type": "null", "$comment": "a pointer type that points only to pointers: only null"}
}

// readCustom is the schema of a value whose pointer p has UnmarshalJSON or
// UnmarshalText; owner is the type they decode.
func (g *schemaGen) readCustom(p, owner reflect.Type) (obj, bool) {
	switch {
	case p.Implements(unmarshalerType):
		if owner == timeType {
			return obj{"type": g.types("string"), "format": "date-time"}, true
		}
		return obj{"$comment": owner.String() + " reads its own JSON form (UnmarshalJSON), which this schema cannot describe"}, true
	case p.Implements(textUnmarshalerType):
		return obj{"type": g.types("string"), "$comment": owner.String() + " reads itself from a string (UnmarshalText), which may refuse some"}, true
	}
	return nil, false
}

// writeSlot follows encoding/json's newTypeEncoder: a pointer's own
// methods, else null or what it points to, which is addressable; a
// non-pointer's methods, those of *T only where the value is addressable;
// else the kind.
func (g *schemaGen) writeSlot(t reflect.Type, addr bool) (any, error) {
	nullable := false
	for i := 0; t.Kind() == reflect.Pointer; i++ {
		if i > MaxDepth {
			return pointerLoop(), nil
		}
		if s, ok := g.writeCustom(t, t.Elem()); ok {
			s, err := g.withEnum(s, t.Elem())
			return g.orNull(s), err
		}
		t, addr, nullable = t.Elem(), true, true
	}
	var s any
	if c, ok := g.writeCustomValue(t, addr); ok {
		s = c
	} else {
		var err error
		if s, err = g.kind(t, addr); err != nil {
			return nil, err
		}
	}
	s, err := g.withEnum(s, t)
	if nullable {
		s = g.orNull(s)
	}
	return s, err
}

func (g *schemaGen) writeCustomValue(t reflect.Type, addr bool) (obj, bool) {
	p := reflect.PointerTo(t)
	switch {
	case addr && p.Implements(marshalerType) || t.Implements(marshalerType):
		return g.writeCustom(marshalerType, t)
	case addr && p.Implements(textMarshalerType) || t.Implements(textMarshalerType):
		return g.writeCustom(textMarshalerType, t)
	}
	return nil, false
}

// writeCustom is the schema of a value whose type m (or, when m is an
// interface, the kind of method m names) writes owner itself.
func (g *schemaGen) writeCustom(m, owner reflect.Type) (obj, bool) {
	json := m == marshalerType || m.Kind() != reflect.Interface && m.Implements(marshalerType)
	text := !json && (m == textMarshalerType || m.Kind() != reflect.Interface && m.Implements(textMarshalerType))
	switch {
	case json && owner == timeType:
		return obj{"type": "string", "format": "date-time"}, true
	case json:
		return obj{"$comment": owner.String() + " writes its own JSON form (MarshalJSON), which this schema cannot describe"}, true
	case text:
		return obj{"type": "string", "$comment": owner.String() + " writes itself as a string (MarshalText)"}, true
	}
	return nil, false
}

// withEnum adds the values of t's Enum method, if it has one, to s.
func (g *schemaGen) withEnum(s any, t reflect.Type) (any, error) {
	o, ok := s.(obj)
	if !ok || t.Name() == "" || t.Kind() == reflect.Struct {
		return s, nil
	}
	values, err := enumValues(t)
	if err != nil || values == nil {
		return s, err
	}
	o = maps(o)
	if g.dir == reading {
		values = append(values, nil)
	}
	o["enum"] = values
	return o, nil
}

// enumValues calls t's method Enum() []T and returns the JSON of each
// value, or nil when t has no such method. A method of that name with
// another signature (protobuf's Enum() *T) is not one.
func enumValues(t reflect.Type) (values []any, err error) {
	m, ok := reflect.PointerTo(t).MethodByName("Enum")
	if !ok || m.Type.NumIn() != 1 || m.Type.NumOut() != 1 || m.Type.Out(0) != reflect.SliceOf(t) {
		return nil, nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v.Enum panicked: %v", ErrRefinement, t, v)
		}
	}()
	out := m.Func.Call([]reflect.Value{reflect.New(t)})[0]
	if out.Len() == 0 {
		return nil, fmt.Errorf("%w: %v.Enum returned no values", ErrRefinement, t)
	}
	values = make([]any, 0, out.Len())
	for i := range out.Len() {
		b, err := json.Marshal(out.Index(i).Interface())
		if err != nil {
			return nil, fmt.Errorf("%w: %v.Enum: value %d: %w", ErrRefinement, t, i, err)
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %v.Enum: value %d: %w", ErrRefinement, t, i, err)
		}
		values = append(values, v)
	}
	return values, nil
}

// enter and leave bracket a struct, array or map, bounding the walk.
func (g *schemaGen) enter(t reflect.Type) error {
	if g.depth++; g.depth > MaxDepth {
		return fmt.Errorf("%w: %v", ErrTooDeep, t)
	}
	return nil
}

func (g *schemaGen) leave() { g.depth-- }

// kind is the schema of a value of type t that encoding/json reads or
// writes by its kind.
func (g *schemaGen) kind(t reflect.Type, addr bool) (any, error) {
	switch k := t.Kind(); k {
	case reflect.Bool:
		return obj{"type": g.types("boolean")}, nil
	case reflect.String:
		if t == numberType {
			if g.dir == reading {
				// A json.Number also decodes from a string that holds a
				// number literal.
				return obj{"type": g.types("number", "string"), "pattern": numberPattern}, nil
			}
			return obj{"type": "number"}, nil
		}
		return obj{"type": g.types("string")}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return g.integer(t), nil
	case reflect.Float32, reflect.Float64:
		return obj{"type": g.types("number"), "format": floatFormat(t)}, nil
	case reflect.Interface:
		switch {
		case t.NumMethod() > 0 && g.dir == reading:
			return obj{"type": "null", "$comment": t.String() + " is an interface with methods: only null decodes into it"}, nil
		case g.dir == reading:
			return g.anyJSON(), nil
		}
		return obj{}, nil
	case reflect.Struct:
		return g.defRef(t, addr, func(addr bool) (any, error) { return g.structSchema(t, addr) })
	case reflect.Slice, reflect.Array, reflect.Map:
		if t.Name() != "" && g.recursive(t) {
			// type Tree map[string]Tree: only a $defs entry ends it.
			return g.defRef(t, addr, func(addr bool) (any, error) { return g.container(t, addr) })
		}
		return g.container(t, addr)
	}
	// Channels, funcs, complex numbers and unsafe pointers: null decodes
	// into them as into anything, nothing else does, and encoding/json
	// refuses to write them at all.
	if g.dir == reading {
		return obj{"type": "null", "$comment": t.String() + " has no JSON form: only null"}, nil
	}
	return false, nil
}

func (g *schemaGen) container(t reflect.Type, addr bool) (any, error) {
	switch t.Kind() {
	case reflect.Slice:
		return g.slice(t)
	case reflect.Array:
		return g.array(t, addr)
	}
	return g.mapSchema(t)
}

// recursive reports whether the type t holds itself, through elements,
// map values, pointers and struct fields.
func (g *schemaGen) recursive(t reflect.Type) bool {
	seen := map[reflect.Type]bool{}
	todo := []reflect.Type{t}
	for len(todo) > 0 {
		u := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		var next []reflect.Type
		switch u.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			next = append(next, u.Elem())
		case reflect.Map:
			next = append(next, u.Key(), u.Elem())
		case reflect.Struct:
			for i := range u.NumField() {
				next = append(next, u.Field(i).Type)
			}
		}
		for _, n := range next {
			if n == t {
				return true
			}
			if !seen[n] {
				seen[n] = true
				todo = append(todo, n)
			}
		}
	}
	return false
}

// numberPattern is the grammar of a JSON number, which a json.Number in a
// string must follow.
const numberPattern = `^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`

func floatFormat(t reflect.Type) string {
	if t.Bits() == 32 {
		return "float"
	}
	return "double"
}

// intFormat names the format that asserts what strconv reads into t.
func intFormat(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int" + strconv.Itoa(t.Bits())
	}
	return "uint" + strconv.Itoa(t.Bits())
}

func isSigned(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

// integer is an integer kind: its exact bounds, as numbers of any size,
// and the format that refuses what strconv refuses (1.0, 1e2).
func (g *schemaGen) integer(t reflect.Type) obj {
	s := obj{"type": g.types("integer"), "format": intFormat(t)}
	if isSigned(t) {
		s["minimum"] = json.Number(strconv.FormatInt(math.MinInt64>>(64-t.Bits()), 10))
		s["maximum"] = json.Number(strconv.FormatInt(math.MaxInt64>>(64-t.Bits()), 10))
	} else {
		s["minimum"] = json.Number("0")
		s["maximum"] = json.Number(strconv.FormatUint(math.MaxUint64>>(64-t.Bits()), 10))
	}
	if t == durationType {
		s["description"] = "a time.Duration: an integer count of nanoseconds"
	}
	return s
}

// anyJSON is what decodes into an empty interface: any JSON, as long as
// each number fits a float64 (encoding/json refuses 1e400 there).
func (g *schemaGen) anyJSON() obj {
	const name = "any"
	key := defKey{t: reflect.TypeFor[any]()}
	d := g.defs[key]
	if d == nil {
		d = g.newDef(key, name)
		ref := "#/$defs/" + d.name
		d.schema = obj{
			"description": "any JSON value whose numbers fit a float64",
			"anyOf": []any{
				obj{"type": []any{"null", "boolean", "string"}},
				obj{"type": "number", "format": "double"},
				obj{"type": "array", "items": obj{"$ref": ref}},
				obj{"type": "object", "additionalProperties": obj{"$ref": ref}},
			},
		}
		d.refs += 2
	}
	d.refs++
	return obj{"$ref": "#/$defs/" + d.name}
}

func (g *schemaGen) newDef(key defKey, name string) *schemaDef {
	base := defName(name)
	name = base
	for i := 2; g.names[name]; i++ {
		name = base + strconv.Itoa(i)
	}
	g.names[name] = true
	d := &schemaDef{name: name}
	g.defs[key] = d
	g.order = append(g.order, d)
	return d
}

// defName makes a $defs key of a Go type's name that needs no escaping in
// a JSON pointer or a URI fragment: "Pair[int,string]" is "Pair_int_string".
func defName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	s = strings.Trim(string(b), "_")
	if s == "" {
		s = "struct"
	}
	return s
}

func (g *schemaGen) slice(t reflect.Type) (any, error) {
	if err := g.enter(t); err != nil {
		return nil, err
	}
	defer g.leave()
	if g.dir == writing && isBytes(t) {
		return obj{"type": []any{"string", "null"}, "contentEncoding": "base64"}, nil
	}
	items, err := g.slot(t.Elem(), true)
	if err != nil {
		return nil, err
	}
	if g.dir == reading && t.Elem().Kind() == reflect.Uint8 {
		// encoding/json decodes a base64 string into any slice of bytes,
		// and an array of numbers as into any other slice.
		return obj{"type": g.types("string", "array"), "contentEncoding": "base64", "items": items}, nil
	}
	return obj{"type": []any{"array", "null"}, "items": items}, nil
}

// maxPrefixItems bounds the "prefixItems" of a Go array's input schema.
const maxPrefixItems = 1024

func (g *schemaGen) array(t reflect.Type, addr bool) (any, error) {
	if err := g.enter(t); err != nil {
		return nil, err
	}
	defer g.leave()
	items, err := g.slot(t.Elem(), addr)
	if err != nil {
		return nil, err
	}
	n := t.Len()
	if g.dir == writing {
		return obj{"type": "array", "items": items, "minItems": n, "maxItems": n}, nil
	}
	// encoding/json fills the first n elements and skips the rest
	// unread, so only the first n are checked.
	s := obj{"type": g.types("array")}
	switch {
	case n == 0:
	case n <= maxPrefixItems:
		prefix := make([]any, n)
		for i := range prefix {
			prefix[i] = items
		}
		s["prefixItems"] = prefix
	default:
		s["items"] = items
		s["$comment"] = fmt.Sprintf("encoding/json ignores the elements after the first %d; this schema checks them too", n)
	}
	return s, nil
}

func (g *schemaGen) mapSchema(t reflect.Type) (any, error) {
	if err := g.enter(t); err != nil {
		return nil, err
	}
	defer g.leave()
	var names obj
	var ok bool
	if g.dir == reading {
		names, ok = readKey(t.Key())
	} else {
		names, ok = writeKey(t.Key())
	}
	if !ok {
		if g.dir == reading {
			return obj{"type": "null", "$comment": "encoding/json cannot decode map keys of type " + t.Key().String() + ": only null"}, nil
		}
		return false, nil
	}
	values, err := g.slot(t.Elem(), false)
	if err != nil {
		return nil, err
	}
	s := obj{"type": []any{"object", "null"}, "additionalProperties": values}
	if names != nil {
		s["propertyNames"] = names
	}
	return s, nil
}

// readKey is the schema of the keys encoding/json decodes into map keys of
// type k, nil for any string, and false for keys it refuses.
func readKey(k reflect.Type) (obj, bool) {
	if p := reflect.PointerTo(k); p.Implements(textUnmarshalerType) {
		// The key goes through literalStore, where UnmarshalJSON, given
		// the quoted key as written, comes before UnmarshalText.
		if p.Implements(unmarshalerType) && k == timeType {
			return obj{"format": "date-time"}, true
		}
		return nil, true
	}
	switch k.Kind() {
	case reflect.String:
		return nil, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		// strconv.ParseInt(key, 10, 64) and a check that it fits.
		return obj{"pattern": "^[+-]?[0-9]+$", "format": intFormat(k)}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return obj{"pattern": "^[0-9]+$", "format": intFormat(k)}, true
	}
	return nil, false
}

// writeKey is readKey for encoding/json's resolveKeyName.
func writeKey(k reflect.Type) (obj, bool) {
	switch {
	case k.Kind() == reflect.String:
		return nil, true
	case k.Implements(textMarshalerType):
		if k == timeType {
			return obj{"format": "date-time"}, true
		}
		return nil, true
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return obj{"pattern": "^(0|-?[1-9][0-9]*)$", "format": intFormat(k)}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return obj{"pattern": "^(0|[1-9][0-9]*)$", "format": intFormat(k)}, true
	}
	return nil, false
}

// defRef is the schema of a struct, or of a recursive named container: a
// reference to its $defs entry, which build makes the first time the
// type is met, so that a recursive type refers to itself.
func (g *schemaGen) defRef(t reflect.Type, addr bool, build func(addr bool) (any, error)) (any, error) {
	key := defKey{t: t}
	if g.dir == writing {
		key.addr = addr && g.addrSensitive(t)
	}
	d := g.defs[key]
	if d == nil {
		name := t.Name()
		if name == "" {
			name = "struct"
		}
		d = g.newDef(key, name)
		s, err := build(key.addr)
		if err != nil {
			return nil, err
		}
		if o, ok := s.(obj); ok && key.addr {
			o["$comment"] = "as encoding/json writes " + t.String() + " where it is addressable (behind a pointer, in a slice), where the methods of *" + t.String() + " apply"
		}
		d.schema = s
	}
	d.refs++
	return obj{"$ref": "#/$defs/" + d.name}, nil
}

// addrSensitive reports whether encoding/json writes a value of the
// non-pointer type t differently when it is addressable: whether t, or a
// value held in it directly, has MarshalJSON or MarshalText only on its
// pointer.
func (g *schemaGen) addrSensitive(t reflect.Type) bool {
	if v, ok := g.addr[t]; ok {
		return v
	}
	if g.addr == nil {
		g.addr = map[reflect.Type]bool{}
	}
	g.addr[t] = false // a struct cannot hold itself by value
	p := reflect.PointerTo(t)
	v := false
	switch {
	case t.Kind() == reflect.Pointer:
	case p.Implements(marshalerType):
		v = !t.Implements(marshalerType)
	case p.Implements(textMarshalerType):
		v = !t.Implements(textMarshalerType)
	case t.Kind() == reflect.Array:
		v = g.addrSensitive(t.Elem())
	case t.Kind() == reflect.Struct:
		for _, f := range jsonFields(t) {
			if !f.viaPointer && g.addrSensitive(f.typ) {
				v = true
				break
			}
		}
	}
	g.addr[t] = v
	return v
}

func (g *schemaGen) structSchema(t reflect.Type, addr bool) (any, error) {
	if err := g.enter(t); err != nil {
		return nil, err
	}
	defer g.leave()
	all := allJSONFields(t)
	s := obj{"type": g.types("object")}
	props := &members{}
	patterns := &members{}
	var required []string
	for _, f := range all {
		if f.hidden {
			continue
		}
		fs, req, err := g.field(t, f, addr)
		if err != nil {
			return nil, err
		}
		props.add(f.name, fs)
		if req {
			required = append(required, f.name)
		}
		if g.dir == reading {
			if p := foldPattern(f, all); p != "" {
				patterns.add(p, fs)
			}
		}
	}
	if len(props.names) > 0 {
		s["properties"] = props
	}
	if len(patterns.names) > 0 {
		s["patternProperties"] = patterns
	}
	// encoding/json ignores members that match no field.
	s["additionalProperties"] = true
	if required != nil {
		s["required"] = required
	}
	return s, nil
}

// field is the schema of one struct field, and whether it is required.
func (g *schemaGen) field(parent reflect.Type, f jsonField, addr bool) (any, bool, error) {
	r, err := parseRefinement(parent, f)
	if err != nil {
		return nil, false, err
	}
	required := r.required
	if g.dir == writing {
		// encoding/json writes a field unless omitempty or omitzero lets
		// it leave it out, or a nil embedded pointer hides it.
		required = !f.omit && !f.viaPointer && !r.optional || r.required
	}
	if g.dir == reading && f.viaUnexported {
		// "json: cannot set embedded pointer to unexported struct"
		return false, false, nil
	}
	var s any
	if f.quoted {
		s = g.quoted(f.typ, addr || f.viaPointer)
	} else if s, err = g.slot(f.typ, addr || f.viaPointer); err != nil {
		return nil, false, err
	}
	s, err = r.apply(s, parent, f)
	return s, required, err
}

// quoted is the schema of a field with the ",string" option: a string
// holding the JSON of the value, as encoding/json reads it (literalStore
// with fromQuoted) or writes it.
func (g *schemaGen) quoted(t reflect.Type, addr bool) any {
	elem := t
	nullable := false
	if elem.Kind() == reflect.Pointer {
		elem, nullable = elem.Elem(), true
	}
	if g.dir == writing {
		if t.Kind() == reflect.Pointer {
			if s, ok := g.writeCustom(t, elem); ok {
				return g.orNull(s)
			}
			addr = true
		}
		if s, ok := g.writeCustomValue(elem, addr); ok {
			if nullable {
				return g.orNull(s)
			}
			return s
		}
		var s obj
		switch elem.Kind() {
		case reflect.Bool:
			s = obj{"enum": []any{"true", "false"}}
		case reflect.String:
			if elem == numberType {
				s = obj{"type": "string", "pattern": `^"?` + numberPattern[1:len(numberPattern)-1] + `"?$`}
			} else {
				s = jsonStringInString()
			}
		case reflect.Float32, reflect.Float64:
			s = obj{"type": "string", "format": floatFormat(elem)}
		default:
			p := "^(0|-?[1-9][0-9]*)$"
			if !isSigned(elem) {
				p = "^(0|[1-9][0-9]*)$"
			}
			s = obj{"type": "string", "pattern": p, "format": intFormat(elem)}
		}
		s["description"] = article(elem.String()) + " written as JSON inside a string"
		if nullable {
			return g.orNull(s)
		}
		return s
	}

	// Reading: null, or a string whose content literalStore reads as the
	// value; the content "null" leaves it as it is.
	outer := obj{"type": []any{"string", "null"}, "description": article(elem.String()) + " written as JSON inside a string"}
	kind := ""
	probe := t
	if probe.Kind() != reflect.Pointer && probe.Name() != "" {
		probe = reflect.PointerTo(probe)
	}
	if probe.Kind() == reflect.Pointer {
		switch {
		case probe.Implements(unmarshalerType):
			kind = "json"
		case probe.Implements(textUnmarshalerType):
			kind = "text"
		}
	}
	null := obj{"const": "null"}
	switch {
	case kind == "json":
		outer["minLength"] = 1
		outer["$comment"] = elem.String() + " reads the string's content itself (UnmarshalJSON)"
	case kind == "text" || elem.Kind() == reflect.String && elem != numberType:
		// Without a "type" of its own: null passes the outer type and
		// this alternative alike.
		inner := jsonStringInString()
		delete(inner, "type")
		outer["anyOf"] = []any{null, inner}
	case elem == numberType:
		outer["anyOf"] = []any{null, obj{"pattern": "^[-0-9]"}, obj{"pattern": `^"` + numberPattern[1:len(numberPattern)-1] + `"$`}}
	case elem.Kind() == reflect.Bool:
		outer["enum"] = []any{"true", "false", "null", nil}
	case elem.Kind() == reflect.Float32 || elem.Kind() == reflect.Float64:
		outer["anyOf"] = []any{null, obj{"pattern": "^[-0-9]", "format": floatFormat(elem)}}
	case isSigned(elem):
		outer["anyOf"] = []any{null, obj{"pattern": "^-?[0-9]+$", "format": intFormat(elem)}}
	default:
		outer["anyOf"] = []any{null, obj{"pattern": "^[0-9]+$", "format": intFormat(elem)}}
	}
	return outer
}

// jsonStringInString is a string whose content is a JSON string literal.
func jsonStringInString() obj {
	return obj{
		"type":             "string",
		"pattern":          `^".*"$`,
		"contentMediaType": "application/json",
		"contentSchema":    obj{"type": "string"},
	}
}

// foldPattern is the pattern of the keys other than f's exact name that
// encoding/json decodes into f: those equal to it under case folding
// (bytes.EqualFold: "NAME", "nAmE", and "K" for the Kelvin sign), when f
// is the first field so equal to them, except the exact names of the
// fields so equal, which go to their own fields. It is "" when no such key
// exists.
func foldPattern(f jsonField, all []jsonField) string {
	key := foldKey(f.name)
	var class []string
	for _, o := range all {
		if foldKey(o.name) == key {
			if len(class) == 0 && o.name != f.name {
				return "" // an earlier field takes the folded keys
			}
			class = append(class, o.name)
		}
	}
	runes := []rune(f.name)
	if len(class) == 1 {
		return otherCases(runes)
	}
	exclude := make([][]rune, len(class))
	for i, n := range class {
		exclude[i] = []rune(n)
	}
	var b strings.Builder
	if !writeFolded(&b, runes, exclude) {
		return ""
	}
	return "^" + b.String() + "$"
}

// otherCases is the pattern of the strings that match runes under simple
// case folding, less runes itself: one alternative for each position that
// can differ, the runes before it as written, so that it reads as "Name",
// "nAme", "naMe", "namE" for "name", each letter standing for its cases.
func otherCases(runes []rune) string {
	var alts []string
	for i, r := range runes {
		o := orbit(r)
		if len(o) == 1 {
			continue
		}
		var b strings.Builder
		for _, p := range runes[:i] {
			writeClass(&b, []rune{p})
		}
		writeClass(&b, slices.DeleteFunc(o, func(c rune) bool { return c == r }))
		for _, q := range runes[i+1:] {
			writeClass(&b, orbit(q))
		}
		alts = append(alts, b.String())
	}
	switch len(alts) {
	case 0:
		return ""
	case 1:
		return "^" + alts[0] + "$"
	}
	return "^(?:" + strings.Join(alts, "|") + ")$"
}

// writeFolded writes a regular expression for the strings that match runes
// rune by rune under simple case folding, less those in exclude (each as
// long as runes and so matching), and reports whether there are any. It
// uses only literal characters, classes and non-capturing groups, which
// every regular expression dialect reads alike.
func writeFolded(b *strings.Builder, runes []rune, exclude [][]rune) bool {
	if len(exclude) == 0 {
		for _, r := range runes {
			writeClass(b, orbit(r))
		}
		return true
	}
	if len(runes) == 0 {
		return false // the one remaining string is excluded
	}
	o := orbit(runes[0])
	var free []rune
	var alts []string
	for _, c := range o {
		var rest [][]rune
		for _, e := range exclude {
			if e[0] == c {
				rest = append(rest, e[1:])
			}
		}
		if rest == nil {
			free = append(free, c)
			continue
		}
		var sub strings.Builder
		writeClass(&sub, []rune{c})
		if writeFolded(&sub, runes[1:], rest) {
			alts = append(alts, sub.String())
		}
	}
	if free != nil {
		var sub strings.Builder
		writeClass(&sub, free)
		writeFolded(&sub, runes[1:], nil)
		alts = append(alts, sub.String())
	}
	switch len(alts) {
	case 0:
		return false
	case 1:
		b.WriteString(alts[0])
	default:
		b.WriteString("(?:" + strings.Join(alts, "|") + ")")
	}
	return true
}

// orbit lists the runes simple case folding makes equal to r, r included,
// in increasing order.
func orbit(r rune) []rune {
	o := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		o = append(o, f)
	}
	slices.Sort(o)
	return o
}

func writeClass(b *strings.Builder, rs []rune) {
	if len(rs) == 1 {
		b.WriteString(regexp.QuoteMeta(string(rs[0])))
		return
	}
	// Only letters and other cased runes have orbits, and no ASCII one is
	// special inside a class.
	b.WriteByte('[')
	for _, r := range rs {
		b.WriteRune(r)
	}
	b.WriteByte(']')
}

// article puts "a" or "an" before a type's name.
func article(name string) string {
	if name != "" && strings.ContainsRune("aeiouAEIOU", rune(name[0])) || strings.HasPrefix(name, "uint") {
		return "an " + name
	}
	return "a " + name
}
