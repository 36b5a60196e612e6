//lint:file-ignore SA5008 tags encoding/json reads oddly are what the tests are about

package jsonfast_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/internal/jsonfast"
)

// check decodes data into a new T with Decode and fails t unless the result
// is what json.Unmarshal gives: Decode may refuse, leaving the T zero, but
// when it reports true, encoding/json must succeed with the same value. It
// reports whether Decode took the fast path.
func check[T any](t testing.TB, data []byte) (fast bool) {
	t.Helper()
	typ := reflect.TypeFor[T]()
	// Decode gets its own copy, so that we see whether it writes to its input
	// and, by overwriting the copy afterwards, whether its result shares
	// memory with it, as encoding/json's never does.
	in := bytes.Clone(data)
	p := new(T)
	fast = jsonfast.Decode(in, p)
	// The messages are made only on failure: dumping a value 10000 deep
	// for every input would be most of the test's time.
	if !bytes.Equal(in, data) {
		assert.Failf(t, "input changed", "Decode(%s) into %v changed its input to %s", show(data), typ, show(in))
	}
	if !fast {
		if !reflect.ValueOf(p).Elem().IsZero() {
			assert.Failf(t, "target changed", "Decode(%s) into %v reported false but left %s", show(data), typ, dump(*p))
		}
		return false
	}
	for i := range in {
		in[i] = 'x'
	}
	q := new(T)
	if err := json.Unmarshal(data, q); err != nil {
		assert.Failf(t, "encoding/json fails", "Decode(%s) into %v reported true with %s, but json.Unmarshal: %v",
			show(data), typ, dump(*p), err)
		return true
	}
	if !reflect.DeepEqual(*p, *q) {
		assert.Failf(t, "results differ", "Decode(%s) into %v:\n  Decode:         %s\n  json.Unmarshal: %s",
			show(data), typ, dump(*p), dump(*q))
		return true
	}
	// reflect.DeepEqual compares floats with ==, blind to the sign of a zero;
	// their encodings are not.
	pb, perr := json.Marshal(*p)
	qb, qerr := json.Marshal(*q)
	if perr == nil && qerr == nil && !bytes.Equal(pb, qb) {
		assert.Failf(t, "encodings differ", "Decode(%s) into %v:\n  Decode:         %s\n  json.Unmarshal: %s",
			show(data), typ, pb, qb)
	}
	return true
}

// show quotes data for a message, cut short, since some inputs are 100 KB.
func show(data []byte) string {
	const limit = 160
	if len(data) > limit {
		return fmt.Sprintf("%q... (%d bytes)", data[:limit], len(data))
	}
	return fmt.Sprintf("%q", data)
}

// dump shows v for a message: as Go syntax, which tells nil from empty and
// shows the bytes of strings, and as JSON, which follows pointers.
func dump(v any) string {
	s := fmt.Sprintf("%#v", v)
	if b, err := json.Marshal(v); err == nil {
		s += " = " + string(b)
	}
	if len(s) > 600 {
		s = s[:600] + "..."
	}
	return s
}

func mustMarshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func mustIndent(v any) string {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// nest wraps inner in n pairs of open and shut.
func nest(open, shut string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(shut, n)
}

// Item and Order are the shape of a typical message, the case the fast path
// is for.
type Item struct {
	ID      int    `json:"id"`
	Name    string `json:"name"`
	Price   int    `json:"price"`
	InStock bool   `json:"in_stock"`
}

type Order struct {
	ID       int    `json:"id"`
	Customer string `json:"customer"`
	Email    string `json:"email"`
	Status   string `json:"status"`
	Total    int    `json:"total"`
	Currency string `json:"currency"`
	Created  int64  `json:"created"`
	Items    []Item `json:"items"`
}

// newOrder is an Order of n items; json.Marshal escapes the & and <> in its
// names.
func newOrder(n int) Order {
	o := Order{ID: 1042, Customer: "Ada Lovelace", Email: "ada@example.com", Status: "shipped",
		Currency: "EUR", Created: 1700000000}
	for i := range n {
		o.Items = append(o.Items, Item{ID: i + 1, Name: fmt.Sprintf("R&D <part> #%d\n", i), Price: 100 + i, InStock: i%3 != 0})
		o.Total += 100 + i
	}
	return o
}

type (
	Str      string
	Int      int
	Uint8    uint8
	Float    float64
	Bool     bool
	Ints     []int
	Anything interface{}
)

// Tagged has every kind of tag encoding/json reads when decoding.
type Tagged struct {
	Renamed  int    `json:"renamed"`
	Skipped  int    `json:"-"`
	Dash     int    `json:"-,"`
	Omit     string `json:"omit,omitempty"`
	NoName   string `json:",omitempty"`
	Unknown  int    `json:"unknown,nosuchoption"`
	Invalid  int    `json:"it's"` // not a valid name: encoding/json uses "Invalid"
	Spaced   int    `json:"with space"`
	Punct    int    `json:"a.b-c/d"`
	Unicode  int    `json:"naïve"`
	Empty    int    `json:""`
	OtherKey int    `xml:"other"`
	Shadowed int    // the tagged field named "Shadowed" dominates it: never decoded
	Shadow   int    `json:"Shadowed"`
}

// PlainTagged has the tags of Tagged that Decode takes on itself; the
// others it may leave to encoding/json for the whole type.
type PlainTagged struct {
	Renamed  int    `json:"renamed"`
	Skipped  int    `json:"-"`
	Dash     int    `json:"-,"`
	Omit     string `json:"omit,omitempty"`
	NoName   string `json:",omitempty"`
	Unknown  int    `json:"unknown,nosuchoption"`
	Punct    int    `json:"a.b-c_d"`
	Digits   int    `json:"123"`
	Empty    int    `json:""`
	OtherKey int    `xml:"other"`
}

// ASCIIFold is Fold without its non-ASCII name, which Decode may refuse.
type ASCIIFold struct {
	Key    int
	Sun    int
	Kelvin int `json:"k"`
	Name   string
	NAME   string
}

// Unexported fields are never decoded, even when a key matches them exactly.
type Unexported struct {
	X int
	//lint:ignore U1000 an unexported field is what is tested
	x int
	//lint:ignore U1000 as x
	y string
	Y string `json:"y2"`
}

// Fold has names that keys match case-insensitively, by Unicode folding:
// "\u212a" (Kelvin) folds to K and "\u017f" (long s) to S.
type Fold struct {
	Key    int
	Sun    int
	Kelvin int `json:"k"`
	Ä      int
	Name   string
	NAME   string // "name" matches Name, the first of the two
}

type Ptrs struct {
	I  *int
	PP **string
	S  *Item
	L  *[]int
	M  *map[string]int
	A  *any
	F  *float32
}

// Mixed has a field of every kind the fast path handles.
type Mixed struct {
	Name  string  `json:"name"`
	N     int16   `json:"n"`
	F     float32 `json:"f"`
	B     bool    `json:"b"`
	U     uint8   `json:"u"`
	Inner struct {
		A int
		B []string
	} `json:"inner"`
	List []Item           `json:"list"`
	Arr  [2]int8          `json:"arr"`
	Map  map[string]int   `json:"map"`
	PMap map[string]*Item `json:"pmap"`
	Ptr  *Item            `json:"ptr"`
	Any  any              `json:"any"`
	Anys []any            `json:"anys"`
	Data []byte           `json:"data"`
}

var sampleMixed = Mixed{
	Name: "m", N: -3, F: 1.5, B: true, U: 200,
	Inner: struct {
		A int
		B []string
	}{A: 1, B: []string{"x", "y"}},
	List: []Item{{ID: 1, Name: "a", Price: 2, InStock: true}},
	Arr:  [2]int8{-1, 1},
	Map:  map[string]int{"a": 1, "b": -2},
	PMap: map[string]*Item{"p": {ID: 2}, "nil": nil},
	Ptr:  &Item{ID: 3},
	Any:  map[string]any{"k": []any{1.0, "s", nil, true}},
	Anys: []any{1.0, "a", nil, []any{}, map[string]any{}},
	Data: []byte("\x00\xffdata"),
}

// Node and Tree are recursive, through slices, pointers and maps.
type Node struct {
	Val  int              `json:"val"`
	Kids []Node           `json:"kids"`
	Next *Node            `json:"next"`
	Meta map[string]*Node `json:"meta"`
}

var sampleNode = Node{Val: 1, Kids: []Node{{Val: 2}, {Val: 3, Next: &Node{Val: 4}}},
	Meta: map[string]*Node{"x": {Val: 5, Kids: []Node{}}, "nil": nil}}

type Tree struct {
	L, R *Tree
	V    string
}

// Types outside the subset, and types holding one: Decode must refuse any
// input that reaches the part outside it.
type (
	Inner    struct{ A int }
	inner    struct{ C int }
	Embedded struct {
		Inner
		B int
	}
	EmbeddedPtr struct {
		*Inner
		B int
	}
	// encoding/json promotes C.
	EmbeddedUnexported struct {
		inner
		B int
	}
	// encoding/json fails to set C, through a nil pointer to an unexported type.
	EmbeddedUnexportedPtr struct {
		*inner
		B int
	}
	EmbeddedScalar struct {
		Int
		B int
	}
	StringOpt struct {
		N int    `json:"n,string"`
		S string `json:"s,string"`
		B bool   `json:",string"`
	}
	Custom      struct{ N int }
	ValueCustom int
	Text        string
	TextKey     string
	Byte        uint8
	WithTime    struct{ T time.Time }
	WithNumber  struct{ N json.Number }
	WithCustom  struct{ C Custom }
	WithText    struct{ T Text }
	WithStringr struct{ S fmt.Stringer }
)

func (c *Custom) UnmarshalJSON(b []byte) error { c.N = len(b); return nil }

// UnmarshalJSON has a value receiver; encoding/json calls it, ignoring the input.
func (ValueCustom) UnmarshalJSON([]byte) error { return nil }

func (x *Text) UnmarshalText(b []byte) error    { *x = Text("text:" + string(b)); return nil }
func (k *TextKey) UnmarshalText(b []byte) error { *k = TextKey("key:" + string(b)); return nil }

// deepInputs nest past encoding/json's limit of 10000 levels, and up to it,
// and around depths a decoder might bound its own recursion at.
var deepInputs = append([]string{
	strings.Repeat("[", 100000),
	strings.Repeat(`{"a":`, 100000),
	nest("[", "]", 100000, ""),
	nest("[", "]", 10000, ""),
	nest("[", "]", 10001, ""),
	nest("[", "]", 10000, "1"),
	nest("[", "]", 9999, "{}"),
	nest("[", "]", 10000, "{}"),
	nest(`{"a":`, "}", 10000, "1"),
	nest(`{"a":`, "}", 10001, "1"),
	nest(`{"a":[`, "]}", 5000, ""),
	nest(`{"a":[`, "]}", 5001, ""),
}, boundaryDepths()...)

func boundaryDepths() []string {
	var inputs []string
	for _, n := range []int{63, 64, 65, 127, 128, 129, 199, 200, 201, 255, 256, 257, 1000, 1024, 1025} {
		inputs = append(inputs, nest("[", "]", n, "1"), nest(`{"a":`, "}", n, "1"), nest(`{"next":`, "}", n, "{}"))
	}
	return inputs
}

// commonInputs are decoded into every type: mostly mismatches for most.
var commonInputs = append([]string{
	"", " ", "\n\t\r ", "null", " null ", "\tnull\r\n", "nul", "nulll", "NULL", "null null", "null,",
	"true", "false", "tru", "falsey", "True",
	"0", "1", "-0", "1.5", "300", "-1", "1e400", "1e2",
	`""`, `"x"`, `"null"`, `"1"`, `"`, `"x`,
	"[]", "[null]", "[1]", "[", "]", "[1,]", "[,1]",
	"{}", `{"a":1}`, `{"a":null}`, "{", "}", `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `{1:1}`, `{"a" 1}`,
	"1 2", "1x", "[] []", "{}}", "[]]", `"a""b"`, "\xff", "\x00", "null\x00",
	"\ufeffnull", "\fnull", "null\v", "\u00a0null", "/**/null",
}, deepInputs...)

var numberInputs = []string{
	"0", "-0", "1", "-1", "7", "127", "128", "-128", "-129", "255", "256", "32767", "32768", "-32769",
	"65535", "65536", "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"18446744073709551615", "18446744073709551616", "100000000000000000000000",
	"1.5", "-1.5", "1.0", "0.0", "-0.0", "1e2", "1E+2", "1e-2", "1E2", "1e0", "0e0", "-0e-0", "1E-0",
	"1e400", "-1e400", "1e-400", "-1e-400", "1e-5000000000", "1e5000000000",
	"3.4028234663852886e38", "3.4028235e38", "3.40282356e38", "3.4028236e38", "1e39", "1.4e-45", "1e-46",
	"1.0000000596046447753906251", // float32 rounds it up; via float64 it would be 1
	"1.00000005960464477539062499",
	"16777217", "9007199254740993", "0.1", "0.30000000000000004", "2.2250738585072011e-308",
	"1.7976931348623157e308", "1.7976931348623159e308", "4.9e-324", "2e-324",
	"123456789012345678901234567890e-10", "0.000000000000000000000000000001e30",
	"100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000e-90",
	"01", "-01", "00", "1.", ".5", "-", "+1", "1e", "1e+", "--1", "-a", "0x1F", "1_000", "Infinity", "-Infinity",
	"NaN", "1,", " 1 ", "\t-0\n", "1e2.5", "1.5.5", "[1]", `"1"`,
}

var boolInputs = []string{"true", "false", " true ", "TRUE", "truex", "true1", "1", "0", `"true"`, "[true]"}

var stringInputs = []string{
	`""`, `"plain"`, `"a\nb"`, `"\n\"\\\/\b\f\r\t"`, `"\u00e9"`, `"\u00E9"`, "\"é\"", `"\ud83d\ude00"`,
	`"\uD83D\uDE00"`, "\"😀\"", `"\ud800"`, `"\udc00"`, `"\ud800x"`, `"\ud800\u0041"`, `"\ud800\ud800\udc00"`,
	`"\udbff\udfff"`, `"\ud800\\"`, `"\ud800\n"`, `"\u0000"`, `"\u001f"`, `"\u2028\u2029"`, `"\u003chtml\u003e \u0026"`,
	"\"\xff\"", "\"a\xffb\"", "\"\xe2\x82\"", "\"\xe2\x82\xac\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
	"\"\xc0\xaf\"", "\"\x7f\"", "\"\t\"", "\"\n\"", "\"\x01\"", "\"\x1f\"",
	`"\x41"`, `"\'"`, `"\a"`, `"\u12"`, `"\u12g4"`, `"\U0041"`, `"\`, `"\"`, `"abc`, `abc"`, `'a'`, `"a" "b"`,
	`"` + strings.Repeat(`long \"text\" \u00e9 `, 200) + `"`,
}

// specialStrings are JSON strings with one byte or escape a string's scan
// must notice, at each offset in the first two of the eight-byte words a
// scanner might read at once, and the bytes next to those in value.
func specialStrings() []string {
	var inputs []string
	for _, special := range []string{
		`\n`, `\"`, `\\`, `\/`, `\u00e9`, `\ud83d\ude00`, `\ud800`, `\q`, "\x1f", "\x00", "\x7f", "\x80", "\xff",
		"é", `"`, `\`, " ", "!", "#", "[", "]",
	} {
		for k := range 18 {
			inputs = append(inputs, `"`+strings.Repeat("a", k)+special+strings.Repeat("b", 17-k)+`"`)
		}
	}
	return inputs
}

// asKeys and asSkipped put JSON strings where an object's key is read, and
// where an unknown member's value is checked and dropped.
func asKeys(strs []string) []string {
	var inputs []string
	for _, s := range strs {
		inputs = append(inputs, "{"+s+":1}", `{"a":1,`+s+`:2}`)
	}
	return inputs
}

func asSkipped(strs []string) []string {
	var inputs []string
	for _, s := range strs {
		inputs = append(inputs, `{"unknown":`+s+`,"id":1}`, `{"unknown":[`+s+`]}`)
	}
	return inputs
}

var listInputs = []string{
	"[]", "[ ]", "[1]", "[1,2]", "[1,2,3]", "[1,2,3,4,5]", "[null]", "[1,null,3]", "[null,null]", "[null,1]",
	"[ 1 , 2 ]", "\n[\n1\n,\n2\n]\n", `["a"]`, `["a","b","c"]`, "[1.5]", "[300]", "[-1]", "[-0]", "[1e2]",
	"[true]", "[[]]", "[[1],[2,3]]", "[[1],null,[]]", "[[1,2],[3,4],[5,6]]", "[{}]", `[{"a":1}]`,
	`[1,2,"x"]`, "[1,2,300]", "[1,2,[3]]", "[1,2,{}]", "[1 2]", "[1,,2]", "[1,]", "[", "[1", "[1,", "[]1", "[1}",
}

var objectInputs = []string{
	"{}", "{ }", `{"a":1}`, `{"a":1,"b":2}`, `{"a":null}`, `{"a":1,"a":2}`, `{"a":1,"a":null}`,
	`{"a":[1],"a":[2,3]}`, `{"a":[1,2],"a":[3]}`, `{"a":{"x":1},"a":{"y":2}}`, `{"a":"x","a":"y"}`,
	`{"":1}`, `{"\u0061":1}`, `{"a\nb":1}`, `{"\ud800":1}`, "{\"\xff\":1}", `{"é":1}`, `{"\u212a":1}`,
	`{"A":1,"a":2}`, `{"a":"x"}`, `{"a":[1,2]}`, `{"a":{"b":{"c":null}}}`, `{"a":1.5}`, `{"a":true}`,
	`{"a":300}`, `{"a":-1}`, `{"a":1e400}`, `{"a":"\ud83d\ude00\n"}`,
	` { "a" : 1 , "b" : [ 1 , 2 ] } `, "{\n\t\"a\": 1\n}",
	`{"a":1,}`, `{"a":1 "b":2}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1}}`, `{"a":1`, `{"a"::1}`, `{,"a":1}`,
	`{'a':1}`, `{"a":1]`,
}

// base64Inputs are for []byte, which encoding/json decodes from base64.
func base64Inputs() []string {
	inputs := []string{
		`""`, `"AQID"`, `"AQIDBA=="`, `"AQIDBAU="`, `"QQ=="`, `"QR=="`, `"QUI="`, `"QUJ="`, `"QUJD"`, `"===="`,
		`"A==="`, `"AA=A"`, `"AAAA===="`, `"AAA="`, `"AA"`, `"AAA"`, `"A"`, `"AA=="`, `"AA==AA=="`, `"+/+/"`,
		`"-_-_"`, `"AQ\u0049D"`, `"AQ\nID"`, `"AQ ID"`, "\"AQ\rID\"", "\"AQ\nID\"", `"AQID\/"`, `"AQ\/D"`,
		`"\u0041\u0041\u0041\u0041"`, `"AQID`, `"AQID\"`, "\"AQ\xffD\"", `"AQID"x`,
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	// Long ones reach the vector code, whose blocks might mishandle a
	// tail or a bad character far in.
	for _, n := range []int{1, 2, 3, 5, 11, 12, 23, 24, 25, 31, 32, 33, 47, 48, 49, 63, 64, 65, 95, 96, 97, 100, 255, 256} {
		enc := base64.StdEncoding.EncodeToString(all[:n])
		inputs = append(inputs, `"`+enc+`"`)
		for _, at := range []int{0, len(enc) / 2, len(enc) - 5} {
			if at < 0 {
				continue
			}
			for _, c := range []string{"*", "=", "-", "_", " ", "\\n"} {
				inputs = append(inputs, `"`+enc[:at]+c+enc[at+1:]+`"`)
			}
		}
		// Flip the last data character's low bits, which padding discards.
		if end := strings.TrimRight(enc, "="); len(end) < len(enc) {
			last := strings.IndexByte(base64Alphabet, end[len(end)-1])
			inputs = append(inputs, `"`+end[:len(end)-1]+string(base64Alphabet[last^1])+enc[len(end):]+`"`)
		}
	}
	return inputs
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// refuseInputs suit the types outside the subset and those holding one.
var refuseInputs = []string{
	`"2020-01-02T03:04:05Z"`, `"aGVsbG8="`, `"12"`, `[1,2]`, `{"A":1,"B":2,"C":3,"Int":4}`,
	`{"n":"12","s":"\"x\"","B":"true"}`, `{"n":12}`, `{"1":"a","-2":"b"}`, `{"true":1}`, `{"1.5":1}`,
	`{"a":"x"}`, `{"N":1}`, `{"C":{}}`, `{"T":"2020-01-02T03:04:05Z"}`, `{"N":"12"}`, `{"N":12}`, `{"S":null}`,
	`{"C":null}`,
}

func concat(lists ...[]string) []string {
	var all []string
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// A decodeCase is a type and the inputs to decode into it, besides
// commonInputs.
type decodeCase struct {
	name   string
	check  func(testing.TB, []byte) bool
	inputs []string
	fast   []string // inputs that must take the fast path
	refuse bool     // the type is outside the subset: Decode must refuse every input
	// reach are inputs that reach a part of the type outside the subset,
	// which Decode must refuse. Others it may decode: [] into a
	// []time.Time is what encoding/json makes it.
	reach []string
}

func typ[T any](inputs ...[]string) decodeCase {
	return decodeCase{name: reflect.TypeFor[T]().String(), check: check[T], inputs: concat(inputs...)}
}

func (c decodeCase) wantFast(inputs ...string) decodeCase {
	c.fast = append(c.fast, inputs...)
	return c
}

// reaching adds inputs that reach a part of the type outside the subset.
func (c decodeCase) reaching(inputs ...string) decodeCase {
	c.reach = append(c.reach, inputs...)
	return c
}

func (c decodeCase) refused() decodeCase {
	c.inputs = append(c.inputs, refuseInputs...)
	c.refuse = true
	return c
}

func list(s ...string) []string { return s }

func decodeCases() []decodeCase {
	order := newOrder(3)
	orderInputs := list(
		mustMarshal(order), mustIndent(order), mustMarshal(Order{}), mustMarshal(newOrder(0)),
		`{"id":null,"customer":null,"email":null,"status":null,"total":null,"currency":null,"created":null,"items":null}`,
		`{"items":[null]}`, `{"items":[{"id":null,"name":null,"price":null,"in_stock":null}]}`, `{"items":[]}`,
		`{"id":"1"}`, `{"id":1.5}`, `{"id":1e2}`, `{"id":-0}`, `{"created":9223372036854775808}`, `{"customer":1}`,
		`{"items":{}}`, `{"items":[1]}`, `{"items":[{"in_stock":"true"}]}`, `{"items":[{"in_stock":1}]}`,
		`{"id":1,"id":2}`, `{"id":1,"id":"x"}`, `{"items":[{"id":1},{"id":2}],"items":[{"name":"x"}]}`,
		`{"items":[{"id":1}],"items":[]}`, `{"items":[{"id":1}],"items":null}`, `{"items":[{"id":1,"id":2}]}`,
		`{"ID":1,"Customer":"x","EMAIL":"y","Items":[{"In_Stock":true,"NAME":"n"}]}`, `{"items":[{"instock":true}]}`,
		`{"unknown":{"deep":[1,2,{"x":null}],"s":"\ud800"},"id":1}`, `{"unknown":[1,2,3],"unknown":"x"}`,
		`{"unknown":[1,2,}`, `{"unknown":01}`, `{"unknown":"\x"}`, "{\"unknown\":\"\x01\"}",
		`{"id":300,"customer":"\u212a"}`, `{"id":1}x`, `{"id":1}}`, `{"id":1,}`,
		`{"id" :1 , "items" : [ { "id" : 2 } ] }`, "{\"customer\":\"\xff\"}", `{"customer":"\ud83d\ude00 \u00e9 \n"}`,
	)
	fastOrders := list(mustMarshal(order), mustIndent(order), mustMarshal(newOrder(0)),
		`{"id":7,"customer":"Bo \"B\" \\ Jo\n","items":[{"id":1,"name":"x","price":3,"in_stock":false}]}`)

	fold := list(`{"\u212aey":1}`, "{\"\u212aey\":1}", `{"KEY":1}`, `{"kEy":2,"Key":1}`, `{"Key":1,"kEy":2}`,
		`{"\u017fun":1}`, "{\"\u017fun\":1}", `{"SUN":1}`, `{"\u212a":1}`, `{"K":1}`, `{"k":1}`, `{"Kelvin":1}`,
		`{"ä":1}`, `{"\u00c4":1}`, `{"Ä":1,"ä":2}`, `{"Name":"a"}`, `{"NAME":"a"}`, `{"name":"a"}`,
		`{"nAmE":"a","Name":"b"}`, `{"Name":"a","NAME":"b","name":"c"}`, `{"N\u0061me":"a"}`, `{"Name\u0000":"a"}`,
		"{\"\xffame\":1}", `{"Ke":1}`, `{"Keyy":1}`)

	tagged := list(`{"renamed":1}`, `{"Renamed":1}`, `{"RENAMED":1,"renamed":2}`, `{"Skipped":1}`, `{"-":1}`,
		`{"Dash":1}`, `{"omit":"x","NoName":"y"}`, `{"Omit":"x"}`, `{"unknown":1}`, `{"Unknown":1}`, `{"it's":1}`,
		`{"Invalid":1}`, `{"with space":1}`, `{"WITH SPACE":1}`, `{"a.b-c/d":1}`, `{"naïve":1}`, `{"NAÏVE":1}`,
		`{"Empty":1}`, `{"":1}`, `{"OtherKey":1}`, `{"other":1}`, `{"Shadowed":1}`, `{"Shadow":1}`, `{"shadowed":1}`,
		`{"renamed":1,"-":2,"omit":"o","NoName":"n","unknown":3,"Invalid":4,"with space":5,"a.b-c/d":6,"naïve":7,"Empty":8,"OtherKey":9,"Shadowed":10}`,
		`{"renamed":null,"-":null}`, `{"renamed":"1"}`)

	unexported := list(`{"x":1}`, `{"X":1,"x":2}`, `{"x":2,"X":1}`, `{"y":"a"}`, `{"y2":"a"}`, `{"Y":"a"}`, `{"y":1}`)

	ptrs := list(`{"I":1,"PP":"s","S":{"id":1},"L":[1],"M":{"a":1},"A":{"b":[1]},"F":1.5}`,
		`{"I":null,"PP":null,"S":null,"L":null,"M":null,"A":null,"F":null}`, `{"PP":"\u00e9"}`, `{"A":null}`,
		`{"A":1}`, `{"L":[]}`, `{"M":{}}`, `{"L":[null]}`, `{"S":{"id":1},"S":{"name":"x"}}`,
		`{"S":{"id":1},"S":null}`, `{"I":1,"I":2}`, `{"A":{"a":1},"A":{"b":2}}`, `{"L":[1,2],"L":[3]}`,
		`{"M":{"a":1},"M":{"b":2}}`, `{"I":"1"}`, `{"F":1e39}`, `{"I":1.5}`, `{"S":[]}`)

	mixed := list(mustMarshal(sampleMixed), mustIndent(sampleMixed), mustMarshal(Mixed{}),
		`{"inner":{"A":1},"inner":{"B":["x"]}}`, `{"map":{"a":1},"map":{"b":2}}`, `{"arr":[1],"arr":[2,3]}`,
		// encoding/json zeroes what a repeated array's second value does not reach.
		`{"arr":[1,2],"arr":[3]}`, `{"arr":[1,2],"arr":[]}`, `{"inner":{"B":["a","b"]},"inner":{"B":["c"]}}`,
		`{"arr":[1,2,3]}`, `{"arr":[1,2,"x"]}`, `{"arr":[1,2,300]}`, `{"arr":[300]}`, `{"arr":null}`,
		`{"pmap":{"a":{"id":1},"a":{"name":"x"}}}`, `{"pmap":{"a":null}}`, `{"list":[{"id":1}],"list":[{"name":"x"}]}`,
		`{"any":{"a":1},"any":{"b":2}}`, `{"any":[1],"any":[2,3]}`, `{"any":-0}`, `{"any":1e400}`, `{"anys":[1e400]}`,
		`{"f":1.0000000596046447753906251}`, `{"f":3.4028236e38}`, `{"u":256}`, `{"n":-32769}`, `{"b":null}`,
		`{"Name":"a","name":"b"}`, `{"NAME":"x"}`, `{"ptr":{}}`, `{"ptr":{"id":1},"ptr":{"price":2}}`)

	tree := list(`{"L":{"V":"l"},"R":{"R":{"V":"rr"}},"V":"root"}`, `{"L":null,"R":null}`, `{"L":{"L":{"L":{}}}}`,
		nest(`{"L":`, "}", 9999, "{}"), nest(`{"L":`, "}", 10000, "{}"), `{"L":{"V":1}}`, `{"L":[]}`)
	node := list(mustMarshal(sampleNode), mustIndent(sampleNode), `{"kids":[{"kids":[{"kids":[]}]}]}`,
		`{"next":{"next":{"val":3}}}`, `{"meta":{"a":{"meta":{"b":null}}}}`, `{"kids":[null,{"val":1}]}`,
		`{"kids":[{"val":1}],"kids":[{"next":{}}]}`, `{"next":{"val":1},"next":{"kids":[]}}`,
		`{"meta":{"a":{"val":1},"a":{"kids":[]}}}`, `{"val":1,"val":2}`, `{"kids":{}}`, `{"next":[]}`,
		nest(`{"next":`, "}", 9999, "{}"), nest(`{"next":`, "}", 10000, "{}"),
		nest(`{"kids":[`, "]}", 4999, "{}"), nest(`{"kids":[`, "]}", 5000, "{}"))

	anyFast := list(`{"a":1,"b":"x","c":[true,null],"d":{"e":1.5}}`, mustMarshal(order))

	return []decodeCase{
		typ[int](numberInputs).wantFast("1", "-42", "0"),
		typ[int8](numberInputs),
		typ[int16](numberInputs),
		typ[int32](numberInputs),
		typ[int64](numberInputs).wantFast("9223372036854775807"),
		typ[uint](numberInputs),
		typ[uint8](numberInputs),
		typ[uint16](numberInputs),
		typ[uint32](numberInputs),
		typ[uint64](numberInputs).wantFast("18446744073709551615"),
		typ[uintptr](numberInputs),
		typ[float32](numberInputs),
		typ[float64](numberInputs).wantFast("1.5", "-2", "0.1"),
		typ[Int](numberInputs),
		typ[Uint8](numberInputs),
		typ[Float](numberInputs),
		typ[bool](boolInputs).wantFast("true", "false"),
		typ[Bool](boolInputs),
		typ[string](stringInputs, specialStrings()).wantFast(`"plain"`, `"a\nb"`, `"tab\there \"quoted\" \\ back \/"`, `""`),
		typ[Str](stringInputs),

		typ[*int](numberInputs).wantFast("1"),
		typ[**int](numberInputs),
		typ[***string](stringInputs),
		typ[*string](stringInputs),
		typ[*Order](orderInputs).wantFast(fastOrders...),
		typ[*[]int](listInputs),
		typ[*map[string]int](objectInputs),
		typ[*any](objectInputs, listInputs),
		typ[*struct{}](objectInputs),

		typ[[]int](listInputs).wantFast("[1,2,3]", "[]", "[ 1, -2 ]"),
		typ[[]int8](listInputs),
		typ[[]uint16](listInputs),
		typ[[]float32](listInputs, list("[1.0000000596046447753906251]", "[3.4028236e38]", "[-0]")),
		typ[[]bool](listInputs, list("[true,false,null]")),
		typ[[]string](listInputs, list(`["a\n","\u00e9","\ud800"]`, "[\"\xff\"]")).wantFast(`["a","b\n"]`),
		typ[[]*int](listInputs),
		typ[[][]int](listInputs),
		typ[[]Item](listInputs, list(`[{"id":1},{"name":"x"}]`, `[{"id":1},null,{}]`)),
		typ[Ints](listInputs),
		typ[[]map[string]int](listInputs, list(`[{"a":1},{"a":null},null,{}]`)),
		typ[[]any](listInputs, list(`[1,"a",null,true,[],{}]`, "[-0]", "[1e400]")).wantFast(`[1,"a",null]`),
		typ[[][]any](listInputs),

		typ[[0]int](listInputs),
		typ[[2]int8](listInputs),
		typ[[3]string](listInputs, list(`["a","b","c","d"]`, `["a",null,"c"]`, `["a",1]`)),
		typ[[2][2]int](listInputs),
		typ[[2]*int](listInputs),
		typ[[2]any](listInputs),
		typ[[4]uint8](listInputs, list(`"AQID"`, "[1,2,3,4]", "[255,256]")),
		// Decode takes base64 in a string into a []byte, though not an
		// array of numbers.
		typ[[]byte](base64Inputs(), listInputs),
		typ[[][]byte](listInputs, list(`["AQID",null,""]`)),
		typ[[2]Item](listInputs, list(`[{"id":1},{"id":2},{"id":3}]`, `[{"id":1},{"id":"x"}]`)),

		typ[map[string]int](objectInputs, asKeys(stringInputs), asKeys(specialStrings())).wantFast(`{"a":1,"b":2}`, `{}`),
		typ[map[Str]Int](objectInputs),
		typ[map[string]*int](objectInputs),
		typ[map[string][]int](objectInputs),
		typ[map[string]map[string]string](objectInputs, list(`{"a":{"b":"c"},"a":{"d":"e"}}`)),
		typ[map[string]any](objectInputs, list(`{"a":-0}`, `{"a":[1,{"b":null}]}`)).wantFast(anyFast...),
		typ[map[Str]any](objectInputs),
		typ[map[string]Item](objectInputs, list(`{"a":{"id":1},"a":{"name":"x"}}`, `{"a":{"id":1,"id":2}}`)),
		typ[map[string]*Item](objectInputs, list(`{"a":{"id":1},"a":{"name":"x"}}`, `{"a":null}`)),
		typ[map[string]float32](objectInputs, list(`{"a":1.0000000596046447753906251}`)),
		typ[map[string][]any](objectInputs),
		typ[map[string]string](objectInputs, list(`{"\u212a":"\u212a","\ud83d\ude00":"\ud83d"}`)),

		typ[any](numberInputs, stringInputs, listInputs, objectInputs).wantFast(anyFast...).wantFast("1", `"x"`, "[1]"),
		typ[Anything](objectInputs, listInputs),

		typ[Order](orderInputs, asKeys(specialStrings()), asSkipped(stringInputs), asSkipped(specialStrings())).
			wantFast(fastOrders...),
		typ[Item](orderInputs),
		typ[struct{}](objectInputs),
		typ[Tagged](tagged, objectInputs),
		typ[PlainTagged](tagged, objectInputs, list(`{"a.b-c_d":1,"A.B-C_D":2}`, `{"A.b-C_d":1}`, `{"123":1}`)).
			wantFast(`{"renamed":1,"-":2,"omit":"o","NoName":"n","unknown":3,"a.b-c_d":4,"123":5,"Empty":6,"OtherKey":7}`,
				`{"RENAMED":1,"Skipped":2,"Dash":3,"OMIT":"o","noname":"n","other":4}`),
		typ[Unexported](unexported, objectInputs),
		typ[Fold](fold, objectInputs),
		typ[ASCIIFold](fold, objectInputs).wantFast(`{"KEY":1,"sun":2,"K":3,"name":"a"}`, `{"NAME":"a","Name":"b"}`),
		typ[Ptrs](ptrs, objectInputs),
		typ[Mixed](mixed, objectInputs).wantFast(mustMarshal(sampleMixed), mustIndent(sampleMixed)),
		typ[Node](node, objectInputs).wantFast(mustMarshal(sampleNode)),
		typ[[]Node](listInputs, list("["+mustMarshal(sampleNode)+",{}]")),
		typ[*Tree](tree, objectInputs),

		typ[time.Time]().refused(),
		typ[*time.Time]().refused(),
		typ[[]time.Time](refuseInputs).reaching(`["2020-01-02T03:04:05Z"]`, "[null]", "[1]"),
		typ[WithTime](refuseInputs).reaching(`{"T":"2020-01-02T03:04:05Z"}`, `{"T":null}`),
		typ[json.RawMessage](objectInputs).refused(),
		typ[*json.RawMessage]().refused(),
		typ[json.Number](numberInputs).refused(),
		typ[WithNumber](refuseInputs).reaching(`{"N":12}`, `{"N":"12"}`, `{"N":null}`),
		typ[map[string]json.Number](refuseInputs).reaching(`{"a":1}`, `{"a":null}`),
		typ[[]Byte](stringInputs, listInputs).refused(),
		typ[Embedded]().refused(),
		typ[EmbeddedPtr]().refused(),
		typ[EmbeddedUnexported]().refused(),
		typ[EmbeddedUnexportedPtr]().refused(),
		typ[EmbeddedScalar]().refused(),
		typ[StringOpt]().refused(),
		typ[map[int]string]().refused(),
		typ[map[Int]string]().refused(),
		typ[map[bool]int]().refused(),
		typ[map[float64]int]().refused(),
		typ[map[TextKey]int]().refused(),
		typ[Custom]().refused(),
		typ[*Custom]().refused(),
		// encoding/json calls UnmarshalJSON even for a null, but for a
		// pointer's.
		typ[[]Custom](refuseInputs).reaching("[1]", "[null]", "[{}]"),
		typ[[2]Custom](listInputs).reaching("[1]", "[null]"),
		typ[WithCustom](refuseInputs).reaching(`{"C":null}`, `{"C":{}}`, `{"C":1}`),
		typ[ValueCustom](numberInputs).refused(),
		typ[Text](stringInputs).refused(),
		typ[WithText](refuseInputs).reaching(`{"T":"x"}`, `{"T":null}`),
		typ[map[string]Text](refuseInputs).reaching(`{"a":"x"}`, `{"a":null}`),
		typ[fmt.Stringer]().refused(),
		typ[error]().refused(),
		typ[WithStringr](refuseInputs).reaching(`{"S":null}`, `{"S":{}}`),
		typ[[]fmt.Stringer](refuseInputs).reaching("[null]", "[1]"),
		typ[complex128](numberInputs).refused(),
		typ[chan int]().refused(),
		typ[func()]().refused(),
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, data := range tc.reach {
				assert.Falsef(t, tc.check(t, []byte(data)), "Decode(%s) into %s reported true", show([]byte(data)), tc.name)
			}
			for _, data := range tc.fast {
				assert.Truef(t, tc.check(t, []byte(data)), "Decode(%s) into %s took the slow path", show([]byte(data)), tc.name)
			}
			n := 0
			for _, data := range concat(commonInputs, tc.inputs) {
				fast := tc.check(t, []byte(data))
				if tc.refuse {
					assert.Falsef(t, fast, "Decode(%s) into %s, a type outside the subset, reported true", show([]byte(data)), tc.name)
				}
				if fast {
					n++
				}
			}
			t.Logf("%d of %d inputs took the fast path", n, len(commonInputs)+len(tc.inputs))
		})
	}
}

// TestDecodeNonZero checks that Decode refuses a target already holding a
// value, which encoding/json would merge into, and leaves it as it was.
func TestDecodeNonZero(t *testing.T) {
	tests := []struct {
		name string
		data string
		new  func() any // a new pointer to the same non-zero value each call
	}{
		{"int", "2", func() any { v := 1; return &v }},
		{"string", `"b"`, func() any { v := "a"; return &v }},
		{"struct, same field", `{"id":2}`, func() any { return &Order{ID: 1} }},
		{"struct, other field", `{"customer":"x"}`, func() any { return &Order{ID: 1} }},
		{"struct, slice field", `{"items":[{"name":"x"}]}`, func() any { return &Order{Items: []Item{{ID: 1}}} }},
		{"slice", "[2]", func() any { return &[]int{1} }},
		{"empty slice", "[1]", func() any { return &[]int{} }},
		{"map", `{"b":2}`, func() any { return &map[string]int{"a": 1} }},
		{"empty map", `{"a":1}`, func() any { return &map[string]int{} }},
		{"array", "[9]", func() any { return &[2]int{0, 1} }},
		{"any", `{"a":1}`, func() any { var v any = 1.0; return &v }},
		{"any holding a pointer", "2", func() any { var v any = new(int); return &v }},
		{"pointer to zero", "2", func() any { p := new(int); return &p }},
		{"map[string]any", `{"b":2}`, func() any { return &map[string]any{"a": 1.0} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// encoding/json accepts the input: refusing it is down to the target.
			require.NoError(t, json.Unmarshal([]byte(tt.data), tt.new()))
			v := tt.new()
			assert.False(t, jsonfast.Decode([]byte(tt.data), v))
			assert.Equal(t, tt.new(), v)
		})
	}

	t.Run("pointee", func(t *testing.T) {
		// The target's own bytes do not change when Decode writes through a
		// pointer in it, so look at what it points to.
		x := 1
		v := struct{ P *int }{P: &x}
		assert.False(t, jsonfast.Decode([]byte(`{"P":2}`), &v))
		assert.Same(t, &x, v.P)
		assert.Equal(t, 1, x)
	})
}

// TestDecodeBadTarget checks the targets encoding/json rejects with an
// InvalidUnmarshalError, or could only write through.
func TestDecodeBadTarget(t *testing.T) {
	data := []byte(`{"id":1}`)
	var nilAny any
	var nilMap map[string]any
	for _, v := range []any{
		nil, nilAny, Order{}, 1, "s", nilMap, map[string]any{}, []int{}, (*Order)(nil), (**Order)(nil), (*any)(nil),
	} {
		assert.Falsef(t, jsonfast.Decode(data, v), "Decode into %#v", v)
		assert.Falsef(t, jsonfast.Decode([]byte("1"), v), "Decode into %#v", v)
	}
}

// TestDecodeConcurrent decodes from several goroutines at once, for the race
// detector to see any shared state Decode keeps, such as a cache of types.
func TestDecodeConcurrent(t *testing.T) {
	// Types declared here are new to Decode, so the goroutines race to be
	// the first to use them.
	type leaf struct {
		A int
		B string
		C []float64
	}
	type root struct {
		L   []leaf
		M   map[string]leaf
		P   *leaf
		Any any
		R   *root
	}
	sample := root{L: []leaf{{A: 1, B: "b", C: []float64{1.5}}}, M: map[string]leaf{"m": {A: 2}},
		P: &leaf{B: "p"}, Any: []any{1.0, "x"}, R: &root{P: &leaf{A: 3}}}
	valid := mustMarshal(sample)
	order := mustMarshal(newOrder(2))
	inputs := concat(list(valid, `{"L":[{"A":"x"}]}`, `{"M":{"a":{"A":1},"a":{"B":"x"}}}`, `{"P":null}`,
		`{"R":{"R":{"R":{}}}}`, `{"L":[1,2`, `{"A":1,"a":2}`), objectInputs)

	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			<-start
			for range 20 {
				assert.True(t, check[root](t, []byte(valid)))
				assert.True(t, check[map[string]leaf](t, []byte(`{"a":{"A":1,"C":[2]}}`)))
				assert.True(t, check[Order](t, []byte(order)))
				for _, data := range inputs {
					check[root](t, []byte(data))
					check[*root](t, []byte(data))
					check[map[string]any](t, []byte(data))
					check[Fold](t, []byte(data))
				}
			}
		})
	}
	close(start)
	wg.Wait()
}

// benchOrder is the encoding of an Order of at least size bytes.
func benchOrder(size int) []byte {
	for n := 0; ; n++ {
		if b := mustMarshal(newOrder(n)); len(b) >= size {
			return []byte(b)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	sizes := []struct {
		name string
		data []byte
	}{
		{"1KiB", benchOrder(1 << 10)},
		{"64KiB", benchOrder(64 << 10)},
	}
	decoders := []struct {
		name   string
		decode func([]byte, *Order) bool
	}{
		{"fast", func(data []byte, o *Order) bool { return jsonfast.Decode(data, o) }},
		{"unmarshal", func(data []byte, o *Order) bool { return json.Unmarshal(data, o) == nil }},
	}
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			for _, s := range sizes {
				b.Run(s.name, func(b *testing.B) {
					// A benchmark of the slow path under the fast one's name
					// would be worse than none.
					require.True(b, check[Order](b, s.data))
					b.SetBytes(int64(len(s.data)))
					b.ReportAllocs()
					for b.Loop() {
						var o Order
						if !d.decode(s.data, &o) {
							b.Fatal("not decoded")
						}
					}
				})
			}
		})
	}
}
