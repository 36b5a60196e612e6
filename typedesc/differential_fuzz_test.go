package typedesc_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

// The schemas say exactly what encoding/json reads and writes. For random
// JSON and each type of a corpus of tricky ones, json.Unmarshal into the
// type succeeds exactly when the payload validates against the type's
// InputSchema; and whatever json.Marshal writes of a value of the type
// (the value just decoded, and one made at random from the same bytes)
// validates against its OutputSchema.
//
// Refinements (an Enum method, plugsock tag bounds) narrow a schema beyond
// what decoding checks; a type that has them is paired with a twin of the
// same shape whose fields check the refinement as they decode, and the
// payload must decode into both.

// Fuzz types. Their names start with fz, so that their $defs are short.

type fzBase struct {
	ID   int64  `json:"id"`
	Note string `json:"note,omitempty"`
}

type FzExtra struct {
	Flag bool `json:"flag"`
	Rate float32
}

type fzHidden struct {
	Secret int `json:"secret"`
}

type fzNode struct {
	Name string    `json:"name"`
	Kids []*fzNode `json:"kids,omitempty"`
	Next *fzNode   `json:"next"`
}

type fzQuoted struct {
	N   int         `json:",string"`
	F   float32     `json:"f,string"`
	D   float64     `json:"d,string"`
	B   bool        `json:"b,string"`
	S   string      `json:"s,string"`
	P   *uint16     `json:"p,string"`
	Num json.Number `json:"num,string"`
	I8  int8        `json:"i8,string,omitempty"`
}

// fzCustom reads and writes any JSON itself.
type fzCustom struct{ raw json.RawMessage }

func (c fzCustom) MarshalJSON() ([]byte, error) {
	if c.raw == nil {
		return []byte(`{"custom":true}`), nil
	}
	return c.raw, nil
}

func (c *fzCustom) UnmarshalJSON(b []byte) error {
	c.raw = append(c.raw[:0], b...)
	return nil
}

// fzText is a string kind that reads and writes any text itself.
type fzText string

func (t fzText) MarshalText() ([]byte, error)  { return []byte("t:" + string(t)), nil }
func (t *fzText) UnmarshalText(b []byte) error { *t = fzText(b); return nil }
func (t fzText) String() string                { return string(t) }

// fzPtrText has its text methods on the pointer only: encoding/json writes
// it as text where it is addressable and as a struct where it is not.
type fzPtrText struct{ S string }

func (t *fzPtrText) MarshalText() ([]byte, error) { return []byte(t.S), nil }
func (t *fzPtrText) UnmarshalText(b []byte) error { t.S = string(b); return nil }

type fzTricky struct {
	fzBase
	*FzExtra
	*fzHidden
	CreatedAt time.Time         `json:"created_at"`
	Updated   *time.Time        `json:"updated,omitempty"`
	Thumb     []byte            `json:"thumbnail"`
	Hash      [4]byte           `json:"hash"`
	Pair      [2]int16          `json:"pair"`
	Timeout   time.Duration     `json:"timeout"`
	Big       uint64            `json:"big"`
	Small     int8              `json:"small"`
	Ptr       **float64         `json:"ptr"`
	IntKeys   map[int8]string   `json:"int_keys"`
	UintKeys  map[uint16]bool   `json:"uint_keys"`
	TimeKeys  map[time.Time]int `json:"time_keys"`
	TextKeys  map[fzText]int    `json:"text_keys"`
	Tree      *fzNode           `json:"tree"`
	Nodes     map[string]fzNode `json:"nodes"`
	Raw       json.RawMessage   `json:"raw"`
	Custom    fzCustom          `json:"custom"`
	Text      fzText            `json:"text"`
	PtrText   fzPtrText         `json:"ptr_text"`
	PtrTexts  []fzPtrText       `json:"ptr_texts"`
	Any       any               `json:"any"`
	Stringer  fmt.Stringer      `json:"stringer"`
	Number    json.Number       `json:"number"`
	Quoted    fzQuoted          `json:"quoted"`
	Kelvin    int               `json:"k"` // "K", the Kelvin sign, folds to k
	Long      string            `json:"s"` // "ſ", the long s, folds to s
	Name      string            `json:"name"`
	NAME      int               `json:"NAME"` // takes "NAME" only; "Name" goes to name
	Anon      struct{ X, Y int8 }
	Punct     int `json:"a.b+c(d)|$"` // regular expression syntax, as a name
	Skipped   int `json:"-"`
}

// fzWeird has fields of kinds JSON has no form for: only null decodes into
// them, and encoding/json writes none of them.
type fzWeird struct {
	C  chan int
	F  func()
	Z  complex128
	M  map[bool]int
	OK string `json:"ok"`
}

type FzColor string

func (FzColor) Enum() []FzColor { return []FzColor{"red", "green"} }

type FzLevel uint8

func (FzLevel) Enum() []FzLevel { return []FzLevel{1, 2, 3} }

type fzEnums struct {
	C  FzColor            `json:"c"`
	L  *FzLevel           `json:"l"`
	Cs []FzColor          `json:"cs"`
	M  map[string]FzLevel `json:"m"`
}

type fzBounded struct {
	N  int     `json:"n" plugsock:"minimum=-5,maximum=9"`
	X  float64 `json:"x" plugsock:"exclusiveMinimum=-1,exclusiveMaximum=1.5"`
	S  string  `json:"s" plugsock:"maxLength=4,pattern=^[a-zé]*$"`
	E  string  `json:"e" plugsock:"enum=|a|b"`
	NE string  `json:"ne" plugsock:"not=x|y"`
	M  string  `json:"m" plugsock:"minLength=0"`
}

// Twins that check the refinements while they decode: what is left is
// exactly the refinement, since the payload must decode into the original
// too.

type fzColorCheck string

func (c *fzColorCheck) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s != "red" && s != "green" {
		return errors.New("not a FzColor")
	}
	return nil
}

type fzLevelCheck uint8

func (l *fzLevelCheck) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	switch string(b) {
	case "1", "2", "3":
		return nil
	}
	return errors.New("not a FzLevel")
}

type fzEnumsCheck struct {
	C  fzColorCheck            `json:"c"`
	L  *fzLevelCheck           `json:"l"`
	Cs []fzColorCheck          `json:"cs"`
	M  map[string]fzLevelCheck `json:"m"`
}

// bound checks a number against bounds as it decodes.
type bound[T interface {
	bounds() (float64, float64, bool)
}] struct{}

func (bound[T]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var x float64
	if err := json.Unmarshal(b, &x); err != nil {
		return nil // the original refuses it, or not: not this twin's business
	}
	var t T
	lo, hi, exclusive := t.bounds()
	if exclusive && (x <= lo || x >= hi) || !exclusive && (x < lo || x > hi) {
		return errors.New("out of bounds")
	}
	return nil
}

type nBounds struct{}

func (nBounds) bounds() (float64, float64, bool) { return -5, 9, false }

type xBounds struct{}

func (xBounds) bounds() (float64, float64, bool) { return -1, 1.5, true }

// text checks a string as it decodes.
type text[T interface{ ok(string) bool }] struct{}

func (text[T]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil
	}
	var t T
	if !t.ok(s) {
		return errors.New("refused")
	}
	return nil
}

var lowerAccented = regexp.MustCompile(`^[a-zé]*$`)

type sText struct{}

func (sText) ok(s string) bool { return utf8.RuneCountInString(s) <= 4 && lowerAccented.MatchString(s) }

type eText struct{}

func (eText) ok(s string) bool { return s == "" || s == "a" || s == "b" }

type neText struct{}

func (neText) ok(s string) bool { return s != "x" && s != "y" }

type anyText struct{}

func (anyText) ok(string) bool { return true }

type fzBoundedCheck struct {
	N  bound[nBounds] `json:"n"`
	X  bound[xBounds] `json:"x"`
	S  text[sText]    `json:"s"`
	E  text[eText]    `json:"e"`
	NE text[neText]   `json:"ne"`
	M  text[anyText]  `json:"m"`
}

// fuzzCase is one type of the corpus, with its compiled schemas.
type fuzzCase struct {
	typ   reflect.Type
	check reflect.Type // the refinements' twin, or nil
	in    *typedesc.Schema
	out   *typedesc.Schema
}

func fuzzCorpus(tb testing.TB) []fuzzCase {
	cases := []fuzzCase{
		{typ: reflect.TypeFor[fzTricky]()},
		{typ: reflect.TypeFor[*fzNode]()},
		{typ: reflect.TypeFor[fzQuoted]()},
		{typ: reflect.TypeFor[fzWeird]()},
		{typ: reflect.TypeFor[fzEnums](), check: reflect.TypeFor[fzEnumsCheck]()},
		{typ: reflect.TypeFor[fzBounded](), check: reflect.TypeFor[fzBoundedCheck]()},
		{typ: reflect.TypeFor[FzColor](), check: reflect.TypeFor[fzColorCheck]()},
		{typ: reflect.TypeFor[map[string]any]()},
		{typ: reflect.TypeFor[any]()},
		{typ: reflect.TypeFor[[]int8]()},
		{typ: reflect.TypeFor[[3]bool]()},
		{typ: reflect.TypeFor[[]byte]()},
		{typ: reflect.TypeFor[time.Time]()},
		{typ: reflect.TypeFor[json.Number]()},
		{typ: reflect.TypeFor[fzCustom]()},
		{typ: reflect.TypeFor[fzText]()},
		{typ: reflect.TypeFor[float32]()},
		{typ: reflect.TypeFor[uint8]()},
		{typ: reflect.TypeFor[map[int64]*int]()},
		{typ: reflect.TypeFor[[]fzPtrText]()},
		{typ: reflect.TypeFor[struct{}]()},
		{typ: reflect.TypeFor[list]()},
		{typ: reflect.TypeFor[tree]()},
		{typ: reflect.TypeFor[deep]()},
	}
	for i := range cases {
		c := &cases[i]
		in, err := typedesc.InputSchema(c.typ)
		require.NoError(tb, err, c.typ)
		out, err := typedesc.OutputSchema(c.typ)
		require.NoError(tb, err, c.typ)
		c.in, err = typedesc.CompileSchema(in)
		require.NoError(tb, err, "%v: %s", c.typ, in)
		c.out, err = typedesc.CompileSchema(out)
		require.NoError(tb, err, "%v: %s", c.typ, out)
	}
	return cases
}

// fuzzSeeds reach each tricky case, valid and not.
var fuzzSeeds = []string{
	`null`, `{}`, `[]`, `0`, `""`, `true`, `1e400`, `-0`, `1.0`, `1e2`, `255`, `256`, `-129`,
	`"2024-05-06T07:08:09Z"`, `"2024-05-06T07:08:09.123+02:00"`, `"yesterday"`, `"2024-05-06T07:08:09\u005a"`,
	`"aGVsbG8="`, `"!!not base64!!"`, `"aGVsbG8"`, `"aGVs\nbG8="`, `[1,2,300]`, `[1,2]`, `[true,false,true,false]`,
	`"red"`, `"blue"`, `"12"`, `"1.5e3"`, `"x"`, `{"custom":[1e400]}`,
	`{"id":1,"note":"n","flag":true,"Rate":1.5}`,
	`{"secret":1}`, `{"SECRET":null}`, `{"Secret":1}`,
	`{"created_at":"2024-01-01T00:00:00Z","updated":null,"thumbnail":"AAEC","hash":[1,2,3,4,5],"pair":[1,-2]}`,
	`{"created_at":"2024-13-01T00:00:00Z"}`, `{"created_at":1}`, `{"thumbnail":[1,2,256]}`, `{"hash":"AAAA"}`,
	`{"timeout":1e3}`, `{"timeout":9223372036854775808}`, `{"big":18446744073709551615}`, `{"big":18446744073709551616}`,
	`{"small":-128}`, `{"small":128}`, `{"ptr":1.5}`, `{"ptr":null}`, `{"ptr":1e400}`,
	`{"int_keys":{"-128":"a","+5":"b","007":"c"}}`, `{"int_keys":{"128":"a"}}`, `{"int_keys":{"x":"a"}}`,
	`{"uint_keys":{"65535":true,"-1":false}}`, `{"uint_keys":{"+1":true}}`,
	`{"time_keys":{"2024-01-01T00:00:00Z":1}}`, `{"time_keys":{"2024-01-01T00:00:00\u005a":1}}`, `{"time_keys":{"no":1}}`,
	`{"text_keys":{"anything":1}}`,
	`{"tree":{"name":"a","kids":[{"name":"b","next":null},null],"next":{"name":1}}}`,
	`{"nodes":{"x":{"name":"y","kids":[{"kids":[{"name":2}]}]}}}`,
	`{"raw":[1e400,{"a":null}],"custom":{"x":1},"text":"t","ptr_text":"p","ptr_texts":["a",{"S":"b"}]}`,
	`{"any":{"a":[1,"2",true,null,1e400]}}`, `{"any":[1e308]}`, `{"stringer":null}`, `{"stringer":"s"}`,
	`{"number":12.5}`, `{"number":"12.5"}`, `{"number":"x"}`,
	`{"quoted":{"N":"12","f":"1.5","d":"-Inf","b":"true","s":"\"hi\"","p":"null","num":"1x","i8":"-128"}}`,
	`{"quoted":{"N":12}}`, `{"quoted":{"N":"1.0"}}`, `{"quoted":{"N":" 1"}}`, `{"quoted":{"N":""}}`, `{"quoted":{"N":"null"}}`,
	`{"quoted":{"f":"1e39"}}`, `{"quoted":{"d":"0x1p-2"}}`, `{"quoted":{"d":"1_0"}}`, `{"quoted":{"b":"True"}}`,
	`{"quoted":{"s":"hi"}}`, `{"quoted":{"s":"\"a\"b\""}}`, `{"quoted":{"s":"null"}}`, `{"quoted":{"p":"65536"}}`,
	`{"quoted":{"num":"\"1.5\""}}`, `{"quoted":{"num":"\"x\""}}`, `{"quoted":{"i8":null}}`,
	`{"k":1,"K":2,"K":"x"}`, `{"s":"a","ſ":1}`, `{"S":"a"}`,
	`{"name":"a","NAME":1}`, `{"Name":"a"}`, `{"NAME":"a"}`, `{"nAME":1}`,
	`{"Anon":{"X":1,"y":2}}`, `{"a.b+c(d)|$":1}`, `{"A.B+C(D)|$":"x"}`, `{"aXb+c(d)|$":"x"}`, `{"anon":{"X":128}}`, `{"Skipped":"x"}`, `{"-":"x"}`,
	`{"id":1,"id":"x"}`, `{"id":"x","id":1}`, `{"tree":{"name":1},"tree":{"name":"a"}}`,
	`{"nodes":{"a":{"name":"x","name":2}},"nodes":{"a":{}}}`,
	`{"C":null,"F":null,"Z":null,"M":null,"ok":"y"}`, `{"C":1}`, `{"M":{}}`,
	`{"c":"red","l":2,"cs":["green",null],"m":{"a":3}}`, `{"c":"blue"}`, `{"l":4}`, `{"cs":["x"]}`, `{"m":{"a":0}}`,
	`{"n":-5,"x":1.4,"s":"éa","e":"","ne":"z","m":""}`, `{"n":10}`, `{"x":-1}`, `{"x":1.5}`, `{"s":"abcde"}`, `{"s":"A"}`,
	`{"e":"c"}`, `{"ne":"x"}`, `{"N":10}`, `{"E":"c","e":"a"}`,
	`{"a":1e400}`, `{"1":1,"-1":null,"x":1}`,
	// Found by fuzzing.
	`{"s":null}`, `{"9223372036854775808":1}`, `[{"S":"x"},"y"]`,
}

// skipOnJSONV2 skips a differential test where encoding/json is built on
// encoding/json/v2 (GOEXPERIMENT=jsonv2): the schemas follow the default
// decoder, and v2's emulation of it differs in corners (the ",string"
// option, fields of kinds JSON has no form for) and, in Go 1.26, panics
// decoding some payloads into a struct with a channel field.
func skipOnJSONV2(tb testing.TB) {
	if typedesc.JSONV2 {
		tb.Skip("the schemas follow encoding/json's default decoder, not GOEXPERIMENT=jsonv2's")
	}
}

func FuzzSchemaAgreesWithDecoding(f *testing.F) {
	skipOnJSONV2(f)
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	cases := fuzzCorpus(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		for _, c := range cases {
			checkAgreement(t, c, data)
		}
	})
}

func checkAgreement(t *testing.T, c fuzzCase, data []byte) {
	v := reflect.New(c.typ)
	decErr := json.Unmarshal(data, v.Interface())
	accepted := decErr == nil
	if accepted && c.check != nil {
		accepted = json.Unmarshal(data, reflect.New(c.check).Interface()) == nil
	}
	valErr := c.in.Validate(data)
	if accepted != (valErr == nil) {
		t.Fatalf("%v: json.Unmarshal says %v, the input schema says %v, for %s", c.typ, decErr, valErr, data)
	}
	if c.check != nil {
		return // refinements claim more of a value than its type holds
	}
	if decErr == nil {
		if out, err := json.Marshal(v.Elem().Interface()); err == nil {
			if err := c.out.Validate(out); err != nil {
				t.Fatalf("%v: decoded from %s, written as %s: %v", c.typ, data, out, err)
			}
		}
	}
	r := reflect.New(c.typ).Elem()
	fill(r, &randomBytes{b: data}, 0)
	if out, err := json.Marshal(r.Interface()); err == nil {
		if err := c.out.Validate(out); err != nil {
			t.Fatalf("%v: a random value, written as %s: %v", c.typ, out, err)
		}
	}
}

// randomBytes draws from the fuzzer's bytes, then zeros.
type randomBytes struct {
	b []byte
	i int
}

func (r *randomBytes) byte() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *randomBytes) uint64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = r.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

func (r *randomBytes) string() string {
	b := make([]byte, r.byte()%8)
	for i := range b {
		b[i] = r.byte()
	}
	return string(b)
}

// fill sets v, settable, to a value drawn from r.
func fill(v reflect.Value, r *randomBytes, depth int) {
	if depth > 6 {
		return
	}
	t := v.Type()
	switch t {
	case reflect.TypeFor[time.Time]():
		zone := time.FixedZone("", (int(r.byte())%48-24)*30*60)
		v.Set(reflect.ValueOf(time.Date(int(r.uint64()%10000), time.Month(1+r.byte()%12), 1+int(r.byte()%28),
			int(r.byte()%24), int(r.byte()%60), int(r.byte()%60), int(r.uint64()%1e9), zone)))
		return
	case reflect.TypeFor[json.Number]():
		v.SetString([]string{"", "0", "-1.5e300", "12", "1E-7"}[r.byte()%5])
		return
	case reflect.TypeFor[json.RawMessage](), reflect.TypeFor[fzCustom]():
		raw := []string{"", "null", "[1e400]", `{"a":[true]}`, `"s"`}[r.byte()%5]
		if raw != "" {
			if t == reflect.TypeFor[fzCustom]() {
				v.Set(reflect.ValueOf(fzCustom{raw: json.RawMessage(raw)}))
			} else {
				v.SetBytes([]byte(raw))
			}
		}
		return
	}
	if m, ok := reflect.PointerTo(t).MethodByName("Enum"); ok && m.Type.NumOut() == 1 && m.Type.Out(0) == reflect.SliceOf(t) {
		values := m.Func.Call([]reflect.Value{reflect.New(t)})[0]
		v.Set(values.Index(int(r.byte()) % values.Len()))
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(r.byte()%2 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(r.uint64()) >> (64 - t.Bits()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(r.uint64() >> (64 - t.Bits()))
	case reflect.Float32:
		x := math.Float32frombits(uint32(r.uint64()))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			x = 0
		}
		v.SetFloat(float64(x))
	case reflect.Float64:
		x := math.Float64frombits(r.uint64())
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = 0
		}
		v.SetFloat(x)
	case reflect.String:
		v.SetString(r.string())
	case reflect.Pointer:
		if r.byte()%3 != 0 {
			p := reflect.New(t.Elem())
			fill(p.Elem(), r, depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		if n := int(r.byte() % 4); n > 0 {
			s := reflect.MakeSlice(t, n-1, n-1)
			for i := range n - 1 {
				fill(s.Index(i), r, depth+1)
			}
			v.Set(s)
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), r, depth+1)
		}
	case reflect.Map:
		if n := int(r.byte() % 4); n > 0 {
			m := reflect.MakeMap(t)
			for range n - 1 {
				k := reflect.New(t.Key()).Elem()
				e := reflect.New(t.Elem()).Elem()
				fill(k, r, depth+1)
				fill(e, r, depth+1)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fill(f, r, depth+1)
			}
		}
	case reflect.Interface:
		switch r.byte() % 4 {
		case 1:
			if t.NumMethod() == 0 {
				v.Set(reflect.ValueOf(strconv.Itoa(int(r.byte()))))
			}
		case 2:
			if t.NumMethod() == 0 {
				v.Set(reflect.ValueOf(map[string]any{r.string(): []any{1.5, nil, true}}))
			} else {
				v.Set(reflect.ValueOf(time.Duration(r.uint64())))
			}
		case 3:
			if t.NumMethod() > 0 {
				v.Set(reflect.ValueOf(fzText(r.string())))
			}
		}
	}
}

// go test runs the fuzz target on its seeds; one that is not JSON would
// be skipped without a word.
func TestFuzzSeedsAreJSON(t *testing.T) {
	for _, s := range fuzzSeeds {
		assert.True(t, json.Valid([]byte(s)), "seed %s", s)
	}
}
