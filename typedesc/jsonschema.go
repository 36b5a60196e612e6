package typedesc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrInvalidSchema is wrapped by the errors of CompileSchema, and by those
// of Validate that are the schema's fault rather than the payload's.
var ErrInvalidSchema = errors.New("invalid JSON Schema")

// MaxSchemaDepth is how deeply CompileSchema lets a schema document nest,
// in JSON objects and arrays. The schemas InputSchema and OutputSchema
// make stay far below it; it keeps a hostile schema from costing more
// stack and time than its size.
const MaxSchemaDepth = 512

// maxPayloadDepth is encoding/json's nesting limit, which Validate keeps.
const maxPayloadDepth = 10000

// Schema is a compiled JSON Schema, ready to validate payloads; the one
// way to make one is CompileSchema. It is safe for concurrent use.
type Schema struct {
	doc  any // the document, to compile another copy from
	mu   sync.Mutex
	free []*compiled // copies not validating now
}

// compiled is one compiled copy of a Schema's document, with the state
// its formats and cost accounting use during one validation at a time.
type compiled struct {
	root *jsonschema.Schema
	st   *checkState
}

// checkState is what a compiled copy's formats read during a validation.
type checkState struct {
	left    int                // cost budget still unspent
	escaped map[*byte]struct{} // strings that were written with escapes
}

// errTooCostly ends a validation whose budget ran out; it is raised with
// panic from inside the validator and recovered by Validate.
var errTooCostly = errors.New("too costly to check against this schema")

func (st *checkState) charge(n int) {
	if st.left -= n; st.left < 0 {
		panic(errTooCostly)
	}
}

// refuseLoader is the compiler's only URLLoader: a schema may refer to
// nothing outside itself, no file and no network.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is outside the schema: only references within it are followed", url)
}

// schemaURL is where a compiled document says it is, for its references:
// a URL with a path, so that a relative reference ("other.json") names
// another document, which refuseLoader refuses, rather than this one.
const schemaURL = "plugsock://schema/schema.json"

// CompileSchema compiles the JSON Schema raw, by default of draft 2020-12
// ("$schema" may name an earlier draft). Formats are asserted as
// encoding/json and Go's own parsers read them: "date-time" as
// time.Time.UnmarshalJSON does, "int8" to "uint64" as strconv reads a
// number's text (so 1.0 and 1e2 are not integers) or a string's, "float"
// and "double" as strconv.ParseFloat (so 1e400 is refused); and
// "contentEncoding": "base64" as base64.StdEncoding decodes.
//
// A schema may refer only to itself: a "$ref" to anything outside the
// document is refused, so compiling reads no file and no network, and so
// are "$dynamicRef" and "$recursiveRef", which payload schemas do not
// need. A document nesting deeper than MaxSchemaDepth is refused. The
// error wraps ErrInvalidSchema.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	if err := checkDepth(raw, MaxSchemaDepth); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %w", ErrInvalidSchema, err)
	}
	c, err := compile(doc)
	if err != nil {
		return nil, err
	}
	return &Schema{doc: doc, free: []*compiled{c}}, nil
}

func compile(doc any) (*compiled, error) {
	st := &checkState{}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	c.AssertFormat()
	c.AssertContent()
	for _, f := range formats(st) {
		c.RegisterFormat(f)
	}
	c.RegisterContentEncoding(&jsonschema.Decoder{Name: "base64", Decode: base64.StdEncoding.DecodeString})
	c.UseRegexpEngine(func(s string) (jsonschema.Regexp, error) {
		// Also how the "regex" format checks a string.
		st.charge(1 + len(s)/16)
		return compileRegexp(s, st)
	})
	st.left = int(^uint(0) >> 1)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	root, err := compileSafely(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSchema, compileMessage(err))
	}
	if err := instrument(root, st); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	return &compiled{root: root, st: st}, nil
}

func compileSafely(c *jsonschema.Compiler) (s *jsonschema.Schema, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the compiler failed: %v", v)
		}
	}()
	return c.Compile(schemaURL)
}

// compileMessage is the first line of a compile error: the library's own
// may run to many.
func compileMessage(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, schemaURL, "")
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return msg
}

// checkDepth reports whether the JSON text raw nests deeper than max,
// scanning it without recursion.
func checkDepth(raw []byte, max int) error {
	depth := 0
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return fmt.Errorf("nests deeper than %d levels", max)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// instrument walks the compiled schema graph and charges every evaluation
// of every schema in it to the validation's budget, through its format
// check, which the validator makes before it looks at the value's members
// or elements. Each evaluation is charged for the work it goes on to do
// itself and for the checks its subschemas make before their own format
// check (const and enum), so a validation's work is bounded by the budget
// whatever the schema.
//
// Without dynamic references, the schemas the walk reaches are all that a
// validation can evaluate; so instrument refuses those.
func instrument(root *jsonschema.Schema, st *checkState) error {
	seen := map[*jsonschema.Schema]bool{}
	todo := []*jsonschema.Schema{root}
	add := func(s *jsonschema.Schema) {
		if s != nil && !seen[s] {
			seen[s] = true
			todo = append(todo, s)
		}
	}
	addAny := func(v any) {
		switch v := v.(type) {
		case *jsonschema.Schema:
			add(v)
		case []*jsonschema.Schema:
			for _, s := range v {
				add(s)
			}
		}
	}
	seen[root] = true
	for len(todo) > 0 {
		s := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if s.DynamicRef != nil || s.RecursiveRef != nil {
			return errors.New("$dynamicRef and $recursiveRef are not supported")
		}
		if !strings.HasPrefix(s.Location, schemaURL) {
			return fmt.Errorf("refers to %s, outside the schema", s.Location)
		}
		inPlace := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
		inPlace = append(inPlace, s.AllOf...)
		inPlace = append(inPlace, s.AnyOf...)
		inPlace = append(inPlace, s.OneOf...)
		for _, d := range s.DependentSchemas {
			inPlace = append(inPlace, d)
		}
		for _, d := range s.Dependencies {
			if d, ok := d.(*jsonschema.Schema); ok {
				inPlace = append(inPlace, d)
			}
		}
		var perMember []*jsonschema.Schema // may apply to each member or element
		perMember = append(perMember, s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items2020, s.UnevaluatedItems)
		perMember = append(perMember, s.PrefixItems...)
		for _, p := range s.Properties {
			perMember = append(perMember, p)
		}
		for _, p := range s.PatternProperties {
			perMember = append(perMember, p)
		}
		if p, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
			perMember = append(perMember, p)
		}
		addAny(s.Items)
		addAny(s.AdditionalItems)
		if p, ok := s.Items.(*jsonschema.Schema); ok {
			perMember = append(perMember, p)
		}
		if p, ok := s.Items.([]*jsonschema.Schema); ok {
			perMember = append(perMember, p...)
		}
		if p, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			perMember = append(perMember, p)
		}
		for _, x := range inPlace {
			add(x)
		}
		for _, x := range perMember {
			add(x)
		}
		add(s.ContentSchema)

		// What this evaluation and its subschemas' early checks cost.
		fixed := 1 + len(s.Required)
		for _, d := range s.DependentRequired {
			fixed += len(d)
		}
		for _, x := range inPlace {
			fixed += early(x)
		}
		fixed += early(s.ContentSchema)
		member := 1 + len(s.PatternProperties)
		for _, x := range perMember {
			member = max(member, early(x)*(1+len(s.PatternProperties)))
		}
		checksStrings := s.Pattern != nil || s.Format != nil || s.ContentEncoding != nil || s.ContentMediaType != nil || s.MinLength != nil || s.MaxLength != nil
		next := s.Format
		s.Format = &jsonschema.Format{Validate: func(v any) error {
			cost := fixed
			switch v := v.(type) {
			case map[string]any:
				cost += len(v) * member
				for k := range v {
					cost += len(k) / 16 * len(s.PatternProperties)
				}
			case []any:
				cost += len(v) * member
			case string:
				if checksStrings {
					cost += len(v) / 16
				}
			}
			st.charge(cost)
			if next == nil {
				return nil
			}
			return next.Validate(v)
		}}
		if next != nil {
			s.Format.Name = next.Name
		}
	}
	return nil
}

// early is what s checks before its format: const and enum, which compare
// values, each costing at most the size of the value it holds.
func early(s *jsonschema.Schema) int {
	if s == nil {
		return 0
	}
	n := 1
	if s.Const != nil {
		n += jsonSize(*s.Const)
	}
	if s.Enum != nil {
		for _, v := range s.Enum.Values {
			n += jsonSize(v)
		}
	}
	return n
}

// jsonSize counts the values in v, a decoded JSON value.
func jsonSize(v any) int {
	n := 0
	todo := []any{v}
	for len(todo) > 0 {
		v := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		n++
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				todo = append(todo, e)
			}
		case []any:
			todo = append(todo, v...)
		}
	}
	return n
}

// formats are the formats CompileSchema asserts its own way, over the
// library's, reading st for the strings written with escapes.
func formats(st *checkState) []*jsonschema.Format {
	fs := []*jsonschema.Format{
		{Name: "date-time", Validate: func(v any) error {
			s, ok := v.(string)
			if !ok {
				return nil
			}
			// time.Time.UnmarshalJSON parses the string as written,
			// without reading its escapes; a backslash is never part of a
			// date-time. (encoding/json/v2 reads them first.)
			if len(s) > 0 && !jsonV2 {
				if _, ok := st.escaped[unsafe.StringData(s)]; ok {
					return errors.New("written with escapes")
				}
			}
			var t time.Time
			return t.UnmarshalText([]byte(s))
		}},
		{Name: "float", Validate: floatFormatCheck(32)},
		{Name: "double", Validate: floatFormatCheck(64)},
	}
	for _, bits := range []int{8, 16, 32, 64} {
		fs = append(fs,
			&jsonschema.Format{Name: "int" + strconv.Itoa(bits), Validate: intFormatCheck(bits, true)},
			&jsonschema.Format{Name: "uint" + strconv.Itoa(bits), Validate: intFormatCheck(bits, false)},
		)
	}
	return fs
}

// numberText is the text of a number or a string, which numeric formats
// read as strconv does; false for other values, which they leave alone.
func numberText(v any) (string, bool) {
	switch v := v.(type) {
	case json.Number:
		return string(v), true
	case string:
		return v, true
	}
	return "", false
}

func intFormatCheck(bits int, signed bool) func(any) error {
	return func(v any) error {
		s, ok := numberText(v)
		if !ok {
			return nil
		}
		var err error
		if signed {
			_, err = strconv.ParseInt(s, 10, bits)
		} else {
			_, err = strconv.ParseUint(s, 10, bits)
		}
		return err
	}
}

func floatFormatCheck(bits int) func(any) error {
	return func(v any) error {
		s, ok := numberText(v)
		if !ok {
			return nil
		}
		_, err := strconv.ParseFloat(s, bits)
		return err
	}
}

// get takes a compiled copy of s's document for one validation.
func (s *Schema) get() (*compiled, error) {
	s.mu.Lock()
	if n := len(s.free); n > 0 {
		c := s.free[n-1]
		s.free = s.free[:n-1]
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	return compile(s.doc)
}

func (s *Schema) put(c *compiled) {
	c.st.escaped = nil
	s.mu.Lock()
	s.free = append(s.free, c)
	s.mu.Unlock()
}

// Validate reports whether payload satisfies s. An empty payload is null,
// as it is to the protocol. Members that appear more than once in an
// object are each checked, as encoding/json decodes each.
//
// The error wraps ErrInvalid, and names the JSON pointer of the member
// that fails and what was expected:
//
//	/created_at: want an RFC 3339 date-time, got "yesterday"
//
// A payload that is not JSON, or nests deeper than encoding/json reads
// (10000 levels), is refused the same way. Validate's work is bounded by
// the payload's size whatever the schema: a payload that would cost more
// than a budget in proportion to its size is refused with an error that
// also wraps ErrInvalidSchema.
func (s *Schema) Validate(payload []byte) error {
	if s == nil || s.doc == nil && len(s.free) == 0 {
		return fmt.Errorf("%w: a Schema not made by CompileSchema", ErrInvalidSchema)
	}
	payload = bytes.Trim(payload, " \t\r\n")
	if len(payload) == 0 {
		payload = []byte("null")
	}
	inst, err := decodeInstance(payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c, err := s.get()
	if err != nil {
		return err
	}
	defer s.put(c)
	c.st.left = 1<<16 + 64*len(payload)
	c.st.escaped = inst.escaped
	if inst.dup == nil {
		return c.validate(inst.plain)
	}
	n := layersOf(inst.dup)
	if cost := n * inst.nodes; cost/n != inst.nodes || cost > c.st.left {
		return fmt.Errorf("%w: payload: repeats members too often: %w (%w)", ErrInvalid, errTooCostly, ErrInvalidSchema)
	}
	c.st.left -= n * inst.nodes
	for i := range n {
		if err := c.validate(layer(inst.dup, i)); err != nil {
			return err
		}
	}
	return nil
}

func (c *compiled) validate(v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p != errTooCostly {
				// The validator failed on something this side did not
				// foresee: it must cost the caller the check, never the
				// process.
				err = fmt.Errorf("%w: payload: the validator failed: %v (%w)", ErrInvalid, p, ErrInvalidSchema)
				return
			}
			err = fmt.Errorf("%w: payload: %w (%w)", ErrInvalid, errTooCostly, ErrInvalidSchema)
		}
	}()
	c.st.charge(early(c.root))
	verr := c.root.Validate(v)
	if verr == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(verr, &ve) {
		return fmt.Errorf("%w: %v", ErrInvalid, verr)
	}
	return describeFailure(ve, v)
}

// instance is a decoded payload. Where an object repeats a member, one
// value cannot stand for it: plain is then nil and dup holds every
// occurrence, to be checked in layers.
type instance struct {
	plain   any
	dup     any // of *dupObject, *dupArray and scalars, when plain is nil
	escaped map[*byte]struct{}
	nodes   int
}

// dupObject is an object as written: its members in order, repeats
// included, and the number of layers it needs (layers).
type dupObject struct {
	keys   []string
	vals   []any
	layers int
}

type dupArray struct {
	elems  []any
	layers int
}

func layersOf(v any) int {
	switch v := v.(type) {
	case *dupObject:
		return v.layers
	case *dupArray:
		return v.layers
	}
	return 1
}

// decodeInstance decodes payload as the validator wants it: numbers as
// json.Number, so that their text survives; strings written with escapes
// noted in escaped. It keeps repeated members when there are any.
func decodeInstance(payload []byte) (*instance, error) {
	d := &instanceDecoder{payload: payload}
	v, err := d.decode(false)
	if err != nil {
		return nil, err
	}
	if !d.repeats {
		return &instance{plain: v, escaped: d.escaped, nodes: d.nodes}, nil
	}
	d = &instanceDecoder{payload: payload}
	v, err = d.decode(true)
	if err != nil {
		return nil, err
	}
	return &instance{dup: v, escaped: d.escaped, nodes: d.nodes}, nil
}

type instanceDecoder struct {
	payload []byte
	dec     *json.Decoder
	escaped map[*byte]struct{}
	nodes   int
	repeats bool // an object repeats a member
}

func (d *instanceDecoder) decode(keepRepeats bool) (any, error) {
	d.dec = json.NewDecoder(bytes.NewReader(d.payload))
	d.dec.UseNumber()
	v, err := d.value(keepRepeats, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, errors.New("payload: unexpected data after the top-level value")
	}
	return v, nil
}

func (d *instanceDecoder) token() (json.Token, error) {
	start := d.dec.InputOffset()
	tok, err := d.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("payload is not JSON: %w", err)
	}
	if s, ok := tok.(string); ok && len(s) > 0 {
		raw := d.payload[start:d.dec.InputOffset()]
		if bytes.IndexByte(raw, '\\') >= 0 {
			if d.escaped == nil {
				d.escaped = map[*byte]struct{}{}
			}
			d.escaped[unsafe.StringData(s)] = struct{}{}
		}
	}
	return tok, nil
}

func (d *instanceDecoder) value(keepRepeats bool, depth int) (any, error) {
	tok, err := d.token()
	if err != nil {
		return nil, err
	}
	d.nodes++
	delim, ok := tok.(json.Delim)
	if !ok {
		if n, ok := tok.(json.Number); ok {
			return tameNumber(n), nil
		}
		return tok, nil
	}
	if depth >= maxPayloadDepth {
		return nil, fmt.Errorf("payload nests deeper than %d levels", maxPayloadDepth)
	}
	if delim == '[' {
		arr := []any{}
		n := 1
		for d.dec.More() {
			v, err := d.value(keepRepeats, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
			n = max(n, layersOf(v))
		}
		if _, err := d.token(); err != nil {
			return nil, err
		}
		if keepRepeats {
			return &dupArray{elems: arr, layers: n}, nil
		}
		return arr, nil
	}
	var m map[string]any
	var dup *dupObject
	var per map[string]int
	if keepRepeats {
		dup = &dupObject{layers: 1}
		per = map[string]int{}
	} else {
		m = map[string]any{}
	}
	for d.dec.More() {
		tok, err := d.token()
		if err != nil {
			return nil, err
		}
		key := tok.(string) // the decoder allows only strings here
		v, err := d.value(keepRepeats, depth+1)
		if err != nil {
			return nil, err
		}
		if keepRepeats {
			dup.keys = append(dup.keys, key)
			dup.vals = append(dup.vals, v)
			// A name needs the layers of all its occurrences together.
			per[key] += layersOf(v)
			dup.layers = max(dup.layers, per[key])
			continue
		}
		if _, ok := m[key]; ok {
			d.repeats = true
		}
		m[key] = v
	}
	if _, err := d.token(); err != nil {
		return nil, err
	}
	if keepRepeats {
		return dup, nil
	}
	return m, nil
}

// layer builds layer i of v, a value that keeps repeats, so that the
// layers 0 to layersOf(v)-1 together hold every occurrence of every
// member: each member name takes the i-th of its (occurrence, layer of
// that occurrence) pairs, or its last; each element its own i-th layer,
// or its last.
func layer(v any, i int) any {
	switch v := v.(type) {
	case *dupObject:
		type pick struct {
			val   any
			layer int
		}
		passed := map[string]int{} // pairs of the name's earlier occurrences
		picked := make(map[string]pick, len(v.keys))
		for j, k := range v.keys {
			n := layersOf(v.vals[j])
			before := passed[k]
			passed[k] += n
			switch {
			case i < before:
				// An earlier occurrence holds pair i.
			case i < before+n:
				picked[k] = pick{v.vals[j], i - before}
			default:
				picked[k] = pick{v.vals[j], n - 1}
			}
		}
		m := make(map[string]any, len(picked))
		for k, p := range picked {
			m[k] = layer(p.val, p.layer)
		}
		return m
	case *dupArray:
		arr := make([]any, len(v.elems))
		for j, e := range v.elems {
			arr[j] = layer(e, min(i, layersOf(e)-1))
		}
		return arr
	}
	return v
}

// Numbers whose text the validator would turn into huge exact fractions:
// math/big builds every digit of 1e999999, and gives up, leaving a nil
// the validator then dereferences, past an exponent of ten million. A
// number with more than maxNumberDigits digits, or an exponent beyond
// ±maxNumberExponent, is checked as a stand-in of its first digits and an
// exponent held at that bound: an integer still, or a fraction still, and
// beyond every bound a schema sets, where it was. encoding/json refuses
// such a number for every Go number type but a float, which it rounds to
// ±Inf (refused) or to zero: the stand-in rounds the same way.
const (
	maxNumberDigits   = 1000
	maxNumberExponent = 4096
	standInDigits     = 20
)

// tameNumber returns n, or the stand-in it is checked as.
func tameNumber(n json.Number) json.Number {
	s := string(n)
	if len(s) <= maxNumberDigits && !strings.ContainsAny(s, "eE") {
		return n
	}
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	// The exponent, saturated: its text may be a million digits long.
	e, neg := 0, false
	for i, c := range exp {
		switch {
		case i == 0 && (c == '+' || c == '-'):
			neg = c == '-'
		case e < 10*maxNumberExponent:
			e = e*10 + int(c-'0')
		}
	}
	if neg {
		e = -e
	}
	if len(digits) <= maxNumberDigits && e >= -maxNumberExponent && e <= maxNumberExponent {
		return n
	}
	first := strings.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		// Zero, still in a form no Go integer type takes, as the
		// original was not.
		return "0e0"
	}
	// The value is 0.D × 10^point, D its significant digits. The stand-in
	// keeps the first of them and point, held within the bound: below one
	// (a fraction) where the value is, huge where it is huge. Whether a
	// huge value is whole no Go integer type asks: they refuse it anyway.
	point := min(max(len(intPart)-first+e, -maxNumberExponent), maxNumberExponent)
	sig := digits[first:]
	sig = sig[:min(len(sig), standInDigits)]
	var b strings.Builder
	b.WriteString(sign)
	b.WriteString(sig[:1])
	if len(sig) > 1 {
		b.WriteString(".")
		b.WriteString(sig[1:])
	}
	b.WriteString("e")
	b.WriteString(strconv.Itoa(point - 1))
	return json.Number(b.String())
}

// maxRegexpInsts bounds the program a pattern compiles to, and with it
// what the pattern holds compiled: a 35-byte pattern such as
// (a?){1000}(a?){1000}b compiles to thousands of instructions. Matching
// costs the length of the text times the program's size, which each
// match is charged (costlyRegexp).
const maxRegexpInsts = 2000

// costlyRegexp is a compiled pattern that charges a check for each match
// what it costs: the text's length times the program's size.
type costlyRegexp struct {
	*regexp.Regexp
	insts int
	// span bounds the bytes a match reads, for a pattern anchored at the
	// start whose matches are of bounded length (Go's case-folded member
	// names are): the matcher stops when no match can go on. -1: none.
	span int
	st   *checkState
}

func (r costlyRegexp) MatchString(s string) bool {
	n := len(s)
	if r.span >= 0 && n > r.span {
		n = r.span
	}
	// About what sixteen characters against one instruction cost, the
	// unit the rest of a check is charged in.
	r.st.charge(1 + n*r.insts/16)
	return r.Regexp.MatchString(s)
}

// matchSpan is the most bytes a match of re can be, or -1 when it has no
// bound.
func matchSpan(re *syntax.Regexp) int {
	sum := func(subs []*syntax.Regexp) int {
		n := 0
		for _, sub := range subs {
			m := matchSpan(sub)
			if m < 0 {
				return -1
			}
			n += m
		}
		return n
	}
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpLiteral:
		return len(re.Rune) * utf8.UTFMax
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return utf8.UTFMax
	case syntax.OpCapture:
		return matchSpan(re.Sub[0])
	case syntax.OpQuest:
		return matchSpan(re.Sub[0])
	case syntax.OpConcat:
		return sum(re.Sub)
	case syntax.OpAlternate:
		n := 0
		for _, sub := range re.Sub {
			m := matchSpan(sub)
			if m < 0 {
				return -1
			}
			n = max(n, m)
		}
		return n
	case syntax.OpRepeat:
		if re.Max < 0 {
			return -1
		}
		if m := matchSpan(re.Sub[0]); m >= 0 {
			return m * re.Max
		}
	}
	return -1
}

func compileRegexp(s string, st *checkState) (jsonschema.Regexp, error) {
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	if n := len(prog.Inst); n > maxRegexpInsts {
		return nil, fmt.Errorf("pattern %q compiles to %d instructions; at most %d allowed", truncated(s), n, maxRegexpInsts)
	}
	compiled, err := regexp.Compile(s)
	if err != nil {
		return nil, err
	}
	span := -1
	if prog.StartCond()&syntax.EmptyBeginText != 0 {
		span = matchSpan(re.Simplify())
	}
	return costlyRegexp{compiled, len(prog.Inst), span, st}, nil
}

func truncated(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
