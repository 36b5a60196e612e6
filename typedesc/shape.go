package typedesc

import (
	"encoding/json"
	"strconv"
	"strings"
)

// The grammar of an Entity's Type has this one reader. Everything that
// looks at a Type (Validate, JSONSchema, Check here; the conformance
// battery and the command-line tool elsewhere) reads it through ParseType,
// so they cannot disagree about what a Type means. It works on the string
// rather than on reflect, because descriptions also arrive over the wire
// from plugins written in other languages.

// A Kind is what the outermost level of a Type is.
type Kind uint8

const (
	// Unknown is a Type outside the grammar: "", "complex128", "uuid",
	// "*int", or "map[" without a "]". Validate accepts any JSON for it
	// and JSONSchema gives it the empty schema, because a plugin in
	// another language may name types of its own.
	Unknown Kind = iota
	Any          // "any": any JSON value
	Bool         // "bool"
	String       // "string"
	Int          // "int", "int8", "int16", "int32", "int64"
	Uint         // "uint", "uint8", "uint16", "uint32", "uint64", "uintptr"
	Float        // "float32", "float64"
	Struct       // "struct": an object with the Entity's Fields
	Slice        // "[]" T: an array of T
	Map          // "map[" K "]" T: an object whose values are T
)

// A Shape is the outermost level of a Type, as ParseType reads it.
type Shape struct {
	Kind Kind
	// Bits is the size of an Int, Uint or Float: 8 to 64, and
	// strconv.IntSize for "int", "uint" and "uintptr".
	Bits int
	// Key is a Map's key Type as written, which the grammar allows to be
	// "string" or an integer kind.
	Key string
	// Elem is the Type of a Slice's or Map's elements: what follows "[]"
	// or "map[K]", so always a suffix of the Type read.
	Elem string
}

// ParseType reads the outermost level of the Type typ, in the grammar of
// docs/protocol.md section 6:
//
//	type   = scalar | "any" | "struct" | "[]" type | "map[" key "]" type
//	scalar = "bool" | "string" | "int" | "int8" | "int16" | "int32" | "int64"
//	       | "uint" | "uint8" | "uint16" | "uint32" | "uint64" | "uintptr"
//	       | "float32" | "float64"
//	key    = "string" | "int" | "int8" | ... | "uintptr"
//
// It reads one level and leaves Elem unread, so a caller walks a Type
// level by level in a loop: a Type of two million "[]" costs no stack, and
// a walk can stop at MaxDepth, where each Slice, Map and Struct counts one.
// Its work is constant, except that a map's key is scanned up to the first
// "]"; it allocates nothing.
//
// ParseType never fails. A Type outside the grammar is Unknown, which
// callers treat as accepting anything. It does not judge a map's key, so
// "map[bool]int" is a Map whose Key is "bool": Validate and JSONSchema
// still read its values, and a caller that wants the strict grammar checks
// that ParseType(s.Key).Kind is String, Int or Uint.
func ParseType(typ string) Shape {
	if elem, ok := strings.CutPrefix(typ, "[]"); ok {
		return Shape{Kind: Slice, Elem: elem}
	}
	if rest, ok := strings.CutPrefix(typ, "map["); ok {
		if key, elem, ok := strings.Cut(rest, "]"); ok {
			return Shape{Kind: Map, Key: key, Elem: elem}
		}
		return Shape{}
	}
	// A switch rather than a map: Validate reads a Type for every value of
	// a payload, and this is several times faster.
	switch typ {
	case "any":
		return Shape{Kind: Any}
	case "bool":
		return Shape{Kind: Bool}
	case "string":
		return Shape{Kind: String}
	case "struct":
		return Shape{Kind: Struct}
	case "int":
		return Shape{Kind: Int, Bits: strconv.IntSize}
	case "int8":
		return Shape{Kind: Int, Bits: 8}
	case "int16":
		return Shape{Kind: Int, Bits: 16}
	case "int32":
		return Shape{Kind: Int, Bits: 32}
	case "int64":
		return Shape{Kind: Int, Bits: 64}
	case "uint", "uintptr":
		return Shape{Kind: Uint, Bits: strconv.IntSize}
	case "uint8":
		return Shape{Kind: Uint, Bits: 8}
	case "uint16":
		return Shape{Kind: Uint, Bits: 16}
	case "uint32":
		return Shape{Kind: Uint, Bits: 32}
	case "uint64":
		return Shape{Kind: Uint, Bits: 64}
	case "float32":
		return Shape{Kind: Float, Bits: 32}
	case "float64":
		return Shape{Kind: Float, Bits: 64}
	}
	return Shape{}
}

// known reports whether s is a kind Validate checks values against; "any"
// and Unknown Types accept anything.
func (s Shape) known() bool { return s.Kind != Unknown && s.Kind != Any }

// opens reports whether a value of s is an array or an object: a level of
// nesting, as MaxDepth counts them.
func (s Shape) opens() bool { return s.Kind == Slice || s.Kind == Map || s.Kind == Struct }

// container reports whether s is a Slice or a Map, whose Elem is read next.
func (s Shape) container() bool { return s.Kind == Slice || s.Kind == Map }

// number reports whether s is a numeric kind.
func (s Shape) number() bool { return s.Kind == Int || s.Kind == Uint || s.Kind == Float }

// fits reports whether encoding/json can store the number literal lit in a
// number of s's kind and size. It parses the literal as written, as
// encoding/json does, so 1.0 and 1e3 are not integers.
func (s Shape) fits(lit string) bool {
	var err error
	switch s.Kind {
	case Int:
		_, err = strconv.ParseInt(lit, 10, s.Bits)
	case Uint:
		_, err = strconv.ParseUint(lit, 10, s.Bits)
	case Float:
		_, err = strconv.ParseFloat(lit, s.Bits)
	default:
		return false
	}
	return err == nil
}

// IsObject reports whether e describes JSON objects: a struct or a map.
// Protocol 2 sends an input that is an object as the request's params, by
// name, and any other input inside {"value": ...}; both sides decide which
// by this one rule, from the same description.
func (e *Entity) IsObject() bool {
	if e == nil {
		return false
	}
	k := ParseType(e.Type).Kind
	return k == Struct || k == Map
}

// ObjectInput reports whether f's input is a JSON object, which protocol
// 2 sends by name: by its Input Entity when it has one (IsObject), and
// otherwise by its InputSchema, whose "type" must then be "object", alone
// or with "null". Both sides of a call decide by it, from the same
// description.
func (f *Function) ObjectInput() bool {
	if f.Input != nil {
		return f.Input.IsObject()
	}
	if len(f.InputSchema) == 0 {
		return false
	}
	var s struct {
		Type json.RawMessage `json:"type"`
	}
	if json.Unmarshal(f.InputSchema, &s) != nil {
		return false
	}
	var one string
	if json.Unmarshal(s.Type, &one) == nil {
		return one == "object"
	}
	var many []string
	if json.Unmarshal(s.Type, &many) != nil {
		return false
	}
	object := false
	for _, t := range many {
		switch t {
		case "object":
			object = true
		case "null":
		default:
			return false
		}
	}
	return object
}
