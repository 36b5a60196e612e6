// Package jsonfast decodes JSON into Go values exactly as encoding/json's
// Unmarshal does, for the values where it can be sure of that, several
// times faster: one pass over the bytes, where encoding/json validates
// the whole value first and then decodes it through a byte-at-a-time
// state machine.
//
// It is a fast path, never a replacement. [Decode] reports false, and
// leaves its target as it was, whenever the result might differ from
// encoding/json's in any way: a type that decodes itself
// (json.Unmarshaler, encoding.TextUnmarshaler), json.Number, embedded
// structs, the ",string" option, a []byte that is not base64 in a
// string, map keys that are not strings, a target that is not zero
// (encoding/json merges into what is there), and any input that
// encoding/json would reject or treat specially (invalid JSON, a type
// mismatch, an overflow, duplicate struct members, invalid UTF-8). A type
// is refused only where the input reaches what it cannot decode: an
// empty []time.Time is decoded here. The caller then runs encoding/json,
// which gives its own result and its own error. The differential tests
// and fuzzing in this package hold it to that.
package jsonfast

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/segmentio/asm/base64"

	"github.com/plugsock/plugsock/internal/jsonscan"
)

// maxDepth bounds how deep Decode follows nested values; deeper ones go
// to encoding/json. It keeps the recursion, and the stack, small.
const maxDepth = 200

// Decode decodes data, one JSON value, into v exactly as json.Unmarshal
// would and reports true, when it can be sure of doing so: v is a non-nil
// pointer to a zero value and data holds nothing this package leaves to
// encoding/json (see the package documentation). When it reports false,
// v is left as it was.
func Decode(data []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	e := rv.Elem()
	n := plan(e.Type())
	if n.k == kBad || !e.IsZero() {
		return false
	}
	d := decoder{b: data}
	if d.value(n, e) && d.ws() == len(d.b) {
		return true
	}
	// e was zero, so zero is what it was.
	e.SetZero()
	return false
}

// kind is how a node decodes.
type kind uint8

const (
	kBad kind = iota // left to encoding/json
	kBool
	kString
	kInt
	kUint
	kFloat
	kPtr
	kSlice
	kArray
	kMap
	kStruct
	kAny
	kBytes
)

// node is the plan for decoding one type. Nodes are built once per type
// and never change after they are published in cache.
type node struct {
	k      kind
	typ    reflect.Type
	elem   *node   // kPtr, kSlice, kArray, kMap
	fields []field // kStruct
	bits   int     // kFloat
	strKey bool    // kMap: the key type is string itself
}

// field is one member of a struct, by the name encoding/json gives it.
type field struct {
	name  string
	index int
	n     *node
}

var cache sync.Map // reflect.Type → *node

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	numberType          = reflect.TypeFor[json.Number]()
	stringType          = reflect.TypeFor[string]()
	byteType            = reflect.TypeFor[byte]()
)

func plan(t reflect.Type) *node {
	if n, ok := cache.Load(t); ok {
		return n.(*node)
	}
	b := builder{}
	n := b.build(t)
	for t, n := range b.seen {
		cache.LoadOrStore(t, n)
	}
	return n
}

// builder builds the nodes of one type and of the types it holds. A
// node is kBad until it is complete, and a type that holds itself refers
// to its own node: the decoder checks each node's kind as it reaches it,
// so a node found bad late is seen as bad wherever it is referred to.
type builder struct{ seen map[reflect.Type]*node }

func (b *builder) build(t reflect.Type) *node {
	if n, ok := b.seen[t]; ok {
		return n
	}
	if n, ok := cache.Load(t); ok {
		return n.(*node)
	}
	if b.seen == nil {
		b.seen = make(map[reflect.Type]*node)
	}
	n := &node{typ: t}
	b.seen[t] = n
	if t.Implements(unmarshalerType) || t.Implements(textUnmarshalerType) {
		return n
	}
	if t.Kind() != reflect.Interface {
		if p := reflect.PointerTo(t); p.Implements(unmarshalerType) || p.Implements(textUnmarshalerType) {
			return n
		}
	}
	k := kBad
	switch t.Kind() {
	case reflect.Bool:
		k = kBool
	case reflect.String:
		if t != numberType {
			k = kString
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		k = kInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		k = kUint
	case reflect.Float32, reflect.Float64:
		k, n.bits = kFloat, t.Bits()
	case reflect.Pointer:
		k, n.elem = kPtr, b.build(t.Elem())
	case reflect.Slice:
		// A []byte is base64 in a string, or an array of numbers, and
		// the array is left to encoding/json. So is a slice of another
		// type of kind uint8, whose elements might decode themselves.
		switch {
		case t.Elem() == byteType:
			k = kBytes
		case t.Elem().Kind() != reflect.Uint8:
			k, n.elem = kSlice, b.build(t.Elem())
		}
	case reflect.Array:
		k, n.elem = kArray, b.build(t.Elem())
	case reflect.Map:
		kt := t.Key()
		if kt.Kind() == reflect.String && !reflect.PointerTo(kt).Implements(textUnmarshalerType) {
			k, n.elem, n.strKey = kMap, b.build(t.Elem()), kt == stringType
		}
	case reflect.Struct:
		if fs, ok := b.fields(t); ok {
			k, n.fields = kStruct, fs
		}
	case reflect.Interface:
		if t.NumMethod() == 0 {
			k = kAny
		}
	}
	n.k = k
	return n
}

// fields lists the members of struct t, in order, as encoding/json names
// them. It reports false for a struct whose names take more than the
// plain rules: an embedded field (promotion and its conflicts), the
// ",string" option, a tag name encoding/json might reject, a name that is
// not ASCII (its case folding), two fields of one name.
func (b *builder) fields(t reflect.Type) ([]field, bool) {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil, false
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "string") || !plainName(name) {
			return nil, false
		}
		if name == "" {
			name = sf.Name
		}
		for _, c := range []byte(name) {
			if c >= utf8.RuneSelf {
				return nil, false
			}
		}
		for _, f := range fs {
			if f.name == name {
				return nil, false
			}
		}
		fs = append(fs, field{name: name, index: i, n: b.build(sf.Type)})
	}
	return fs, true
}

// plainName reports whether a tag's name is one that encoding/json
// certainly takes as it is written.
func plainName(s string) bool {
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// decoder reads one value. Every method reports false when the input is
// not what it handles; what it has stored by then is thrown away.
type decoder struct {
	b     []byte
	i     int
	depth int
}

// ws skips white space and returns the new position.
func (d *decoder) ws() int {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return d.i
		}
	}
	return d.i
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *decoder) peek() byte {
	if d.ws() < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// lit consumes the literal s.
func (d *decoder) lit(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

func (d *decoder) enter() bool {
	d.depth++
	return d.depth <= maxDepth
}

// elements reads the array or object at d.i up to its closing bracket
// end, calling each to read every element (an object's: the key, the
// colon and the value).
func (d *decoder) elements(end byte, each func() bool) bool {
	if !d.enter() {
		return false
	}
	d.i++
	if d.peek() == end {
		d.i++
		d.depth--
		return true
	}
	for {
		if !each() {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case end:
			d.i++
			d.depth--
			return true
		default:
			return false
		}
	}
}

// colon reads the colon after a member's key.
func (d *decoder) colon() bool {
	if d.peek() != ':' {
		return false
	}
	d.i++
	return true
}

// strKey reads a member's key as a string.
func (d *decoder) strKey() (string, bool) {
	if d.peek() != '"' {
		return "", false
	}
	k, ok := d.str()
	return k, ok && d.colon()
}

func (d *decoder) value(n *node, v reflect.Value) bool {
	c := d.peek()
	switch n.k {
	case kBad:
		return false
	case kPtr:
		if c == 'n' {
			v.SetZero()
			return d.lit("null")
		}
		// A type can be a pointer to itself; depth bounds that too.
		if !d.enter() {
			return false
		}
		if v.IsNil() {
			v.Set(reflect.New(n.typ.Elem()))
		}
		ok := d.value(n.elem, v.Elem())
		d.depth--
		return ok
	case kAny:
		x, ok := d.any()
		switch {
		case !ok:
		case x == nil:
			v.SetZero()
		default:
			v.Set(reflect.ValueOf(x))
		}
		return ok
	}
	switch c {
	case 'n':
		if n.k == kMap || n.k == kSlice || n.k == kBytes {
			v.SetZero()
		}
		// encoding/json leaves other kinds alone on null.
		return d.lit("null")
	case 't':
		if n.k != kBool || !d.lit("true") {
			return false
		}
		v.SetBool(true)
		return true
	case 'f':
		if n.k != kBool || !d.lit("false") {
			return false
		}
		v.SetBool(false)
		return true
	case '"':
		if n.k == kBytes {
			return d.bytes(v)
		}
		if n.k != kString {
			return false
		}
		s, ok := d.str()
		if ok {
			v.SetString(s)
		}
		return ok
	case '{':
		switch n.k {
		case kStruct:
			return d.object(n, v)
		case kMap:
			return d.mapValue(n, v)
		}
		return false
	case '[':
		if n.k == kSlice || n.k == kArray {
			return d.array(n, v)
		}
		return false
	}
	tok, frac := d.number()
	if tok == nil {
		return false
	}
	switch n.k {
	case kInt:
		x, ok := parseInt(tok, frac)
		if !ok || v.OverflowInt(x) {
			return false
		}
		v.SetInt(x)
	case kUint:
		if tok[0] == '-' {
			return false
		}
		x, ok := parseUint(tok, frac)
		if !ok || v.OverflowUint(x) {
			return false
		}
		v.SetUint(x)
	case kFloat:
		x, err := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), n.bits)
		if err != nil || v.OverflowFloat(x) {
			return false
		}
		v.SetFloat(x)
	default:
		return false
	}
	return true
}

// object decodes a JSON object into a struct.
func (d *decoder) object(n *node, v reflect.Value) bool {
	// A member seen twice would be decoded twice, and encoding/json merges
	// the second into the first: that is left to it.
	var seen uint64
	var seenMore []bool
	if len(n.fields) > 64 {
		seenMore = make([]bool, len(n.fields))
	}
	next := 0
	return d.elements('}', func() bool {
		if d.peek() != '"' {
			return false
		}
		key, ok := d.key()
		if !ok || !d.colon() {
			return false
		}
		f := -1
		// Members usually come in the struct's order.
		if next < len(n.fields) && n.fields[next].name == string(key) {
			f = next
		} else if f = n.exact(key); f < 0 {
			f = n.folded(key)
		}
		switch {
		case f < 0:
			return d.skip()
		case seenMore != nil:
			if seenMore[f] {
				return false
			}
			seenMore[f] = true
		default:
			if seen&(1<<f) != 0 {
				return false
			}
			seen |= 1 << f
		}
		next = f + 1
		fd := &n.fields[f]
		return d.value(fd.n, v.Field(fd.index))
	})
}

// exact returns the field named key, or -1.
func (n *node) exact(key []byte) int {
	for i := range n.fields {
		if n.fields[i].name == string(key) {
			return i
		}
	}
	return -1
}

// folded returns the first field whose name matches key but for case,
// as encoding/json falls back to, or -1. Key and names are ASCII here, so
// EqualFold's Unicode folding is ASCII's.
func (n *node) folded(key []byte) int {
	for i := range n.fields {
		if strings.EqualFold(string(key), n.fields[i].name) {
			return i
		}
	}
	return -1
}

// key reads a struct member's name. Only ASCII names are taken: a name
// that is not could match a field through Unicode case folding (the
// Kelvin sign folds to K), which is left to encoding/json.
func (d *decoder) key() ([]byte, bool) {
	start := d.i + 1
	for i := start; i < len(d.b); i++ {
		c := d.b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return d.b[start:i], true
		case c == '\\':
			s, ok := d.str()
			if !ok {
				return nil, false
			}
			for j := range len(s) {
				if s[j] >= utf8.RuneSelf {
					return nil, false
				}
			}
			return []byte(s), true
		case c < ' ' || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

// mapValue decodes a JSON object into a map with string keys, each
// member's value into a fresh element, the last of a repeated key
// winning, as encoding/json does.
func (d *decoder) mapValue(n *node, v reflect.Value) bool {
	if v.IsNil() {
		v.Set(reflect.MakeMap(n.typ))
	}
	elem := reflect.New(n.typ.Elem()).Elem()
	kt := n.typ.Key()
	return d.elements('}', func() bool {
		key, ok := d.strKey()
		if !ok {
			return false
		}
		elem.SetZero()
		if !d.value(n.elem, elem) {
			return false
		}
		kv := reflect.ValueOf(key)
		if !n.strKey {
			kv = reflect.New(kt).Elem()
			kv.SetString(key)
		}
		v.SetMapIndex(kv, elem)
		return true
	})
}

// array decodes a JSON array into a slice or an array. An array takes as
// many elements as it holds; the rest are read and dropped.
func (d *decoder) array(n *node, v reflect.Value) bool {
	next := 0
	ok := d.elements(']', func() bool {
		i := next
		next++
		switch {
		case n.k == kSlice:
			if i >= v.Cap() {
				v.Grow(1)
			}
			v.SetLen(i + 1)
		case i >= v.Len():
			return d.skip()
		}
		return d.value(n.elem, v.Index(i))
	})
	if ok && n.k == kSlice && v.IsNil() {
		// [] is an empty slice, not nil.
		v.Set(reflect.MakeSlice(n.typ, 0, 0))
	}
	return ok
}

// any decodes a value into what encoding/json gives an empty interface:
// map[string]any, []any, string, float64, bool or nil.
func (d *decoder) any() (any, bool) {
	switch d.peek() {
	case 'n':
		return nil, d.lit("null")
	case 't':
		return true, d.lit("true")
	case 'f':
		return false, d.lit("false")
	case '"':
		return d.str()
	case '{':
		m := make(map[string]any)
		ok := d.elements('}', func() bool {
			k, ok := d.strKey()
			if !ok {
				return false
			}
			x, ok := d.any()
			m[k] = x
			return ok
		})
		return m, ok
	case '[':
		a := make([]any, 0)
		ok := d.elements(']', func() bool {
			x, ok := d.any()
			a = append(a, x)
			return ok
		})
		return a, ok
	}
	tok, _ := d.number()
	if tok == nil {
		return nil, false
	}
	x, err := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 64)
	return x, err == nil
}

// skip reads past one value, checking it as strictly as encoding/json's
// scanner does: a member nothing is decoded into is still checked.
func (d *decoder) skip() bool {
	switch d.peek() {
	case 'n':
		return d.lit("null")
	case 't':
		return d.lit("true")
	case 'f':
		return d.lit("false")
	case '"':
		return d.skipString()
	case '{':
		return d.elements('}', func() bool {
			return d.peek() == '"' && d.skipString() && d.colon() && d.skip()
		})
	case '[':
		return d.elements(']', d.skip)
	}
	tok, _ := d.number()
	return tok != nil
}

// skipString reads past a string, which encoding/json's scanner accepts
// with any bytes but control characters, and only the escapes JSON has.
func (d *decoder) skipString() bool {
	end, _, ok := d.scanString(false)
	if ok {
		d.i = end
	}
	return ok
}

// str reads a string. One with invalid UTF-8 is left to encoding/json,
// which replaces what it cannot decode.
func (d *decoder) str() (string, bool) {
	end, esc, ok := d.scanString(true)
	if !ok {
		return "", false
	}
	body := d.b[d.i+1 : end-1]
	d.i = end
	if !esc {
		return string(body), true
	}
	out, ok := Unescape(make([]byte, 0, len(body)), body)
	// out is this string's alone: no copy of it is needed.
	return unsafe.String(unsafe.SliceData(out), len(out)), ok
}

// scanString checks the string at d.i as encoding/json's scanner does,
// and for invalid UTF-8 too if utf8 is set, and returns its end and
// whether it has escapes.
func (d *decoder) scanString(checkUTF8 bool) (end int, esc, ok bool) {
	b := d.b
	for i := d.i + 1; i < len(b); {
		// Eight plain ASCII bytes at a time: a long string's body goes by
		// several times faster than byte by byte.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if w&0x8080808080808080 != 0 || !jsonscan.Plain8(w) {
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(b[i+2:]) < 0 {
					return 0, false, false
				}
				i += 6
			default:
				return 0, false, false
			}
		case c < ' ':
			return 0, false, false
		case c < utf8.RuneSelf || !checkUTF8:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, false
			}
			i += size
		}
	}
	return 0, false, false
}

// Unescape appends s, the inside of a JSON string in valid UTF-8,
// decoded as encoding/json decodes it: a \u escape of half a surrogate
// pair that is not followed by the other half is U+FFFD. It reports false
// for a control character or an escape JSON does not have.
func Unescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			if c < 0x20 {
				return dst, false
			}
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return dst, false
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			rr := hex4(s[i+2:])
			if rr < 0 {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(rr) {
				var rr1 rune = -1
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					rr1 = hex4(s[i+2:])
				}
				if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
					dst = utf8.AppendRune(dst, dec)
					i += 6
					continue
				}
				rr = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, rr)
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

// bytes decodes a string of base64 into a []byte.
func (d *decoder) bytes(v reflect.Value) bool {
	// A quote ends the string: base64 has no backslash to escape one.
	end := bytes.IndexByte(d.b[d.i+1:], '"')
	if end < 0 {
		return false
	}
	b, ok := Base64(d.b[d.i+1 : d.i+1+end])
	if ok {
		v.SetBytes(b)
		d.i += end + 2
	}
	return ok
}

// Base64 decodes s, the text of a JSON string, into a new []byte as
// encoding/json decodes a []byte from it, when s is nothing but padded
// standard base64, the way encoding/json encodes one. It reports false
// for anything else (escapes, line breaks, which encoding/json's decoding
// skips, characters outside base64, bad padding), which is left to
// encoding/json, and its errors with it. It uses AVX2 where the processor
// has it: several times encoding/base64's speed, byte for byte its result.
func Base64(s []byte) ([]byte, bool) {
	if len(s)%4 != 0 {
		return nil, false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	// Decode skips line breaks, which would show as fewer bytes than the
	// text's length says; anything else not base64 is an error.
	pad := 0
	for i := len(s) - 1; i >= len(s)-2 && i >= 0 && s[i] == '='; i-- {
		pad++
	}
	if err != nil || n != len(b)-pad {
		return nil, false
	}
	return b[:n], true
}

// hex4 returns the value of the four hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number reads a number as JSON writes it and returns its text, nil if
// there is none, and whether it has a fraction or an exponent.
func (d *decoder) number() (tok []byte, frac bool) {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		frac = true
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		frac = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	tok, d.i = b[d.i:i], i
	return tok, frac
}

// parseInt is strconv.ParseInt(tok, 10, 64) for a JSON number's text,
// without making a string of it; a fraction or an exponent fails, as
// there.
func parseInt(tok []byte, frac bool) (int64, bool) {
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	u, ok := parseUint(tok, frac)
	switch {
	case !ok:
		return 0, false
	case neg && u <= 1<<63:
		return -int64(u), true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// parseUint is strconv.ParseUint(tok, 10, 64) for digits.
func parseUint(tok []byte, frac bool) (uint64, bool) {
	if frac {
		return 0, false
	}
	var u uint64
	for _, c := range tok {
		if u > (1<<64-1)/10 {
			return 0, false
		}
		u *= 10
		x := u + uint64(c-'0')
		if x < u {
			return 0, false
		}
		u = x
	}
	return u, true
}
