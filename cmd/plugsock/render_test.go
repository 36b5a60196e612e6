package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

type node struct {
	Value    int     `json:"value"`
	Children []*node `json:"children,omitempty"`
}

func TestShape(t *testing.T) {
	type item struct {
		Name  string  `json:"name"`
		Price float64 `json:"price"`
		Note  string  `json:"note,omitempty"`
	}
	type order struct {
		ID    int64             `json:"id"`
		Items []item            `json:"items"`
		Tags  map[string]string `json:"tags,omitempty"`
		When  time.Time         `json:"when"`
		Extra json.RawMessage   `json:"extra,omitempty"`
	}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"scalar", 0, "int"},
		{"string", "", "string"},
		{"struct", struct {
			A int    `json:"a"`
			S string `json:"s"`
		}{}, "{a int, s string}"},
		{"nested", order{}, "{id int64, items []{name string, price float64, note? string}, tags? map[string]string, when string, extra? any}"},
		{"slice of structs", []item{}, "[]{name string, price float64, note? string}"},
		{"map of structs", map[string]item{}, "map[string]{name string, price float64, note? string}"},
		{"map of slices", map[int][]string{}, "map[int][]string"},
		{"recursive", node{}, "{value int, children? []{…}}"},
		{"any", new(any), "any"},
		{"nothing to describe", struct{}{}, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, shape(typedesc.TypeDescription(tc.v)))
		})
	}
}

func TestShapeFromOtherLanguages(t *testing.T) {
	// Descriptions arrive over the wire and need not come from Go.
	assert.Equal(t, "-", shape(nil))
	assert.Equal(t, "any", shape(&typedesc.Entity{}), "a missing type accepts anything")
	assert.Equal(t, "{…}", shape(&typedesc.Entity{Type: "struct"}))
	assert.Equal(t, "[]{x? float64}", shape(&typedesc.Entity{Type: "[]struct", Fields: []typedesc.Entity{{Name: "x", Type: "float64"}}}))
	assert.Equal(t, "map[broken", shape(&typedesc.Entity{Type: "map[broken"}))
	assert.Equal(t, "decimal", shape(&typedesc.Entity{Type: "decimal"}), "unknown types are shown as they are")
}

func TestTable(t *testing.T) {
	tb := &table{indent: "  "}
	tb.row("NAME", "VERSION", "NOTE")
	tb.row("calc", "1.0.0", "")
	tb.row("météo", "-", "last")
	var b strings.Builder
	tb.write(&b)
	assert.Equal(t, ""+
		"  NAME   VERSION  NOTE\n"+
		"  calc   1.0.0\n"+
		"  météo  -        last\n", b.String())
}

func TestTableRaggedRows(t *testing.T) {
	tb := &table{}
	tb.row("a")
	tb.row("bb", "c")
	var b strings.Builder
	tb.write(&b)
	assert.Equal(t, "a\nbb  c\n", b.String())
}

func TestFunctionsTable(t *testing.T) {
	info := &envelope.PluginInfo{Name: "calc", Functions: map[string]typedesc.Function{
		"Sub": {Name: "Sub", Input: typedesc.TypeDescription(struct{ A, B int }{}), Output: typedesc.TypeDescription(0)},
		"Add": {Name: "Add", Input: typedesc.TypeDescription(struct{ A, B int }{}), Output: typedesc.TypeDescription(0)},
		"Nop": {Name: "Nop"},
	}}
	tb := &table{}
	functionsTable(tb, info, true)
	var b strings.Builder
	tb.write(&b)
	assert.Equal(t, ""+
		"calc  Add  {A int, B int}  int\n"+
		"      Nop  -               -\n"+
		"      Sub  {A int, B int}  int\n", b.String())
}

func TestCompact(t *testing.T) {
	assert.Equal(t, `{"a": 1, "b": [1, 2]}`, compact(map[string]any{"b": []int{1, 2}, "a": 1}))
	assert.Equal(t, `{"s": "x, y: \"z\\\", w"}`, compact(json.RawMessage(`{ "s" : "x, y: \"z\\\", w" }`)),
		"commas and colons inside strings are left alone")
	assert.Equal(t, `null`, compact(nil))
	assert.Equal(t, `not json`, compact(json.RawMessage(`not json`)))
}

func TestIndented(t *testing.T) {
	assert.Equal(t, "{\n  \"a\": [\n    1\n  ]\n}", indented(json.RawMessage(`{"a":[1]}`)))
	assert.Equal(t, "5", indented(json.RawMessage(`5`)))
}

func TestErrorText(t *testing.T) {
	assert.Equal(t, "division by zero (code -32000, method error)", errorText(-32000, "division by zero"))
	assert.Equal(t, "method not found: Pow (code -32601, method not found)", errorText(-32601, "method not found: Pow"))
	assert.Equal(t, "odd (code 7, error)", errorText(7, "odd"))
	assert.Equal(t, "plain", errorText(0, "plain"), "code 0 is not from the wire and is not shown")
}

func TestPlural(t *testing.T) {
	assert.Equal(t, "0 functions", plural(0, "function"))
	assert.Equal(t, "1 function", plural(1, "function"))
	assert.Equal(t, "5 functions", plural(5, "function"))
}
