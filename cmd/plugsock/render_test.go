package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

type address struct {
	Street   string `json:"street"`
	City     string `json:"city"`
	Postcode string `json:"postcode,omitempty"`
	Country  string `json:"country"`
}

type lineItem struct {
	SKU      string            `json:"sku"`
	Name     string            `json:"name"`
	Quantity int               `json:"quantity"`
	Price    float64           `json:"price"`
	Options  map[string]string `json:"options,omitempty"`
}

type order struct {
	ID       int64 `json:"id"`
	Customer struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"customer"`
	Shipping address    `json:"shipping"`
	Billing  *address   `json:"billing,omitempty"`
	Items    []lineItem `json:"items"`
	Notes    []string   `json:"notes,omitempty"`
	Placed   time.Time  `json:"placed"`
}

type orderID struct {
	ID int64 `json:"id"`
}

func shop() *fakeAdmin {
	return &fakeAdmin{plugins: map[string]*envelope.PluginInfo{"shop": {Name: "shop", Version: "2.1.0", Functions: map[string]typedesc.Function{
		"Place":  {Name: "Place", Input: typedesc.TypeDescription(order{}), Output: typedesc.TypeDescription(orderID{})},
		"Cancel": {Name: "Cancel", Input: typedesc.TypeDescription(orderID{}), Output: typedesc.TypeDescription(false)},
		"List":   {Name: "List", Output: typedesc.TypeDescription([]order{})},
	}}}}
}

// TestDescribeLaysOutWideShapes describes a plugin whose types do not
// fit on a line: each function gets a block, and a struct too wide for
// describeWidth gets one field per line, at every level.
func TestDescribeLaysOutWideShapes(t *testing.T) {
	useFake(t, shop())
	code, out, errOut := runCLI(t, "describe", "shop")
	require.Equal(t, exitOK, code, errOut)
	orderLines := "" +
		"    id int64\n" +
		"    customer {name string, email string}\n" +
		"    shipping {street string, city string, postcode? string, country string}\n" +
		"    billing? {street string, city string, postcode? string, country string}\n" +
		"    items []{\n" +
		"      sku string\n" +
		"      name string\n" +
		"      quantity int\n" +
		"      price float64\n" +
		"      options? map[string]string\n" +
		"    }\n" +
		"    notes? []string\n" +
		"    placed string\n" +
		"  }\n"
	assert.Equal(t, ""+
		"shop 2.1.0 — 3 functions\n"+
		"\n"+
		"Cancel\n"+
		"  input  {id int64}\n"+
		"  output bool\n"+
		"\n"+
		"List\n"+
		"  input  -\n"+
		"  output []{\n"+
		orderLines+
		"\n"+
		"Place\n"+
		"  input  {\n"+
		orderLines+
		"  output {id int64}\n"+
		"\n"+
		shapeLegend, out)
	for _, line := range strings.Split(out, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(line), describeWidth, line)
	}
}

func TestDescribeOneFunction(t *testing.T) {
	useFake(t, shop())
	code, out, errOut := runCLI(t, "describe", "shop", "Cancel")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "shop 2.1.0: Cancel\n  input  {id int64}\n  output bool\n\n"+shapeLegend, out)

	code, out, _ = runCLI(t, "describe", "shop", "Cancel", "--json")
	require.Equal(t, exitOK, code)
	var fn typedesc.Function
	require.NoError(t, json.Unmarshal([]byte(out), &fn))
	assert.Equal(t, typedesc.Function{Name: "Cancel", Input: typedesc.TypeDescription(orderID{}), Output: typedesc.TypeDescription(false)}, fn)

	code, out, errOut = runCLI(t, "describe", "shop", "Refund")
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, "plugsock describe: plugin shop has no function \"Refund\"; it has Cancel, List, Place\n", errOut)

	code, _, errOut = runCLI(t, "describe", "shop", "Cancel", "extra")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "too many arguments")
}

// TestDescribeHostileDepth describes what a hostile plugin can declare:
// fields nested far deeper than any type, and a Type of two million
// "[]". Rendering stops at maxShapeDepth, so it neither recurses without
// bound nor prints megabytes.
func TestDescribeHostileDepth(t *testing.T) {
	deep := &typedesc.Entity{Type: "int"}
	for range 100_000 {
		deep = &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{{Name: "x", Type: deep.Type, Mandatory: true, Fields: deep.Fields}}}
	}
	arrays := &typedesc.Entity{Type: strings.Repeat("[]", 2_000_000) + "int"}
	maps := &typedesc.Entity{Type: strings.Repeat("map[string]", 100_000) + "int"}
	useFake(t, &fakeAdmin{plugins: map[string]*envelope.PluginInfo{"deep": {Name: "deep", Functions: map[string]typedesc.Function{
		"Fields": {Input: deep}, "Arrays": {Input: arrays}, "Maps": {Output: maps},
	}}}})

	code, out, errOut := runCLI(t, "describe", "deep")
	require.Equal(t, exitOK, code, errOut)
	assert.Less(t, len(out), 20_000, "bounded by the depth limit, not by what was sent")
	assert.Contains(t, out, "  input  "+strings.Repeat("[]", maxShapeDepth)+"…\n")
	assert.Contains(t, out, "  output "+strings.Repeat("map[string]", maxShapeDepth)+"…\n")
	assert.Contains(t, out, "\n"+strings.Repeat("  ", maxShapeDepth+1)+"x …\n", "fields one per line, cut off at the limit")
	assert.Less(t, strings.Count(out, "\n"), 2*maxShapeDepth+20)

	for _, e := range []*typedesc.Entity{deep, arrays, maps} {
		s := shape(e)
		assert.Less(t, len(s), 2_000, "one-line shape is bounded too")
		assert.True(t, strings.HasSuffix(strings.TrimRight(s, "}"), "…"), s)
	}
	assert.Equal(t, strings.Repeat("{x ", maxShapeDepth)+"…"+strings.Repeat("}", maxShapeDepth), shape(deep))
}

// TestShapeAtMaxDepth: a description as deep as the host accepts is shown
// whole; one level more is cut off.
func TestShapeAtMaxDepth(t *testing.T) {
	nest := func(levels int) *typedesc.Entity {
		e := &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{{Name: "v", Type: "[]int", Mandatory: true}}}
		for range levels - 2 { // the innermost struct and its []int are two
			e = &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{{Name: "x", Type: e.Type, Mandatory: true, Fields: e.Fields}}}
		}
		return e
	}
	atLimit, over := nest(typedesc.MaxDepth), nest(typedesc.MaxDepth+1)
	require.NoError(t, atLimit.Check())
	require.ErrorIs(t, over.Check(), typedesc.ErrTooDeep)

	assert.Equal(t, strings.Repeat("{x ", typedesc.MaxDepth-2)+"{v []int}"+strings.Repeat("}", typedesc.MaxDepth-2), shape(atLimit))
	assert.NotContains(t, shapeBlock(atLimit, 0, 0, describeWidth), "…")
	assert.Equal(t, strings.Repeat("{x ", typedesc.MaxDepth-1)+"{v …}"+strings.Repeat("}", typedesc.MaxDepth-1), shape(over))
}

func TestShapeLongNames(t *testing.T) {
	long := strings.Repeat("é", 4<<20)
	e := &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{{Name: long, Type: long, Mandatory: true}}}
	want := strings.Repeat("é", maxToken-1) + "…"
	assert.Equal(t, "{"+want+" "+want+"}", shape(e))
	exact := strings.Repeat("x", maxToken)
	assert.Equal(t, exact, shape(&typedesc.Entity{Type: exact}), "a name of maxToken runes is kept whole")
}

// booking is a plugin that describes Book with schemas: descriptions,
// an enum, formats, a recursive type, and hostile text in a description.
func booking() *fakeAdmin {
	return &fakeAdmin{plugins: map[string]*envelope.PluginInfo{"booking": {Name: "booking", Version: "1.0.0", Functions: map[string]typedesc.Function{
		"Book": {Name: "Book",
			Input: &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{
				{Name: "title", Type: "string", Mandatory: true}, {Name: "when", Type: "string"}, {Name: "kind", Type: "string"}}},
			InputSchema: json.RawMessage(`{"type":"object","properties":{
				"title":{"type":"string","description":"What is on,\nin a few words.\u001b[31m"},
				"when":{"type":"string","format":"date-time","description":"When it starts."},
				"kind":{"$ref":"#/$defs/Kind"},
				"room":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/Room"}],"description":"Where."},
				"photo":{"type":["string","null"],"contentEncoding":"base64"}},
				"$defs":{"Kind":{"enum":["talk","workshop"]},
					"Room":{"type":"object","properties":{"floor":{"type":"integer","description":"From 0."},"next":{"$ref":"#/$defs/Room"}}}}}`),
			OutputSchema: json.RawMessage(`{"type":"integer","description":"The booking's id."}`)},
		// A Go plugin's function without an input: its schema is any
		// object, which is shown as nothing described.
		"Ping": {Name: "Ping", Output: &typedesc.Entity{Type: "string"},
			InputSchema: json.RawMessage(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":["object","null"],"additionalProperties":true}`)},
		// Described by schema alone, as a plugin in another language may.
		"Count": {InputSchema: json.RawMessage(`{"type":["array","null"],"items":{"type":"string"}}`), OutputSchema: json.RawMessage(`{"type":"integer","minimum":0}`)},
		"Room": {InputSchema: json.RawMessage(`{"$ref":"#/$defs/Room","$defs":{"Room":{"type":"object","required":["floor"],
			"properties":{"floor":{"type":"integer"},"next":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/Room"}]}}}}}`)},
	}}}}
}

func TestDescribeNotes(t *testing.T) {
	useFake(t, booking())
	notes := "" +
		"  input.kind        one of \"talk\", \"workshop\"\n" +
		"  input.photo       base64\n" +
		"  input.room        Where.\n" +
		"  input.room.floor  From 0.\n" +
		"  input.title       What is on, in a few words.\\x1b[31m\n" +
		"  input.when        date-time; When it starts.\n" +
		"  output            The booking's id.\n"
	code, out, errOut := runCLI(t, "describe", "booking", "Book")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "booking 1.0.0: Book\n  input  {title string, when? string, kind? string}\n  output integer\n"+notes+"\n"+shapeLegend, out)

	code, out, errOut = runCLI(t, "describe", "booking")
	require.Equal(t, exitOK, code, errOut)
	head, _, found := strings.Cut(out, "\n\nFUNCTION  MEMBER")
	require.True(t, found, out)
	assert.Equal(t, ""+
		"booking 1.0.0 — 4 functions\n"+
		"\n"+
		"FUNCTION  INPUT                                       OUTPUT\n"+
		"Book      {title string, when? string, kind? string}  integer\n"+
		"Count     []string                                    integer\n"+
		"Ping      -                                           string\n"+
		"Room      {floor integer, next? {…}}                  -", head)
	assert.Contains(t, out, "\n\nFUNCTION  MEMBER            NOTE\n"+
		"Book      input.kind        one of \"talk\", \"workshop\"\n"+
		"          input.photo       base64\n")
	assert.Contains(t, out, "          output            The booking's id.\n\n"+shapeLegend)
	assert.NotContains(t, out, "input.room.next", "a recursive member is noted once")
}

// Notes are bounded whatever a plugin's schema holds.
func TestDescribeNotesAreBounded(t *testing.T) {
	var props strings.Builder
	for i := range 500 {
		if i > 0 {
			props.WriteByte(',')
		}
		fmt.Fprintf(&props, `"f%03d":{"description":"%s"}`, i, strings.Repeat("d", 1000))
	}
	deep := strings.Repeat(`{"properties":{"x":`, 200) + `{"description":"bottom"}` + strings.Repeat(`}}`, 200)
	fn := &typedesc.Function{InputSchema: json.RawMessage(`{"properties":{` + props.String() + `}}`), OutputSchema: json.RawMessage(deep)}
	rows := functionNotes(fn)
	require.Len(t, rows, maxNotes+1)
	assert.Equal(t, [2]string{"…", "more in --json"}, rows[maxNotes])
	assert.Equal(t, maxNoteText, utf8.RuneCountInString(rows[0][1]))
	assert.Empty(t, functionNotes(&typedesc.Function{OutputSchema: json.RawMessage(deep)}), "nothing past maxShapeDepth")
}
