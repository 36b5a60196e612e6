package socket

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"strings"
	"unicode/utf8"

	"github.com/plugsock/plugsock/internal/jsonfast"
	"github.com/plugsock/plugsock/internal/jsonkey"
	"github.com/plugsock/plugsock/typedesc"
)

// The fast path of the handshake's "functions": decoding them with
// encoding/json and then compacting them allocated 11 times their JSON on
// the way (growing slices, a string per name, the copy), garbage as soon
// as the plugin was live. decodeFunctions reads the JSON twice instead,
// allocating little but the result: once to count the Entities, the
// length of every list of fields and the bytes of the strings, and once to
// fill one block of Entities, each list of fields in one run, and one
// string of that size, as compact lays them out.
//
// It takes the shapes plugins send (Go's encoding/json and Python's json
// module write nothing else): member names spelled exactly as Entity's and
// Function's tags, each once; function names once each; values of the
// types those fields have, or null. On anything else it gives up, and the
// caller decodes with encoding/json as before, which then decides what
// such input means: it matches member names case-insensitively and lets
// the last of two win, even merging two lists of fields. What the fast
// path accepts, encoding/json would decode to the same functions;
// TestDecodeFunctionsMatchesEncodingJSON and FuzzDecodeFunctions hold the
// two to that.
//
// The JSON has been checked already: the envelope and the handshake's own
// members were decoded from it. The reader relies on that only to skip
// members it does not know, and fields nested deeper than Check looks: a
// description that deep is refused either way, though encoding/json might
// have named another fault in what is not read.

// maxInterned bounds the distinct strings shared within one description,
// and so the table that finds them. Past it strings are still copied once
// each, as the bytes that spelled them bound.
const maxInterned = 4096

var (
	functionMembers = []string{"name", "input", "output", "inputSchema", "outputSchema", "stream"}
	entityMembers   = []string{"name", "type", "mandatory", "fields"}
)

// functionsReader is one pass over a description.
type functionsReader struct {
	p []byte
	i int
	// fill is false on the first pass, which counts, and true on the
	// second, which fills what the first sized.
	fill bool

	entities int
	lists    []int32 // the length of each list of fields, in order
	list     int     // the next of lists, when filling
	textLen  int

	seed     maphash.Seed
	interned map[uint64]int // hash of a string's bytes → its offset in text

	scratch []byte // the last string with escapes, decoded

	schemaLen int // the bytes of every schema, as sent

	text    *strings.Builder
	block   []typedesc.Entity
	schemas *schemaText
	out     map[string]typedesc.Function
}

// decodeFunctions decodes raw, a "functions" object that counts at most
// units JSON objects and functions, into the compact form; ok is false
// when encoding/json must decide instead.
func decodeFunctions(raw []byte, units int) (fns map[string]typedesc.Function, ok bool) {
	r := &functionsReader{
		p:        raw,
		seed:     maphash.MakeSeed(),
		interned: make(map[uint64]int, min(units, 64)),
		lists:    make([]int32, 0, min(units, 64)),
	}
	n, ok := r.functions()
	if !ok {
		return nil, false
	}
	r.i, r.fill, r.list = 0, true, 0
	r.text = new(strings.Builder)
	r.text.Grow(r.textLen)
	r.block = make([]typedesc.Entity, 0, r.entities)
	r.schemas = newSchemaText(r.schemaLen)
	r.out = make(map[string]typedesc.Function, n)
	if _, ok := r.functions(); !ok {
		return nil, false
	}
	return r.out, true
}

// functions reads the functions object and returns how many it has.
func (r *functionsReader) functions() (n int, ok bool) {
	if !r.open('{') {
		return 0, false
	}
	if !r.empty('}') {
		for {
			r.ws()
			key, ok := r.str()
			if !ok || !r.colon() {
				return 0, false
			}
			name, ok := r.intern(key)
			if !ok {
				return 0, false
			}
			fn, ok := r.function()
			if !ok {
				return 0, false
			}
			if r.fill {
				if _, dup := r.out[name]; dup {
					return 0, false
				}
				r.out[name] = fn
			}
			n++
			if r.more('}') {
				continue
			}
			break
		}
	}
	r.ws()
	return n, r.i == len(r.p) && !r.failed()
}

func (r *functionsReader) function() (fn typedesc.Function, ok bool) {
	if r.null() {
		return fn, true
	}
	if !r.open('{') {
		return fn, false
	}
	if r.empty('}') {
		return fn, true
	}
	var seen uint
	for {
		r.ws()
		key, ok := r.str()
		if !ok || !r.colon() {
			return fn, false
		}
		m := memberIndex(key, functionMembers)
		if m < 0 && jsonkey.MayMatch(key, functionMembers) || m >= 0 && seen&(1<<m) != 0 {
			return fn, false
		}
		if m >= 0 {
			seen |= 1 << m
		}
		switch m {
		case 0: // name
			if r.null() {
				break
			}
			s, ok := r.str()
			if !ok {
				return fn, false
			}
			if fn.Name, ok = r.intern(s); !ok {
				return fn, false
			}
		case 1, 2: // input, output
			if r.null() {
				break
			}
			e := r.top()
			if !r.entity(e, 0) {
				return fn, false
			}
			if m == 1 {
				fn.Input = e
			} else {
				fn.Output = e
			}
		case 3, 4: // inputSchema, outputSchema
			// Kept as the JSON it is, whatever that is: compiling it
			// decides whether it is a schema, as it does for what
			// encoding/json reads into a json.RawMessage.
			if r.null() {
				break
			}
			start := r.i
			if !r.skip() {
				return fn, false
			}
			if !r.fill {
				r.schemaLen += r.i - start
				break
			}
			raw := r.schemas.add(r.p[start:r.i])
			if m == 3 {
				fn.InputSchema = raw
			} else {
				fn.OutputSchema = raw
			}
		case 5: // stream
			// Left to encoding/json: a stream's description is rare.
			if !r.null() {
				return fn, false
			}
		default:
			if !r.skip() {
				return fn, false
			}
		}
		if !r.more('}') {
			return fn, !r.failed()
		}
	}
}

// top returns the slot of an input or output: a new Entity in the block.
func (r *functionsReader) top() *typedesc.Entity {
	if !r.fill {
		r.entities++
		return nil
	}
	if len(r.block) == cap(r.block) {
		return nil // entity refuses nil when filling
	}
	r.block = append(r.block, typedesc.Entity{})
	return &r.block[len(r.block)-1]
}

// entity reads an Entity object into e (nil while counting) at the given
// level of fields, 0 at the top. Fields below typedesc.MaxDepth+1 levels
// are skipped, not read: such a description is refused by Check, which
// stops at the first Entity that has fields that deep, and so never looks
// at what those fields hold. The recursion is bounded by that too.
func (r *functionsReader) entity(e *typedesc.Entity, level int) bool {
	if r.fill && e == nil {
		return false
	}
	if r.null() {
		return true // the zero Entity, as encoding/json leaves it
	}
	if !r.open('{') {
		return false
	}
	if r.empty('}') {
		return true
	}
	var seen uint
	for {
		r.ws()
		key, ok := r.str()
		if !ok || !r.colon() {
			return false
		}
		m := memberIndex(key, entityMembers)
		if m < 0 && jsonkey.MayMatch(key, entityMembers) || m >= 0 && seen&(1<<m) != 0 {
			return false
		}
		if m >= 0 {
			seen |= 1 << m
		}
		switch m {
		case 0, 1: // name, type
			if r.null() {
				break
			}
			s, ok := r.str()
			if !ok {
				return false
			}
			v, ok := r.intern(s)
			if !ok {
				return false
			}
			if e != nil && m == 0 {
				e.Name = v
			} else if e != nil {
				e.Type = v
			}
		case 2: // mandatory
			var v bool
			switch {
			case r.null():
			case bytes.HasPrefix(r.p[r.i:], []byte("true")):
				v, r.i = true, r.i+4
			case bytes.HasPrefix(r.p[r.i:], []byte("false")):
				r.i += 5
			default:
				return false
			}
			if e != nil {
				e.Mandatory = v
			}
		case 3: // fields
			if r.null() {
				break
			}
			if level > typedesc.MaxDepth {
				if !r.skip() {
					return false
				}
				break
			}
			if !r.fields(e, level) {
				return false
			}
		default:
			if !r.skip() {
				return false
			}
		}
		if !r.more('}') {
			return !r.failed()
		}
	}
}

// fields reads e's list of fields. Counting, it notes the list's length;
// filling, it takes that many Entities from the block for it, next to one
// another, before any of theirs, as compact lays them out.
func (r *functionsReader) fields(e *typedesc.Entity, level int) bool {
	if !r.open('[') {
		return false
	}
	var list []typedesc.Entity
	at := len(r.lists) // where this list's length is noted
	if r.fill {
		if r.list >= len(r.lists) {
			return false
		}
		n := int(r.lists[r.list])
		r.list++
		start := len(r.block)
		if n > cap(r.block)-start {
			return false
		}
		if n > 0 {
			r.block = r.block[:start+n]
			list = r.block[start : start+n : start+n]
			e.Fields = list
		}
	} else {
		r.lists = append(r.lists, 0)
	}
	if r.empty(']') {
		return true
	}
	for n := 0; ; n++ {
		r.ws()
		var f *typedesc.Entity
		if r.fill {
			if n >= len(list) {
				return false
			}
			f = &list[n]
		} else {
			r.entities++
			r.lists[at]++
		}
		if !r.entity(f, level+1) {
			return false
		}
		if !r.more(']') {
			return !r.failed() && (!r.fill || n+1 == len(list))
		}
	}
}

// intern returns s as a string of the description's text. Counting, it
// only sizes the text; filling, it copies s there, or finds the copy
// made before. ok is false only when two strings that differ share a hash.
func (r *functionsReader) intern(s []byte) (string, bool) {
	if len(s) == 0 {
		return "", true
	}
	h := maphash.Bytes(r.seed, s)
	off, seen := r.interned[h]
	if !r.fill {
		if !seen {
			if len(r.interned) < maxInterned {
				r.interned[h] = r.textLen
			}
			r.textLen += len(s)
		}
		return "", true
	}
	// The same strings come in the same order as they did when counting,
	// so a string seen then is new here when its offset is where the text
	// ends, and was copied before when it is below.
	t := r.text.String()
	switch {
	case !seen || off == len(t):
		r.text.Write(s)
		return r.text.String()[len(t):], true
	case off < len(t) && off+len(s) <= len(t) && t[off:off+len(s)] == string(s):
		return t[off : off+len(s)], true
	}
	return "", false
}

// schemaText holds the schemas of one description in one block, each
// compacted (white space between tokens adds nothing to a schema, and a
// schema pretty-printed could cost the host several times what it says)
// and each distinct one once: a Go plugin describes the same type in the
// same words wherever it appears. The block is sized for all of them up
// front and never grows, so the slices handed out stay valid.
type schemaText struct {
	buf  []byte
	seed maphash.Seed
	seen map[uint64]int // hash of a schema → its offset in buf
}

func newSchemaText(size int) *schemaText {
	return &schemaText{buf: make([]byte, 0, size), seed: maphash.MakeSeed()}
}

// add returns raw, valid JSON, compacted, as a slice of the block. The
// block must have room for raw as it is. JSON null is no schema: nil.
func (t *schemaText) add(raw []byte) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	start := len(t.buf)
	t.buf = appendCompact(t.buf, raw)
	s := t.buf[start:len(t.buf):len(t.buf)]
	if string(s) == "null" {
		t.buf = t.buf[:start]
		return nil
	}
	h := maphash.Bytes(t.seed, s)
	if off, ok := t.seen[h]; ok && off+len(s) <= start && bytes.Equal(t.buf[off:off+len(s)], s) {
		t.buf = t.buf[:start]
		return t.buf[off : off+len(s) : off+len(s)]
	}
	if t.seen == nil {
		t.seen = make(map[uint64]int)
	}
	if len(t.seen) < maxInterned {
		t.seen[h] = start
	}
	return s
}

// dropNullSchemas makes the schemas encoding/json decoded as JSON null
// absent, as the fast path reads them: null is no schema.
func dropNullSchemas(fns map[string]typedesc.Function) {
	for name, fn := range fns {
		in, out := bytes.TrimSpace(fn.InputSchema), bytes.TrimSpace(fn.OutputSchema)
		if string(in) == "null" || string(out) == "null" {
			if string(in) == "null" {
				fn.InputSchema = nil
			}
			if string(out) == "null" {
				fn.OutputSchema = nil
			}
			fns[name] = fn
		}
	}
}

// appendCompact appends raw, valid JSON, without the white space between
// its tokens, as json.Compact writes it.
func appendCompact(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case ' ', '\t', '\r', '\n':
			i++
		case '"':
			end, ok := skipString(raw, i)
			if !ok {
				return append(dst, raw[i:]...) // not valid JSON: kept as it is
			}
			dst = append(dst, raw[i:end]...)
			i = end
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

// memberIndex returns the index of key among names, or -1.
func memberIndex(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	return -1
}

// null consumes white space and null, and reports whether it was there.
func (r *functionsReader) null() bool {
	r.ws()
	if r.i <= len(r.p) && bytes.HasPrefix(r.p[r.i:], []byte("null")) {
		r.i += 4
		return true
	}
	return false
}

// failed reports a reader that has run past its input.
func (r *functionsReader) failed() bool { return r.i > len(r.p) }

func (r *functionsReader) ws() { r.i = skipSpace(r.p, r.i) }

// open consumes white space and then c.
func (r *functionsReader) open(c byte) bool {
	r.ws()
	if r.i < len(r.p) && r.p[r.i] == c {
		r.i++
		return true
	}
	return false
}

// empty consumes white space and c, and reports whether c was there, as
// it is in an empty object or array; otherwise it leaves the reader where
// it was.
func (r *functionsReader) empty(c byte) bool {
	j := skipSpace(r.p, r.i)
	if j < len(r.p) && r.p[j] == c {
		r.i = j + 1
		return true
	}
	return false
}

func (r *functionsReader) colon() bool {
	if !r.open(':') {
		return false
	}
	r.ws()
	return true
}

// more consumes the comma between two members or elements and reports
// true, or the closing c and reports false; on anything else it reports
// false and marks the reader failed.
func (r *functionsReader) more(c byte) bool {
	r.ws()
	if r.i < len(r.p) {
		switch r.p[r.i] {
		case ',':
			r.i++
			return true
		case c:
			r.i++
			return false
		}
	}
	r.i = len(r.p) + 1
	return false
}

// skip consumes one value of checked JSON.
func (r *functionsReader) skip() bool {
	r.ws()
	end, _, _, ok := skipValue(r.p, r.i)
	if ok {
		r.i = end
	}
	return ok
}

// str consumes a string and returns its contents as encoding/json
// decodes them. A string with escapes is decoded into a buffer the reader
// reuses, so what str returns is good only until it is called again.
func (r *functionsReader) str() ([]byte, bool) {
	r.ws()
	if r.i >= len(r.p) || r.p[r.i] != '"' {
		return nil, false
	}
	end, ok := skipString(r.p, r.i)
	if !ok {
		return nil, false
	}
	s := r.p[r.i+1 : end-1]
	r.i = end
	if !utf8.Valid(s) {
		return nil, false // encoding/json would replace bytes: its to decide
	}
	if bytes.IndexByte(s, '\\') < 0 {
		return s, true
	}
	r.scratch, ok = jsonfast.Unescape(r.scratch[:0], s)
	return r.scratch, ok
}
