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
// A [Function] pairs the descriptions of a method's input and output, as
// Entities, a summary, and as JSON Schemas, which are exact (see "JSON
// Schema" below).
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
// change their types: naming a field the type lacks is an error.
// [Entity.JSONSchema] exports an Entity as JSON Schema, for descriptions
// that have no schema of their own. [Entity.Validate] checks a payload
// against an Entity and says which field is wrong.
//
// # JSON Schema
//
// [InputSchema] and [OutputSchema] describe a Go type exactly, as JSON
// Schema draft 2020-12: the input schema accepts a payload exactly when
// json.Unmarshal into the type succeeds, and every value json.Marshal
// writes of the type validates against the output schema. For the Product
// of the guide's example, a payload of {"created_at": "yesterday"}
// fails, as decoding it does. What the schemas say:
//
//   - null: the input schema allows null everywhere, as encoding/json
//     does (null into an int leaves it alone); the output schema allows
//     it for pointers, slices, maps, interfaces and []byte.
//   - required: in the output, the fields written even when zero, that
//     is, without omitempty or omitzero and not behind an embedded
//     pointer; in the input, none, since encoding/json requires nothing.
//   - names: input members match fields by name or else case-insensitively
//     (as bytes.EqualFold has it, the Kelvin sign for k included): each
//     field is in "properties" under its name, and its other spellings in
//     "patternProperties". Unknown members are allowed
//     ("additionalProperties": true), as encoding/json ignores them.
//   - time.Time is a string of "format": "date-time"; []byte a string of
//     "contentEncoding": "base64" (on input, an array of bytes too);
//     time.Duration an integer, described as nanoseconds; json.Number a
//     number (on input, a string holding one too).
//   - integers are "type": "integer" with the exact bounds of their Go
//     type, and a "format" ("int8" to "int64", "uint8" to "uint64") that
//     refuses what strconv refuses, such as 1.0 and 1e2; floats are
//     "type": "number" of "format" "float" or "double", which refuses
//     what does not fit, such as 1e400. An empty interface takes any JSON
//     whose numbers fit a float64; an interface with methods only null.
//   - a field with the ",string" option is a string holding the JSON of
//     its value.
//   - a type with MarshalJSON or UnmarshalJSON is {} with a "$comment"
//     (time.Time aside); one with MarshalText or UnmarshalText a string.
//     The schema never guesses what such a method writes or accepts.
//   - structs are in "$defs", referred to by "$ref", so recursive types
//     are described in full; so are named slices and maps that hold
//     themselves. A struct used once at the top is written in place.
//   - map keys of integer types are "propertyNames" with a pattern and a
//     format.
//
// What reflection cannot see, an author adds with struct tags and
// methods, which both schemas carry:
//
//   - `jsonschema:"The product's name."` is the field's "description" (the
//     tag MCP's Go SDK reads for the same).
//   - a method Enum() []T on a named type T lists its values: "enum".
//   - `plugsock:"required"` makes a field required, on input too (under
//     its exact name); `plugsock:"optional"` makes it not required.
//   - `plugsock:"minimum=0,maximum=10"` bounds a number, as do
//     exclusiveMinimum= and exclusiveMaximum=; minLength=, maxLength= and
//     pattern= constrain a string (pattern takes the rest of the tag,
//     commas included); enum=a|b|c allows only those values, not=a|b
//     refuses those.
//
// An option plugsock does not know, or one that does not fit the field
// (a minimum on a string), is an error of InputSchema and OutputSchema,
// wrapping [ErrRefinement], which names the field and the option; a
// plugin's Start returns it. plugsock:"-" leaves a field out of every
// description; it still decodes. Go doc comments are not available at
// run time, so descriptions come from tags only.
//
// [CompileSchema] compiles a schema (from this package or from a plugin
// in another language) with a complete draft 2020-12 validator, and
// [Schema.Validate] checks a payload against it. Formats are asserted by
// Go's own parsers, so that they agree with decoding: "date-time" as
// time.Time reads it, the integer formats and "float"/"double" as strconv
// reads the number's text, base64 as encoding/json decodes it. The error
// names the JSON pointer of the failing member and what was expected, as
// in `/created_at: want an RFC 3339 date-time, got "yesterday"`.
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
//
// So may a schema. CompileSchema follows no reference outside the
// document (no file, no network), refuses one nesting deeper than
// [MaxSchemaDepth], and Schema.Validate's work is bounded by a budget in
// proportion to the payload's size, so that a reference loop or
// alternatives that multiply end with an error instead of a hang.
package typedesc
