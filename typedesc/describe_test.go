package typedesc_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

//lint:file-ignore SA5008 odd json tags here deliberately probe how encoding/json reads them

// field builds an expected Entity tersely.
func field(name, typ string, mandatory bool, fields ...typedesc.Entity) typedesc.Entity {
	return typedesc.Entity{Name: name, Type: typ, Mandatory: mandatory, Fields: fields}
}

func names(fields []typedesc.Entity) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.Name)
	}
	return out
}

func TestFieldNames(t *testing.T) {
	type T struct {
		Plain     int
		Tagged    int `json:"tagged"`
		Dash      int `json:"-,"`
		Skipped   int `json:"-"`
		Hidden    int `plugsock:"-"`
		HiddenOpt int `plugsock:"-,whatever"`
		OptOnly   int `json:",omitempty"`
		BadName   int `json:"a\\b"`
		Spaced    int `json:"with space"`
		Unicode   int `json:"ünï"`
		unexp     int
	}
	_ = T{}.unexp
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	assert.Equal(t, []string{"Plain", "tagged", "-", "OptOnly", "BadName", "with space", "ünï"}, names(e.Fields))
}

func TestMandatory(t *testing.T) {
	type T struct {
		A int
		B int `json:"b"`
		C int `json:"c,omitempty"`
		D int `json:"d,omitzero"`
		E int `json:",omitempty"`
		F int `json:"f,string,omitempty"`
		G int `json:"g,string"`
		H int `json:"h,omitemptyish"`
	}
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	want := []typedesc.Entity{
		field("A", "int", true),
		field("b", "int", true),
		field("c", "int", false),
		field("d", "int", false),
		field("E", "int", false),
		field("f", "string", false),
		field("g", "string", true),
		field("h", "int", true),
	}
	assert.Equal(t, want, e.Fields)
	assert.False(t, e.Mandatory, "the top level is not a field")
}

type Celsius float64

type Level uint8

func TestScalars(t *testing.T) {
	type T struct {
		S   string
		B   bool
		I   int
		I8  int8
		I16 int16
		I32 int32
		I64 int64
		U   uint
		U8  uint8
		U16 uint16
		U32 uint32
		U64 uint64
		UP  uintptr
		F32 float32
		F64 float64
		C   Celsius
		L   Level
		A   any
		E   error
		St  fmt.Stringer
	}
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	want := []string{"string", "bool", "int", "int8", "int16", "int32", "int64",
		"uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "float32", "float64",
		"float64", "uint8", "any", "any", "any"}
	require.Len(t, e.Fields, len(want))
	for i, f := range e.Fields {
		assert.Equal(t, want[i], f.Type, f.Name)
		assert.Empty(t, f.Fields, f.Name)
	}

	for _, tc := range []struct {
		v    any
		name string
		typ  string
	}{
		{"", "string", "string"},
		{3, "int", "int"},
		{Celsius(1), "Celsius", "float64"},
		{new(Level), "Level", "uint8"},
		{true, "bool", "bool"},
	} {
		assert.Equal(t, &typedesc.Entity{Name: tc.name, Type: tc.typ}, typedesc.TypeDescription(tc.v))
	}
}

type Item struct {
	Name  string  `json:"name"`
	Price float64 `json:"price"`
}

type Items []Item

func TestContainers(t *testing.T) {
	itemFields := []typedesc.Entity{field("name", "string", true), field("price", "float64", true)}
	type T struct {
		Ints    []int
		Nested  [][]string
		Arr     [3]float32
		Structs []Item
		PtrElem []*Item
		ByName  map[string]Item
		ByID    map[int64][]*Item
		ByU8    map[uint8]bool
		Named   Items
		Ptr     *int
		PtrPtr  **Item
	}
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	want := []typedesc.Entity{
		field("Ints", "[]int", true),
		field("Nested", "[][]string", true),
		field("Arr", "[]float32", true),
		field("Structs", "[]struct", true, itemFields...),
		field("PtrElem", "[]struct", true, itemFields...),
		field("ByName", "map[string]struct", true, itemFields...),
		field("ByID", "map[int64][]struct", true, itemFields...),
		field("ByU8", "map[uint8]bool", true),
		field("Named", "[]struct", true, itemFields...),
		field("Ptr", "int", true),
		field("PtrPtr", "struct", true, itemFields...),
	}
	assert.Equal(t, want, e.Fields)

	assert.Equal(t, &typedesc.Entity{Name: "Items", Type: "[]struct", Fields: itemFields}, typedesc.TypeDescription(Items{}))
	assert.Equal(t, &typedesc.Entity{Type: "[]struct", Fields: itemFields}, typedesc.TypeDescription([]Item{}))
	assert.Equal(t, &typedesc.Entity{Type: "map[string][]int"}, typedesc.TypeDescription(map[string][]int{}))
	assert.Equal(t, &typedesc.Entity{Type: "[]struct"}, typedesc.TypeDescription([]struct{}{}),
		"only a struct itself has no description when empty")
}

// textKey is a map key that encoding/json writes as its text.
type textKey struct{ a, b int }

func (k textKey) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%d-%d", k.a, k.b), nil }

// textInt is an integer key that still encodes as text, not as a number.
type textInt int

func (k textInt) MarshalText() ([]byte, error) { return []byte("n"), nil }

func TestMapKeys(t *testing.T) {
	type T struct {
		Text    map[textKey]int
		TextInt map[textInt]int
		Float   map[float64]int
		Struct  map[struct{ A int }]int
		Bool    map[bool]int
		Ptr     map[*int]int
		OK      map[int]int
	}
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	assert.Equal(t, []typedesc.Entity{
		field("Text", "map[string]int", true),
		field("TextInt", "map[string]int", true),
		field("OK", "map[int]int", true),
	}, e.Fields)
	assert.Nil(t, typedesc.TypeDescription(map[bool]string{}))

	b, err := json.Marshal(map[textInt]int{1: 2})
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":2}`, string(b), "the description must agree with encoding/json")
}

type valueMarshaler struct{}

func (valueMarshaler) MarshalJSON() ([]byte, error) { return []byte(`[1]`), nil }

type ptrMarshaler struct{ X int }

func (*ptrMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{}`), nil }

type bothMarshaler struct{ X int }

func (bothMarshaler) MarshalJSON() ([]byte, error) { return []byte(`"both"`), nil }
func (bothMarshaler) MarshalText() ([]byte, error) { return []byte("both"), nil }

type ptrTextMarshaler struct{ X int }

func (*ptrTextMarshaler) MarshalText() ([]byte, error) { return []byte("text"), nil }

// selfByte marshals itself, so a slice of it is not base64.
type selfByte byte

func (selfByte) MarshalJSON() ([]byte, error) { return []byte(`0`), nil }

type plainByte byte

func TestOwnJSONForm(t *testing.T) {
	type T struct {
		Time      time.Time
		TimePtr   *time.Time
		Duration  time.Duration
		Bytes     []byte
		MyBytes   []plainByte
		ByteArray [4]byte
		SelfBytes []selfByte
		Raw       json.RawMessage
		Value     valueMarshaler
		Ptr       ptrMarshaler
		Both      bothMarshaler
		Text      ptrTextMarshaler
		Marshaler json.Marshaler
		Texter    interface{ MarshalText() ([]byte, error) }
		Times     []time.Time
	}
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	assert.Equal(t, []typedesc.Entity{
		field("Time", "string", true),
		field("TimePtr", "string", true),
		field("Duration", "int64", true),
		field("Bytes", "string", true),
		field("MyBytes", "string", true),
		field("ByteArray", "[]uint8", true),
		field("SelfBytes", "[]any", true),
		field("Raw", "any", true),
		field("Value", "any", true),
		field("Ptr", "any", true),
		field("Both", "string", true),
		field("Text", "string", true),
		field("Marshaler", "any", true),
		field("Texter", "string", true),
		field("Times", "[]string", true),
	}, e.Fields)

	assert.Equal(t, &typedesc.Entity{Name: "Time", Type: "string"}, typedesc.TypeDescription(time.Time{}))
	assert.Equal(t, &typedesc.Entity{Name: "ptrMarshaler", Type: "any"}, typedesc.TypeDescription(ptrMarshaler{}))
	// The name is the Go type's: RawMessage, or Value under
	// GOEXPERIMENT=jsonv2, where json.RawMessage is jsontext.Value.
	rawName := reflect.TypeFor[json.RawMessage]().Name()
	assert.Contains(t, []string{"RawMessage", "Value"}, rawName)
	assert.Equal(t, &typedesc.Entity{Name: rawName, Type: "any"}, typedesc.TypeDescription(json.RawMessage(nil)))
}

func TestQuotedOption(t *testing.T) {
	type T struct {
		N    int            `json:"n,string"`
		P    *float64       `json:"p,string"`
		B    bool           `json:"b,string"`
		S    Item           `json:"s,string"`
		L    []int          `json:"l,string"`
		Self valueMarshaler `json:"self,string"`
	}
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	assert.Equal(t, []typedesc.Entity{
		field("n", "string", true),
		field("p", "string", true),
		field("b", "string", true),
		field("s", "struct", true, field("name", "string", true), field("price", "float64", true)),
		field("l", "[]int", true),
		field("self", "any", true),
	}, e.Fields)

	b, err := json.Marshal(T{N: 1})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"n":"1"`)
}

func TestNoJSONForm(t *testing.T) {
	type T struct {
		Ch      chan int
		Fn      func()
		C64     complex64
		C128    complex128
		Unsafe  unsafe.Pointer
		Chans   []chan int
		FnMap   map[string]func()
		BadKey  map[[2]int]string
		Kept    string
		PtrChan *chan int
	}
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	assert.Equal(t, []typedesc.Entity{field("Kept", "string", true)}, e.Fields)

	for _, v := range []any{make(chan int), func() {}, complex(1, 2), unsafe.Pointer(nil), []func(){}, nil} {
		assert.Nil(t, typedesc.TypeDescription(v), "%T", v)
	}
}

type Empty struct{}

type OnlyUnexported struct{ a, b int }

type OnlyUnsupported struct{ C chan int }

func TestEmptyStructs(t *testing.T) {
	_ = OnlyUnexported{}.a + OnlyUnexported{}.b
	assert.Nil(t, typedesc.TypeDescription(Empty{}))
	assert.Nil(t, typedesc.TypeDescription(&Empty{}))
	assert.Nil(t, typedesc.TypeDescription(OnlyUnexported{}))
	assert.Nil(t, typedesc.TypeDescription(OnlyUnsupported{}))
	assert.Nil(t, typedesc.TypeDescription(struct{}{}))

	type T struct {
		E  Empty           `json:"e"`
		U  *OnlyUnexported `json:"u,omitempty"`
		ES []Empty         `json:"es"`
	}
	e := typedesc.TypeDescription(T{})
	require.NotNil(t, e)
	assert.Equal(t, []typedesc.Entity{
		field("e", "struct", true),
		field("u", "struct", false),
		field("es", "[]struct", true),
	}, e.Fields)
}

type EchoIn struct {
	Text string `json:"text"`
}

type Node struct {
	Value    int              `json:"value"`
	Next     *Node            `json:"next,omitempty"`
	Children []Node           `json:"children,omitempty"`
	Index    map[string]*Node `json:"index,omitempty"`
}

type Ping struct {
	Pong *Pong `json:"pong"`
	N    int   `json:"n"`
}

type Pong struct {
	Ping Ping `json:"ping"`
	M    int  `json:"m"`
}

type Tree struct {
	Left, Right *Tree
	Leaf        Node
}

func TestTopLevelName(t *testing.T) {
	assert.Equal(t, "EchoIn", typedesc.TypeDescription(EchoIn{}).Name)
	assert.Equal(t, "EchoIn", typedesc.TypeDescription(&EchoIn{}).Name)
	pp := new(EchoIn)
	assert.Equal(t, "EchoIn", typedesc.TypeDescription(&pp).Name)
	assert.Empty(t, typedesc.TypeDescription(struct{ A int }{}).Name)
	assert.Empty(t, typedesc.TypeDescription([]EchoIn{}).Name)
}

func TestForType(t *testing.T) {
	assert.Nil(t, typedesc.ForType(nil))
	assert.Nil(t, typedesc.TypeDescription(nil))
	for _, v := range []any{EchoIn{}, &Node{}, Items{}, 3, map[string]Item{}, Empty{}} {
		assert.Equal(t, typedesc.TypeDescription(v), typedesc.ForType(reflect.TypeOf(v)), "%T", v)
	}
	assert.Equal(t, typedesc.TypeDescription(Node{}), typedesc.ForType(reflect.TypeFor[**Node]()))
}

func TestRecursion(t *testing.T) {
	e := typedesc.TypeDescription(Node{})
	require.NotNil(t, e)
	assert.Equal(t, &typedesc.Entity{Name: "Node", Type: "struct", Fields: []typedesc.Entity{
		field("value", "int", true),
		field("next", "struct", false),
		field("children", "[]struct", false),
		field("index", "map[string]struct", false),
	}}, e)

	// Mutual recursion stops at the first repeat, wherever it starts.
	assert.Equal(t, &typedesc.Entity{Name: "Ping", Type: "struct", Fields: []typedesc.Entity{
		field("pong", "struct", true,
			field("ping", "struct", true),
			field("m", "int", true)),
		field("n", "int", true),
	}}, typedesc.TypeDescription(Ping{}))
	assert.Equal(t, &typedesc.Entity{Name: "Pong", Type: "struct", Fields: []typedesc.Entity{
		field("ping", "struct", true,
			field("pong", "struct", true),
			field("n", "int", true)),
		field("m", "int", true),
	}}, typedesc.TypeDescription(Pong{}))

	// A type used twice side by side is not a repeat.
	tree := typedesc.TypeDescription(Tree{})
	require.NotNil(t, tree)
	require.Len(t, tree.Fields, 3)
	assert.Empty(t, tree.Fields[0].Fields)
	assert.Empty(t, tree.Fields[1].Fields)
	assert.Equal(t, []string{"value", "next", "children", "index"}, names(tree.Fields[2].Fields))

	type Wrapper struct {
		A Node `json:"a"`
		B Node `json:"b"`
	}
	w := typedesc.TypeDescription(Wrapper{})
	require.NotNil(t, w)
	assert.Equal(t, w.Fields[0].Fields, w.Fields[1].Fields)
	assert.Len(t, w.Fields[0].Fields, 4)
}

func TestCacheNotMutatedByCallers(t *testing.T) {
	first := typedesc.TypeDescription(Node{})
	want := first.DeepCopy()
	first.Name = "changed"
	first.Fields[0].Name = "changed"
	first.Fields[2].Type = "changed"
	first.Fields = append(first.Fields, field("extra", "int", true))

	second := typedesc.TypeDescription(&Node{})
	assert.Equal(t, want, second)
	assert.NotSame(t, &second.Fields[0], &want.Fields[0])

	third := typedesc.ForType(reflect.TypeFor[Node]())
	third.Fields[1].Mandatory = true
	assert.Equal(t, want, typedesc.TypeDescription(Node{}))
}

func TestConcurrentUse(t *testing.T) {
	values := []any{Node{}, Ping{}, Pong{}, Tree{}, EchoIn{}, Items{}, struct{ X, Y int }{}}
	want := make([]*typedesc.Entity, len(values))
	for i, v := range values {
		// Uncached types too: build the expectation from a copy, not the cache.
		want[i] = typedesc.TypeDescription(v)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				v := values[(g+i)%len(values)]
				e := typedesc.TypeDescription(v)
				if !assert.Equal(t, want[(g+i)%len(values)], e) {
					return
				}
				if e != nil && len(e.Fields) > 0 {
					e.Fields[0].Name = "scribbled"
				}
			}
		})
	}
	wg.Wait()
}

// Fresh types are described concurrently on first use, racing to fill the cache.
func TestConcurrentFirstUse(t *testing.T) {
	type A struct{ X int }
	type B struct{ Y []A }
	var wg sync.WaitGroup
	results := make([]*typedesc.Entity, 32)
	for i := range results {
		wg.Go(func() { results[i] = typedesc.TypeDescription(B{}) })
	}
	wg.Wait()
	for _, r := range results {
		assert.Equal(t, results[0], r)
	}
	assert.Equal(t, "[]struct", results[0].Fields[0].Type)
}

// Types for the comparison with encoding/json.
type (
	Base struct {
		ID   int
		Name string
	}
	A       struct{ X int }
	B       struct{ X int }
	ATagged struct {
		X int `json:"X"`
	}
	BTagged struct {
		X int `json:"X"`
	}
	Renamed struct {
		Y int `json:"X"`
	}
	DeepB struct{ B }
	L     struct{ A }
	R     struct{ A }
	base  struct {
		Visible int
		hidden  int
	}
	MyInt int
	myInt int
	Loop  struct {
		*Loop
		V int
	}
	Inner struct {
		Deep  int
		Items []Item
	}
	Middle struct {
		Inner
		Mid string `json:"mid"`
	}
	ShadowDeep struct {
		ATagged
	}
	withTime struct {
		time.Time
		X int
	}
	Hider struct {
		Base `plugsock:"-"`
		Own  int
	}
	HideConflict struct {
		A
		B `plugsock:"-"`
	}
)

// base's unexported field is there to be left out.
var _ = base{}.hidden

var marshalTable = []any{
	EchoIn{},
	struct {
		Base
		Extra string
	}{},
	struct {
		*Base
		Extra string
	}{},
	struct {
		Base  `json:"base"`
		Extra string
	}{},
	struct {
		Base
		Name string // shadows Base.Name
	}{},
	struct {
		A
		B
		Keep int
	}{},
	struct {
		A
		BTagged
	}{},
	// go vet rejects repeated json tags in source, so build these at run time.
	structOf(
		reflect.StructField{Name: "ATagged", Type: reflect.TypeFor[ATagged](), Anonymous: true},
		reflect.StructField{Name: "BTagged", Type: reflect.TypeFor[BTagged](), Anonymous: true},
		reflect.StructField{Name: "Keep", Type: reflect.TypeFor[int]()},
	),
	struct {
		A
		Renamed
	}{},
	struct {
		A
		DeepB
	}{},
	struct {
		L
		R
		Own int
	}{},
	struct {
		L
		R
		X string
	}{},
	struct {
		base
		Own int
	}{},
	struct {
		*base
		Own int
	}{},
	struct {
		myInt
		MyInt
	}{},
	struct {
		*MyInt
		Own int
	}{},
	struct {
		Base `json:"-"`
		Own  int
	}{},
	struct {
		Base `json:",omitempty"`
		Own  int
	}{},
	Loop{},
	struct {
		Middle
		Deep int `json:"deep"`
	}{},
	struct {
		Middle
		Top string
	}{},
	struct {
		ShadowDeep
		X int
	}{},
	struct {
		x int
		X int `json:"x"`
	}{},
	struct {
		Lower int `json:"x"`
		Upper int `json:"X"`
	}{},
	structOf(
		reflect.StructField{Name: "First", Type: reflect.TypeFor[int](), Tag: `json:"dup"`},
		reflect.StructField{Name: "Second", Type: reflect.TypeFor[int](), Tag: `json:"dup"`},
		reflect.StructField{Name: "Keep", Type: reflect.TypeFor[int]()},
	),
	struct {
		Raw   json.RawMessage
		T     time.Time
		Times []time.Time
		B     []byte
		N     int      `json:",string"`
		Ch    chan int `json:"-"`
		Dash  string   `json:"-,"`
		Map   map[int]Item
		Arr   [2]Item
		PP    **Item
		Any   any
	}{},
	withTime{},
	struct {
		withTime
		Y int
	}{},
	Hider{},
	Node{},
	Tree{},
	Ping{},
	Items{},
	map[string]Middle{},
}

// structOf returns the zero value of a struct type made of fields.
func structOf(fields ...reflect.StructField) any {
	return reflect.New(reflect.StructOf(fields)).Elem().Interface()
}

// TestMatchesEncodingJSON populates every field of each type and checks that
// the description names exactly the keys json.Marshal writes, in its order,
// at every level, and that each value has the described JSON type.
func TestMatchesEncodingJSON(t *testing.T) {
	for _, v := range marshalTable {
		typ := reflect.TypeOf(v)
		t.Run(typ.String(), func(t *testing.T) {
			p := reflect.New(typ)
			populate(p.Elem(), 0)
			b, err := json.Marshal(p.Interface())
			require.NoError(t, err)
			e := typedesc.ForType(typ)
			require.NotNil(t, e, "%s", b)
			var got any
			require.NoError(t, json.Unmarshal(b, &got))
			hidden := typ == reflect.TypeFor[Hider]()
			if !hidden && e.Type == "struct" {
				assert.Equal(t, topKeys(t, b), names(e.Fields), "%s", b)
			}
			checkShape(t, e.Type, e.Fields, got, "", 3, hidden)
		})
	}
}

func TestPlugsockTagDoesNotReviveConflicts(t *testing.T) {
	// Both X fields tie, so encoding/json writes neither, and hiding one of
	// them must not let the other through.
	assert.Nil(t, typedesc.TypeDescription(HideConflict{}))
	assert.Equal(t, []string{"Own"}, names(typedesc.TypeDescription(Hider{}).Fields))
}

// populate sets every value reachable from v, which must be addressable, to
// something encoding/json does not omit.
func populate(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	if !v.CanSet() {
		// Unexported embedded structs still contribute fields.
		v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	t := v.Type()
	if t == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Unix(1, 0).UTC()))
		return
	}
	if t.Implements(reflect.TypeFor[json.Marshaler]()) {
		return // its zero value is valid JSON, unlike arbitrary content
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		populate(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range t.NumField() {
			if sf := t.Field(i); sf.IsExported() || sf.Anonymous {
				populate(v.Field(i), depth+1)
			}
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		s := reflect.MakeSlice(t, 1, 1)
		populate(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			populate(v.Index(i), depth+1)
		}
	case reflect.Map:
		k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		populate(k, depth+1)
		populate(e, depth+1)
		m := reflect.MakeMap(t)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		if t.NumMethod() == 0 {
			v.Set(reflect.ValueOf("x"))
		}
	}
}

// topKeys returns the keys of the JSON object b in the order they appear.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

// checkShape compares a decoded JSON value with a description, down to
// depth struct levels; loose allows described fields to be missing.
func checkShape(t *testing.T, typ string, fields []typedesc.Entity, v any, path string, depth int, loose bool) {
	t.Helper()
	if v == nil || depth == 0 {
		return
	}
	if elem, ok := strings.CutPrefix(typ, "[]"); ok {
		arr, ok := v.([]any)
		if assert.True(t, ok, "%s: want array, got %T", path, v) {
			for i, x := range arr {
				checkShape(t, elem, fields, x, fmt.Sprintf("%s[%d]", path, i), depth, loose)
			}
		}
		return
	}
	if rest, ok := strings.CutPrefix(typ, "map["); ok {
		_, elem, _ := strings.Cut(rest, "]")
		obj, ok := v.(map[string]any)
		if assert.True(t, ok, "%s: want object, got %T", path, v) {
			for k, x := range obj {
				checkShape(t, elem, fields, x, path+"."+k, depth, loose)
			}
		}
		return
	}
	switch typ {
	case "any":
	case "string":
		assert.IsType(t, "", v, path)
	case "bool":
		assert.IsType(t, true, v, path)
	case "struct":
		obj, ok := v.(map[string]any)
		if !assert.True(t, ok, "%s: want object, got %T", path, v) || len(fields) == 0 {
			return
		}
		var keys []string
		for k := range obj {
			keys = append(keys, k)
		}
		if loose {
			assert.Subset(t, keys, names(fields), path)
		} else {
			assert.ElementsMatch(t, keys, names(fields), path)
		}
		for _, f := range fields {
			checkShape(t, f.Type, f.Fields, obj[f.Name], path+"."+f.Name, depth-1, loose)
		}
	default:
		assert.IsType(t, float64(0), v, "%s: %s", path, typ)
	}
}
