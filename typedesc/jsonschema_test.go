package typedesc_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

// schemaOf decodes t's input or output schema for inspection.
func schemaOf(t *testing.T, f func(reflect.Type) (json.RawMessage, error), typ reflect.Type) map[string]any {
	t.Helper()
	raw, err := f(typ)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	return m
}

func compiled(t *testing.T, f func(reflect.Type) (json.RawMessage, error), typ reflect.Type) *typedesc.Schema {
	t.Helper()
	raw, err := f(typ)
	require.NoError(t, err)
	s, err := typedesc.CompileSchema(raw)
	require.NoError(t, err, "%s", raw)
	return s
}

// at walks a decoded schema by keys.
func at(t *testing.T, m any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		o, ok := m.(map[string]any)
		require.True(t, ok, "at %q: %v is not an object", k, m)
		m, ok = o[k]
		require.True(t, ok, "no %q in %v", k, o)
	}
	return m
}

type product struct {
	Name      string        `json:"name" jsonschema:"What the product is called."`
	Price     int32         `json:"price" plugsock:"minimum=0"`
	CreatedAt time.Time     `json:"created_at"`
	Thumbnail []byte        `json:"thumbnail,omitempty"`
	Expires   time.Duration `json:"expires" jsonschema:"How long it keeps."`
	Status    FzColor       `json:"status"`
	Supplier  *supplier     `json:"supplier"`
	Tags      map[int16]string
}

type supplier struct {
	Name   string      `json:"name"`
	Parent *supplier   `json:"parent,omitempty"`
	Others []*supplier `json:"others"`
}

func TestSchemaDialect(t *testing.T) {
	for _, f := range []func(reflect.Type) (json.RawMessage, error){typedesc.InputSchema, typedesc.OutputSchema} {
		s := schemaOf(t, f, reflect.TypeFor[product]())
		assert.Equal(t, typedesc.SchemaDialect, s["$schema"])
		assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", s["$schema"])
	}
	raw, err := typedesc.InputSchema(nil)
	assert.NoError(t, err)
	assert.Nil(t, raw)
}

func TestInputSchemaFollowsDecoding(t *testing.T) {
	s := schemaOf(t, typedesc.InputSchema, reflect.TypeFor[product]())
	assert.Equal(t, []any{"object", "null"}, s["type"])
	assert.NotContains(t, s, "required", "encoding/json requires nothing")
	assert.Equal(t, true, s["additionalProperties"], "unknown members are ignored")

	name := at(t, s, "properties", "name")
	assert.Equal(t, "What the product is called.", at(t, name, "description"))
	assert.Equal(t, []any{"string", "null"}, at(t, name, "type"))

	price := at(t, s, "properties", "price")
	assert.Equal(t, "int32", at(t, price, "format"))
	assert.Equal(t, 0.0, at(t, price, "minimum"), "refined")
	assert.Equal(t, 2147483647.0, at(t, price, "maximum"))

	assert.Equal(t, "date-time", at(t, s, "properties", "created_at", "format"))
	assert.Equal(t, "base64", at(t, s, "properties", "thumbnail", "contentEncoding"))
	assert.Equal(t, []any{"string", "array", "null"}, at(t, s, "properties", "thumbnail", "type"), "an array of bytes decodes too")
	assert.Equal(t, "How long it keeps. (a time.Duration: an integer count of nanoseconds)", at(t, s, "properties", "expires", "description"))
	assert.Equal(t, []any{"red", "green", nil}, at(t, s, "properties", "status", "enum"))
	assert.Equal(t, "#/$defs/supplier", at(t, s, "properties", "supplier", "$ref"))
	assert.Equal(t, "#/$defs/supplier", at(t, s, "$defs", "supplier", "properties", "parent", "$ref"), "recursion through $defs")
	assert.Equal(t, "int16", at(t, s, "properties", "Tags", "propertyNames", "format"))
	assert.Equal(t, "^[+-]?[0-9]+$", at(t, s, "properties", "Tags", "propertyNames", "pattern"))

	// Other cases of a name go to the field too, but only in
	// patternProperties, so that no key is checked twice.
	pp := at(t, s, "patternProperties").(map[string]any)
	var pattern string
	for p, v := range pp {
		if v.(map[string]any)["format"] == "date-time" {
			pattern = p
		}
	}
	require.NotEmpty(t, pattern)
	assert.Contains(t, pattern, "C[Rr][Ee][Aa][Tt][Ee][Dd]_[Aa][Tt]")
}

func TestOutputSchemaFollowsEncoding(t *testing.T) {
	s := schemaOf(t, typedesc.OutputSchema, reflect.TypeFor[product]())
	assert.Equal(t, "object", s["type"])
	assert.Equal(t, []any{"name", "price", "created_at", "expires", "status", "supplier", "Tags"}, s["required"], "all but the omitempty one")
	assert.NotContains(t, s, "patternProperties", "encoding/json writes names as they are")
	assert.Equal(t, []any{"string", "null"}, at(t, s, "properties", "thumbnail", "type"), "a nil []byte is null")
	assert.Equal(t, "string", at(t, s, "properties", "created_at", "type"))
	assert.Equal(t, []any{"red", "green"}, at(t, s, "properties", "status", "enum"))
	assert.Equal(t, []any{map[string]any{"type": "null"}, map[string]any{"$ref": "#/$defs/supplier"}}, at(t, s, "properties", "supplier", "anyOf"), "a nil pointer is null")
	assert.Equal(t, []any{"name", "others"}, at(t, s, "$defs", "supplier", "required"))
	assert.Equal(t, "^(0|-?[1-9][0-9]*)$", at(t, s, "properties", "Tags", "propertyNames", "pattern"))
}

// What the issue found: validation that agrees with decoding, in both
// directions, with messages that say where and what.
func TestValidateAgreesWithDecoding(t *testing.T) {
	in := compiled(t, typedesc.InputSchema, reflect.TypeFor[product]())
	for _, c := range []struct{ payload, err string }{
		{`{"supplier":null}`, ""},
		{`{"created_at":"2024-05-06T07:08:09Z","thumbnail":"aGk="}`, ""},
		{`{"created_at":"yesterday"}`, `/created_at: want an RFC 3339 date-time, got "yesterday"`},
		{`{"thumbnail":"!!not base64!!"}`, `/thumbnail: want base64`},
		{`{"price":-1}`, `/price: want at least 0, got -1`},
		{`{"price":1e2}`, `/price: want an integer that fits an int32, written without fraction or exponent, got 1e2`},
		{`{"price":2147483648}`, `/price: want an integer that fits an int32, written without fraction or exponent, got 2147483648`},
		{`{"PRICE":"x"}`, `/PRICE: want integer or null, got "x"`},
		{`{"status":"blue"}`, `/status: want one of "red", "green", null, got "blue"`},
		{`{"supplier":{"others":[{"name":1}]}}`, `/supplier/others/0/name: want string or null, got 1`},
		{`{"Tags":{"x":"y"}}`, `/Tags: key "x": want a string holding an integer that fits an int16, got "x"`},
		{`{"price":1,"price":"x"}`, `/price: want integer or null, got "x"`},
		{`[1]`, `payload: want object or null, got an array`},
		{`{"a":`, `payload is not JSON`},
		{``, ""},
	} {
		err := in.Validate([]byte(c.payload))
		if c.err == "" {
			assert.NoError(t, err, c.payload)
			assert.NoError(t, json.Unmarshal([]byte(orNull(c.payload)), new(product)), c.payload)
			continue
		}
		require.ErrorIs(t, err, typedesc.ErrInvalid, c.payload)
		assert.Contains(t, err.Error(), c.err, c.payload)
		assert.NotContains(t, err.Error(), "\n", "one line")
		if json.Valid([]byte(c.payload)) && !strings.Contains(c.payload, "status") && !strings.Contains(c.payload, "price\":-1") {
			assert.Error(t, json.Unmarshal([]byte(c.payload), new(product)), "the plugin refuses %s too", c.payload)
		}
	}
}

func orNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

// Real results validate against the output schema, including what the
// input schema would refuse (a zero created_at is still a date-time, but
// a nil slice is null).
func TestRealResultsValidate(t *testing.T) {
	out := compiled(t, typedesc.OutputSchema, reflect.TypeFor[product]())
	for _, v := range []product{
		{},
		{Name: "x", Price: 5, CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600)), Thumbnail: []byte{0, 1, 2},
			Expires: time.Hour, Status: "green", Supplier: &supplier{Name: "s", Parent: &supplier{}, Others: []*supplier{nil, {}}},
			Tags: map[int16]string{-5: "a", 7: "b"}},
	} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		if v.Status == "" {
			// The zero FzColor is not among its values: the enum says what
			// the author allows, not what the type can hold.
			err := out.Validate(b)
			require.ErrorIs(t, err, typedesc.ErrInvalid)
			assert.Contains(t, err.Error(), `/status: want one of "red", "green", got ""`)
			continue
		}
		assert.NoError(t, out.Validate(b), "%s", b)
	}

	trick := compiled(t, typedesc.OutputSchema, reflect.TypeFor[fzTricky]())
	f := 1.5
	pf := &f
	at := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	v := fzTricky{
		fzBase: fzBase{ID: -1}, FzExtra: &FzExtra{Flag: true, Rate: 3.4e38},
		CreatedAt: at, Updated: &at, Thumb: []byte("hi"), Hash: [4]byte{1, 2, 3, 4}, Pair: [2]int16{-32768, 32767},
		Timeout: -time.Second, Big: 1<<64 - 1, Small: -128, Ptr: &pf,
		IntKeys: map[int8]string{-128: "a"}, UintKeys: map[uint16]bool{65535: true}, TimeKeys: map[time.Time]int{at: 1},
		TextKeys: map[fzText]int{"k": 1}, Tree: &fzNode{Name: "a", Kids: []*fzNode{{Name: "b"}, nil}},
		Nodes: map[string]fzNode{"n": {}}, Raw: json.RawMessage(`[1e400]`), Custom: fzCustom{raw: json.RawMessage(`"c"`)},
		Text: "t", PtrText: fzPtrText{"p"}, PtrTexts: []fzPtrText{{"q"}}, Any: map[string]any{"x": []any{1e300}},
		Stringer: time.Second, Number: "1e-7", Quoted: fzQuoted{N: -3, F: 1.5, D: 1e300, B: true, S: `a"b`, P: new(uint16), Num: "2"},
		Kelvin: 1, Long: "s", Name: "n", NAME: 2,
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.NoError(t, trick.Validate(b), "%s", b)
	b, err = json.Marshal(&v)
	require.NoError(t, err)
	assert.NoError(t, compiled(t, typedesc.OutputSchema, reflect.TypeFor[*fzTricky]()).Validate(b), "addressable, ptr_text is text: %s", b)
	assert.Contains(t, string(b), `"ptr_text":"p"`)
}

type tagged struct {
	N     int               `json:"n" plugsock:"required,minimum=1,exclusiveMaximum=10"`
	S     string            `json:"s,omitempty" plugsock:"minLength=1,maxLength=3,pattern=^[a-z]{1,3}$"`
	O     string            `json:"o" plugsock:"optional"`
	E     string            `json:"e" plugsock:"enum=x|y"`
	Not   int               `json:"not" plugsock:"not=0|13"`
	P     *float64          `json:"p" plugsock:"minimum=-1.5"`
	Skip  int               `plugsock:"-"`
	Skip2 map[string]string `json:"skip2" plugsock:"-,whatever"`
}

func TestRefinementTags(t *testing.T) {
	in := schemaOf(t, typedesc.InputSchema, reflect.TypeFor[tagged]())
	out := schemaOf(t, typedesc.OutputSchema, reflect.TypeFor[tagged]())
	assert.Equal(t, []any{"n"}, in["required"], "required, even for input")
	assert.Equal(t, []any{"n", "e", "not", "p"}, out["required"], "o optional; s omitempty")
	assert.Equal(t, 1.0, at(t, in, "properties", "n", "minimum"))
	assert.Equal(t, 10.0, at(t, in, "properties", "n", "exclusiveMaximum"))
	assert.Equal(t, "^[a-z]{1,3}$", at(t, in, "properties", "s", "pattern"), "a pattern takes the rest of the tag, commas too")
	assert.Equal(t, []any{"x", "y", nil}, at(t, in, "properties", "e", "enum"))
	assert.Equal(t, []any{"x", "y"}, at(t, out, "properties", "e", "enum"))
	assert.Equal(t, []any{0.0, 13.0}, at(t, in, "properties", "not", "not", "enum"))
	assert.Equal(t, -1.5, at(t, out, "properties", "p", "minimum"))
	assert.NotContains(t, at(t, in, "properties"), "Skip")
	assert.NotContains(t, at(t, in, "properties"), "skip2")

	s := compiled(t, typedesc.InputSchema, reflect.TypeFor[tagged]())
	assert.NoError(t, s.Validate([]byte(`{"n":5,"s":"ab","e":"y","p":null}`)))
	for payload, want := range map[string]string{
		`{}`:                   `/n: missing, and required`,
		`{"N":5}`:              `/n: missing, and required`, // a required member is sent by its name
		`{"n":10}`:             `/n: want less than 10, got 10`,
		`{"n":1,"s":"abcd"}`:   `/s: want at most 3 characters, got 4`,
		`{"n":1,"s":"A"}`:      `/s: want a string matching ^[a-z]{1,3}$, got "A"`,
		`{"n":1,"e":"z"}`:      `/e: want one of "x", "y", null, got "z"`,
		`{"n":1,"not":13}`:     `/not: want a value that does not match the schema under "not", got 13`,
		`{"n":1,"p":-2}`:       `/p: want at least -3/2, got -2`,
		`{"n":1,"P":-1.50001}`: `/P: want at least -3/2, got -1.50001`,
	} {
		err := s.Validate([]byte(payload))
		require.ErrorIs(t, err, typedesc.ErrInvalid, payload)
		assert.Contains(t, err.Error(), want, payload)
	}
}

type badOption struct {
	Count int `json:"count" plugsock:"required,minimun=0"`
}
type boundOnString struct {
	Name string `plugsock:"minimum=0"`
}
type patternOnNumber struct {
	N int `plugsock:"pattern=^1$"`
}
type badNumber struct {
	N int `plugsock:"maximum=ten"`
}
type badPattern struct {
	S string `plugsock:"pattern=("`
}
type bothWays struct {
	S string `plugsock:"required,optional"`
}
type dashLater struct {
	S string `plugsock:"required,-"`
}
type badEnum struct {
	B bool `plugsock:"enum=yes"`
}
type quotedBound struct {
	N int `json:",string" plugsock:"minimum=0"`
}
type nestedBad struct {
	Inner []struct {
		X string `plugsock:"maxLength=-1"`
	}
}

// An option the schemas cannot apply is an error naming the field and the
// option, not silently ignored.
func TestRefinementTagErrors(t *testing.T) {
	for _, c := range []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[badOption](), []string{"field Count of typedesc_test.badOption", `unknown option "minimun"`, "the options are required, optional, minimum="}},
		{reflect.TypeFor[boundOnString](), []string{"field Name", "option minimum needs a field whose JSON is a number"}},
		{reflect.TypeFor[patternOnNumber](), []string{"field N", "option pattern needs a field whose JSON is a string"}},
		{reflect.TypeFor[badNumber](), []string{"option maximum=ten: want a number"}},
		{reflect.TypeFor[badPattern](), []string{"option pattern: error parsing regexp"}},
		{reflect.TypeFor[bothWays](), []string{"both required and optional"}},
		{reflect.TypeFor[dashLater](), []string{`"-" leaves a field out only as the first option`}},
		{reflect.TypeFor[badEnum](), []string{`option enum: "yes" is not true or false`}},
		{reflect.TypeFor[quotedBound](), []string{"option minimum needs a field whose JSON is a number"}},
		{reflect.TypeFor[nestedBad](), []string{"field X", "option maxLength=-1: want a count of characters"}},
	} {
		for _, f := range []func(reflect.Type) (json.RawMessage, error){typedesc.InputSchema, typedesc.OutputSchema} {
			raw, err := f(c.typ)
			require.ErrorIs(t, err, typedesc.ErrRefinement, c.typ)
			assert.Nil(t, raw)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w, c.typ)
			}
		}
	}
}

type protoEnum int32

// Enum as protobuf generates it: not an Enum() []T, so not an enum.
func (x protoEnum) Enum() *protoEnum { return &x }

type panicEnum string

func (panicEnum) Enum() []panicEnum { panic("no values today") }

type emptyEnum string

func (emptyEnum) Enum() []emptyEnum { return nil }

func TestEnumMethod(t *testing.T) {
	s := schemaOf(t, typedesc.InputSchema, reflect.TypeFor[FzLevel]())
	assert.Equal(t, []any{1.0, 2.0, 3.0, nil}, s["enum"])
	s = schemaOf(t, typedesc.OutputSchema, reflect.TypeFor[map[string]FzLevel]())
	assert.Equal(t, []any{1.0, 2.0, 3.0}, at(t, s, "additionalProperties", "enum"))
	// A slice of a byte kind is base64, as encoding/json writes it.
	s = schemaOf(t, typedesc.OutputSchema, reflect.TypeFor[[]FzLevel]())
	assert.Equal(t, "base64", s["contentEncoding"])

	s = schemaOf(t, typedesc.InputSchema, reflect.TypeFor[protoEnum]())
	assert.NotContains(t, s, "enum")

	_, err := typedesc.OutputSchema(reflect.TypeFor[panicEnum]())
	require.ErrorIs(t, err, typedesc.ErrRefinement)
	assert.Contains(t, err.Error(), "panicEnum.Enum panicked: no values today")
	_, err = typedesc.OutputSchema(reflect.TypeFor[emptyEnum]())
	require.ErrorIs(t, err, typedesc.ErrRefinement)
	assert.Contains(t, err.Error(), "returned no values")
}

type ptrLoop *ptrLoop

type deep struct {
	Next *deep
	L    list
}

type list []list

type tree map[string]tree

func TestRecursiveAndDeepTypesEnd(t *testing.T) {
	// A pointer to pointers only: encoding/json never finishes decoding
	// into it; the walk does finish.
	s := schemaOf(t, typedesc.InputSchema, reflect.TypeFor[ptrLoop]())
	assert.Equal(t, "null", s["type"])
	assert.Nil(t, typedesc.ForType(reflect.TypeFor[ptrLoop]()), "no JSON form, and no endless loop")

	for _, typ := range []reflect.Type{reflect.TypeFor[deep](), reflect.TypeFor[list](), reflect.TypeFor[tree]()} {
		for _, f := range []func(reflect.Type) (json.RawMessage, error){typedesc.InputSchema, typedesc.OutputSchema} {
			raw, err := f(typ)
			require.NoError(t, err, typ)
			_, err = typedesc.CompileSchema(raw)
			require.NoError(t, err, "%s", raw)
		}
	}
	s = schemaOf(t, typedesc.OutputSchema, reflect.TypeFor[deep]())
	assert.Equal(t, "#/$defs/deep", s["$ref"], "a recursive root stays in $defs")
	assert.Equal(t, "#/$defs/deep", at(t, s, "$defs", "deep", "properties", "Next", "anyOf").([]any)[1].(map[string]any)["$ref"])
	assert.Equal(t, "#/$defs/list", at(t, s, "$defs", "deep", "properties", "L", "$ref"))
	assert.Equal(t, "#/$defs/list", at(t, s, "$defs", "list", "items", "$ref"), "a named slice of itself")

	// Nesting no real type reaches is refused rather than walked.
	typ := reflect.TypeFor[int]()
	for range typedesc.MaxDepth + 1 {
		typ = reflect.SliceOf(typ)
	}
	_, err := typedesc.InputSchema(typ)
	require.ErrorIs(t, err, typedesc.ErrTooDeep)
	_, err = typedesc.InputSchema(reflect.SliceOf(reflect.TypeFor[int]()))
	require.NoError(t, err)

	v := compiled(t, typedesc.InputSchema, reflect.TypeFor[list]())
	payload := strings.Repeat("[", 9000) + strings.Repeat("]", 9000)
	assert.NoError(t, v.Validate([]byte(payload)))
	assert.NoError(t, json.Unmarshal([]byte(payload), new(list)))
	payload = strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	assert.ErrorIs(t, v.Validate([]byte(payload)), typedesc.ErrInvalid, "deeper than encoding/json reads")
	assert.Error(t, json.Unmarshal([]byte(payload), new(list)))
}

// A schema may refer only within itself: no file, no network.
func TestCompileSchemaRefusesOutsideReferences(t *testing.T) {
	for _, doc := range []string{
		`{"$ref":"https://example.com/schema.json"}`,
		`{"$ref":"file:///etc/passwd"}`,
		`{"$ref":"other.json"}`,
		`{"$id":"https://example.com/a","$ref":"b"}`,
		`{"properties":{"a":{"$ref":"/etc/hostname#"}}}`,
		`{"$ref":"https://json-schema.org/draft/2020-12/schema"}`,
		`{"$dynamicRef":"#meta"}`,
		`{"$schema":"https://example.com/my-meta"}`,
	} {
		_, err := typedesc.CompileSchema(json.RawMessage(doc))
		require.ErrorIs(t, err, typedesc.ErrInvalidSchema, doc)
		assert.NotContains(t, err.Error(), "\n", doc)
	}
	for _, doc := range []string{`true`, `false`, `{}`, `{"$defs":{"a":{"type":"string"}},"$ref":"#/$defs/a"}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{"type":"string"}},"$ref":"#/definitions/a"}`} {
		_, err := typedesc.CompileSchema(json.RawMessage(doc))
		assert.NoError(t, err, doc)
	}
	_, err := typedesc.CompileSchema(json.RawMessage(`{"type":`))
	assert.ErrorIs(t, err, typedesc.ErrInvalidSchema)
	_, err = typedesc.CompileSchema(json.RawMessage(`{"type":12}`))
	assert.ErrorIs(t, err, typedesc.ErrInvalidSchema)
}

// What a hostile schema can cost is bounded: deep nesting, reference
// loops and exponential alternatives end, quickly.
func TestHostileSchemas(t *testing.T) {
	deep := strings.Repeat(`{"items":`, 100000) + `{}` + strings.Repeat(`}`, 100000)
	start := time.Now()
	_, err := typedesc.CompileSchema(json.RawMessage(deep))
	require.ErrorIs(t, err, typedesc.ErrInvalidSchema)
	assert.Contains(t, err.Error(), "nests deeper than 512 levels")

	ok := strings.Repeat(`{"items":`, 255) + `{"type":"string"}` + strings.Repeat(`}`, 255)
	s, err := typedesc.CompileSchema(json.RawMessage(ok))
	require.NoError(t, err)
	assert.NoError(t, s.Validate([]byte(strings.Repeat("[", 255)+`"x"`+strings.Repeat("]", 255))))
	err = s.Validate([]byte(strings.Repeat("[", 255) + `1` + strings.Repeat("]", 255)))
	require.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.Contains(t, err.Error(), strings.Repeat("/0", 255)+": want string, got 1")

	// Loops through references that consume no payload.
	for _, doc := range []string{
		`{"$ref":"#"}`,
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}`,
	} {
		s, err := typedesc.CompileSchema(json.RawMessage(doc))
		if err != nil {
			assert.ErrorIs(t, err, typedesc.ErrInvalidSchema, doc)
			continue
		}
		err = s.Validate([]byte(`{"a":[1,2,3]}`))
		require.ErrorIs(t, err, typedesc.ErrInvalid, doc)
		assert.ErrorIs(t, err, typedesc.ErrInvalidSchema, doc)
		assert.Contains(t, err.Error(), "refers to itself in a loop", doc)
	}

	// A recursive schema is fine where the payload ends the recursion.
	s, err = typedesc.CompileSchema(json.RawMessage(`{"type":["array","integer"],"items":{"$ref":"#"}}`))
	require.NoError(t, err)
	assert.NoError(t, s.Validate([]byte(strings.Repeat("[", 5000)+"1"+strings.Repeat("]", 5000))))

	// Alternatives that each go deeper: 2^40 evaluations, unless bounded.
	s, err = typedesc.CompileSchema(json.RawMessage(`{"$defs":{"a":{"anyOf":[
		{"type":"array","items":{"$ref":"#/$defs/a"}},
		{"type":"array","items":{"$ref":"#/$defs/a"}, "minItems":0}]}},"$ref":"#/$defs/a"}`))
	require.NoError(t, err)
	err = s.Validate([]byte(strings.Repeat("[", 40) + `"x"` + strings.Repeat("]", 40)))
	require.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.ErrorIs(t, err, typedesc.ErrInvalidSchema)
	assert.Contains(t, err.Error(), "too costly to check against this schema")

	// A long enum checked against many values.
	values := make([]string, 20000)
	for i := range values {
		values[i] = fmt.Sprint(i)
	}
	s, err = typedesc.CompileSchema(json.RawMessage(`{"items":{"enum":[` + strings.Join(values, ",") + `]}}`))
	require.NoError(t, err)
	err = s.Validate([]byte("[" + strings.Repeat(`-1,`, 20000) + "-1]"))
	require.ErrorIs(t, err, typedesc.ErrInvalidSchema)

	// Members repeated many times in nested objects.
	payload := strings.Repeat(`{"a":1,"a":`, 2000) + "1" + strings.Repeat("}", 2000)
	s, err = typedesc.CompileSchema(json.RawMessage(`{}`))
	require.NoError(t, err)
	err = s.Validate([]byte(payload))
	require.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.Contains(t, err.Error(), "repeats members too often")

	assert.Less(t, time.Since(start), 20*time.Second, "every case ends quickly")
}

func TestSchemaValidatesConcurrently(t *testing.T) {
	s := compiled(t, typedesc.InputSchema, reflect.TypeFor[fzTricky]())
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := s.Validate([]byte(`{"created_at":"2024-01-01T00:00:00\u005a"}`)); err == nil && !typedesc.JSONV2 {
					errs[i] = fmt.Errorf("an escaped date-time passed")
					return
				}
				if err := s.Validate([]byte(`{"created_at":"2024-01-01T00:00:00Z"}`)); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
}

func TestFunctionCheckCoversSchemas(t *testing.T) {
	in, err := typedesc.InputSchema(reflect.TypeFor[product]())
	require.NoError(t, err)
	f := typedesc.Function{Name: "Put", InputSchema: in, OutputSchema: json.RawMessage(`true`)}
	assert.NoError(t, f.Check())
	for _, bad := range []string{`{`, `"a string"`, `[]`, strings.Repeat("[", 600) + strings.Repeat("]", 600)} {
		f.OutputSchema = json.RawMessage(bad)
		err := f.Check()
		require.ErrorIs(t, err, typedesc.ErrInvalidSchema, bad)
		assert.Contains(t, err.Error(), `function "Put" outputSchema`)
	}
	c := f.DeepCopy()
	c.InputSchema[0] = 'x'
	assert.Equal(t, byte('{'), f.InputSchema[0], "DeepCopy shares no schema bytes")
}
