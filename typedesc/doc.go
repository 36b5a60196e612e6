// Package typedesc describes what a Go type looks like as JSON, so that
// callers who cannot see the Go source — other languages, a web UI, an
// operator at a terminal — know what to send to a plugin method and what
// they will get back.
//
// A description is an [Entity] tree. For
//
//	type Item struct {
//		Name  string  `json:"name"`
//		Price float64 `json:"price"`
//		Note  string  `json:"note,omitempty"`
//	}
//	type Order struct {
//		ID    int64  `json:"id"`
//		Items []Item `json:"items"`
//	}
//
// TypeDescription(Order{}) returns, written as JSON,
//
//	{"name": "Order", "type": "struct", "fields": [
//		{"name": "id", "type": "int64", "mandatory": true},
//		{"name": "items", "type": "[]struct", "mandatory": true, "fields": [
//			{"name": "name", "type": "string", "mandatory": true},
//			{"name": "price", "type": "float64", "mandatory": true},
//			{"name": "note", "type": "string"}]}]}
//
// A [Function] pairs the descriptions of a method's input and output.
//
// # What JSON a type has
//
// Descriptions take encoding/json's view of a type, not reflection's:
// whatever json.Marshal writes and json.Unmarshal reads is what is
// described.
//
//   - A field's name is its json tag name, else its Go name. Fields tagged
//     json:"-" or plugsock:"-", and unexported fields, are left out.
//     (json:"-," names a field "-".)
//   - A field is Mandatory unless its json tag says omitempty or omitzero.
//   - Embedded structs are flattened exactly as encoding/json flattens
//     them: promoted fields appear in place, an embedded struct with a tag
//     name is an ordinary nested field, and when names collide the
//     shallowest field wins, then a tagged one, and a remaining tie drops
//     the name altogether.
//   - Pointers are looked through. Slices and arrays are "[]" followed by
//     the element's Type; maps with string, integer or text-marshaling keys
//     are "map[K]" followed by the element's Type. Either kind of container
//     carries its innermost element's Fields.
//   - Scalars are named by their kind ("string", "bool", "int8", "uint64",
//     "float32", ...), so a type Celsius float64 is "float64"; interfaces
//     are "any"; structs are "struct". A field with the ",string" option is
//     a "string".
//   - Types that encode themselves are described by what they write:
//     time.Time and other encoding.TextMarshaler types are "string", []byte
//     is a base64 "string", and json.RawMessage and other json.Marshaler
//     types are "any".
//   - Channels, funcs, complex numbers, unsafe pointers and maps with other
//     keys have no JSON form: fields of such types are left out, and such a
//     type on its own has no description (nil).
//   - At the top level Name is the Go type's name; a struct with no JSON
//     fields has no description. Nested, such a struct is still a field of
//     Type "struct", just without Fields.
//   - A recursive type stops where it would repeat: a struct met again
//     inside itself is given its Type but no Fields.
//
// Descriptions are computed once per type and cached. Every call returns a
// fresh copy, which the caller may change without affecting anyone else,
// and all functions are safe for concurrent use.
//
// # Using a description
//
// [Refine] lets a plugin's author adjust what reflection found, for
// example to mark a field optional, without being able to invent fields or
// change their types. [Entity.JSONSchema] exports a description as JSON
// Schema for tools that speak it. [Entity.Validate] checks a payload
// against a description before it is sent, and says which field is wrong.
//
// # Reading a Type
//
// An Entity's Type is written in the small grammar of docs/protocol.md
// section 6: a kind name, "any", "struct", or "[]" or "map[K]" followed by
// the element's Type. [ParseType] is its one reader, here and for anyone
// else who looks at a Type: it reads the outermost level into a [Shape],
// and a caller walks the rest one level at a time, in a loop, so a Type of
// any length costs no stack. A Type outside the grammar, such as a name
// another language uses, is [Unknown]: Validate accepts any JSON for it
// and JSONSchema allows anything.
//
// # Descriptions from elsewhere
//
// A description received over the wire may be hostile. [Entity.Check]
// refuses one that nests deeper than [MaxDepth] levels, as the host does
// at the handshake; and every walk in this package (JSONSchema, Validate,
// Check itself) stops at MaxDepth and does work linear in the description
// and the payload, so even an unchecked description, or one that contains
// itself, costs bounded stack and time.
package typedesc
