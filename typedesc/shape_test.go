package typedesc_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

// The grammar's one set of tests: every Type anyone reads goes through
// ParseType (issue 17).

func TestParseType(t *testing.T) {
	const word = strconv.IntSize
	for _, tc := range []struct {
		typ  string
		want typedesc.Shape
	}{
		{"any", typedesc.Shape{Kind: typedesc.Any}},
		{"bool", typedesc.Shape{Kind: typedesc.Bool}},
		{"string", typedesc.Shape{Kind: typedesc.String}},
		{"struct", typedesc.Shape{Kind: typedesc.Struct}},
		{"int", typedesc.Shape{Kind: typedesc.Int, Bits: word}},
		{"int8", typedesc.Shape{Kind: typedesc.Int, Bits: 8}},
		{"int16", typedesc.Shape{Kind: typedesc.Int, Bits: 16}},
		{"int32", typedesc.Shape{Kind: typedesc.Int, Bits: 32}},
		{"int64", typedesc.Shape{Kind: typedesc.Int, Bits: 64}},
		{"uint", typedesc.Shape{Kind: typedesc.Uint, Bits: word}},
		{"uintptr", typedesc.Shape{Kind: typedesc.Uint, Bits: word}},
		{"uint8", typedesc.Shape{Kind: typedesc.Uint, Bits: 8}},
		{"uint16", typedesc.Shape{Kind: typedesc.Uint, Bits: 16}},
		{"uint32", typedesc.Shape{Kind: typedesc.Uint, Bits: 32}},
		{"uint64", typedesc.Shape{Kind: typedesc.Uint, Bits: 64}},
		{"float32", typedesc.Shape{Kind: typedesc.Float, Bits: 32}},
		{"float64", typedesc.Shape{Kind: typedesc.Float, Bits: 64}},

		// One level only: Elem is left for the caller to read.
		{"[]int", typedesc.Shape{Kind: typedesc.Slice, Elem: "int"}},
		{"[][]struct", typedesc.Shape{Kind: typedesc.Slice, Elem: "[]struct"}},
		{"[]", typedesc.Shape{Kind: typedesc.Slice, Elem: ""}},
		{"[]uuid", typedesc.Shape{Kind: typedesc.Slice, Elem: "uuid"}},
		{"map[string]int", typedesc.Shape{Kind: typedesc.Map, Key: "string", Elem: "int"}},
		{"map[int64][]struct", typedesc.Shape{Kind: typedesc.Map, Key: "int64", Elem: "[]struct"}},
		{"map[string]map[uint8]bool", typedesc.Shape{Kind: typedesc.Map, Key: "string", Elem: "map[uint8]bool"}},
		{"map[string]", typedesc.Shape{Kind: typedesc.Map, Key: "string", Elem: ""}},
		// Keys are not judged here (see innermost in plugintest), and
		// the key ends at the first "]".
		{"map[bool]int", typedesc.Shape{Kind: typedesc.Map, Key: "bool", Elem: "int"}},
		{"map[]int", typedesc.Shape{Kind: typedesc.Map, Key: "", Elem: "int"}},
		{"map[map[string]int]bool", typedesc.Shape{Kind: typedesc.Map, Key: "map[string", Elem: "int]bool"}},

		// Outside the grammar: Unknown, which accepts anything.
		{"", typedesc.Shape{}},
		{"map[", typedesc.Shape{}},
		{"map[string", typedesc.Shape{}},
		{"map", typedesc.Shape{}},
		{"[", typedesc.Shape{}},
		{"]int", typedesc.Shape{}},
		{"*int", typedesc.Shape{}},
		{"[3]int", typedesc.Shape{}},
		{"time.Time", typedesc.Shape{}},
		{"uuid", typedesc.Shape{}},
		{"complex128", typedesc.Shape{}},
		{"interface{}", typedesc.Shape{}},
		{"Int", typedesc.Shape{}},
		{"STRUCT", typedesc.Shape{}},
		{" int", typedesc.Shape{}},
		{"int ", typedesc.Shape{}},
		{"int\x00", typedesc.Shape{}},
		{"[ ]int", typedesc.Shape{}},
		{"Map[string]int", typedesc.Shape{}},
	} {
		assert.Equal(t, tc.want, typedesc.ParseType(tc.typ), "%q", tc.typ)
	}
}

// ParseType reads one level, so hostile Types cost neither stack nor
// memory however long they are, and a walk over their levels is a loop.
func TestParseTypeHostile(t *testing.T) {
	const levels = 2_000_000
	for _, tc := range []struct {
		name   string
		typ    string
		levels int
		inner  string
	}{
		{"slices", strings.Repeat("[]", levels) + "int", levels, "int"},
		{"slices of nothing", strings.Repeat("[]", levels), levels, ""},
		{"maps", strings.Repeat("map[string]", levels/5) + "int", levels / 5, "int"},
		{"open maps", strings.Repeat("map[", levels), 0, strings.Repeat("map[", levels)},
		{"map then open maps", "map[int]" + strings.Repeat("map[", levels), 1, strings.Repeat("map[", levels)},
		{"a long key", "map[" + strings.Repeat("k", 4<<20) + "]int", 1, "int"},
		{"closers", strings.Repeat("]", levels), 0, strings.Repeat("]", levels)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(10, func() { typedesc.ParseType(tc.typ) })
			assert.Zero(t, allocs)

			n, typ := 0, tc.typ
			for s := typedesc.ParseType(typ); s.Kind == typedesc.Slice || s.Kind == typedesc.Map; s = typedesc.ParseType(typ) {
				if len(s.Elem) >= len(typ) {
					t.Fatalf("level %d read nothing of the Type", n)
				}
				typ = s.Elem
				n++
			}
			assert.Equal(t, tc.levels, n)
			assert.Equal(t, tc.inner, typ)
		})
	}
}

// A Type outside the grammar means the same to every walk: any JSON, the
// empty schema, and no level of nesting.
func TestUnknownTypesAcceptAnything(t *testing.T) {
	for _, typ := range []string{"", "map[", "map[string", "*int", "time.Time", "uuid", "[3]int", "any"} {
		e := &typedesc.Entity{Type: typ}
		for _, payload := range []string{`{"a":[1,{}]}`, `[1,"x"]`, `"x"`, `-1.5`, `true`, `null`, ``} {
			assert.NoError(t, e.Validate([]byte(payload)), "%q against %q", payload, typ)
		}
		assert.Empty(t, e.JSONSchema(), typ)
		assert.NoError(t, e.Check(), typ)
		deep := &typedesc.Entity{Type: strings.Repeat("[]", typedesc.MaxDepth) + typ}
		assert.NoError(t, deep.Check(), "%q adds no level", typ)
	}
}

// The grammar written in docs/protocol.md section 6 is the one ParseType
// reads, name for name.
func TestParseTypeMatchesProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)```\n(type +=.*?)```").FindSubmatch(doc)
	require.NotNil(t, block, "the grammar block of section 6")
	productions := map[string][]string{}
	var name string
	for line := range strings.Lines(string(block[1])) {
		if lhs, rhs, ok := strings.Cut(line, "="); ok {
			name, line = strings.TrimSpace(lhs), rhs
		}
		for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(line, -1) {
			productions[name] = append(productions[name], m[1])
		}
	}
	assert.Equal(t, []string{"any", "struct", "[]", "map[", "]"}, productions["type"])

	var scalars []string
	for _, typ := range productions["scalar"] {
		s := typedesc.ParseType(typ)
		assert.Contains(t, []typedesc.Kind{typedesc.Bool, typedesc.String, typedesc.Int, typedesc.Uint, typedesc.Float}, s.Kind, typ)
		scalars = append(scalars, typ)
	}
	for _, typ := range productions["key"] {
		assert.Contains(t, []typedesc.Kind{typedesc.String, typedesc.Int, typedesc.Uint}, typedesc.ParseType(typ).Kind, typ)
		assert.Contains(t, scalars, typ, "a key is a scalar")
	}
	assert.Len(t, productions["key"], 12, "string and the eleven integer kinds")

	// And nothing else: every name ParseType knows is in the doc.
	for _, typ := range []string{"bool", "string", "int", "int8", "int16", "int32", "int64",
		"uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "float32", "float64"} {
		assert.Contains(t, scalars, typ)
	}
	assert.Len(t, scalars, 15)
}

// What TypeDescription writes, ParseType reads back as the kind it came
// from.
func TestParseTypeReadsDescriptions(t *testing.T) {
	for _, v := range []any{
		false, "", int(0), int8(0), int16(0), int32(0), int64(0),
		uint(0), uint8(0), uint16(0), uint32(0), uint64(0), uintptr(0), float32(0), float64(0),
	} {
		rt := reflect.TypeOf(v)
		s := typedesc.ParseType(typedesc.TypeDescription(v).Type)
		switch rt.Kind() {
		case reflect.Bool:
			assert.Equal(t, typedesc.Bool, s.Kind)
		case reflect.String:
			assert.Equal(t, typedesc.String, s.Kind)
		case reflect.Float32, reflect.Float64:
			assert.Equal(t, typedesc.Shape{Kind: typedesc.Float, Bits: rt.Bits()}, s, rt)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			assert.Equal(t, typedesc.Shape{Kind: typedesc.Uint, Bits: rt.Bits()}, s, rt)
		default:
			assert.Equal(t, typedesc.Shape{Kind: typedesc.Int, Bits: rt.Bits()}, s, rt)
		}
	}
	s := typedesc.ParseType(typedesc.TypeDescription(map[uint16][]json.RawMessage{}).Type)
	assert.Equal(t, typedesc.Shape{Kind: typedesc.Map, Key: "uint16", Elem: "[]any"}, s)
}

// A Type is read a level at a time, in a loop.
func ExampleParseType() {
	typ := "map[string][]struct"
	for {
		s := typedesc.ParseType(typ)
		switch s.Kind {
		case typedesc.Slice:
			fmt.Println("an array of", s.Elem)
		case typedesc.Map:
			fmt.Println("an object with", s.Key, "keys and", s.Elem, "values")
		case typedesc.Struct:
			fmt.Println("an object with the fields listed")
		}
		if s.Kind != typedesc.Slice && s.Kind != typedesc.Map {
			return
		}
		typ = s.Elem
	}
	// Output:
	// an object with string keys and []struct values
	// an array of struct
	// an object with the fields listed
}
