package typedesc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("payload does not match description")

// maxDepth is encoding/json's nesting limit; deeper payloads never decode.
const maxDepth = 10000

// Validate reports whether payload would decode into the Go type e
// describes, and beyond that whether it holds every mandatory field, so a
// caller can find its mistake before sending.
//
// It takes encoding/json's view: object keys match field names exactly or
// else case-insensitively, unknown keys are ignored, null is accepted for
// any value, and a number meant for an integer kind must be written as an
// integer that fits. A null field is present, so its own fields are not
// required; but an empty payload, which counts as null, passes only when e
// is nil or has no mandatory fields. A Type this package does not know
// accepts any JSON.
//
// The error wraps ErrInvalid and names the path of the offending value, as
// in `field "items[2].price": expected float64, got string`. A payload that
// reaches a level of e deeper than MaxDepth is refused with an error that
// also wraps ErrTooDeep, so Validate's work is bounded by MaxDepth and the
// payload's size whatever e holds.
func (e *Entity) Validate(payload []byte) error {
	payload = bytes.Trim(payload, " \t\r\n")
	if len(payload) == 0 {
		payload = []byte("null")
	}
	if e == nil {
		e = &Entity{Type: "any"}
	}
	// A null payload leaves every field out, unlike a null nested value,
	// which at least sends the field itself.
	if ParseType(e.Type).Kind == Struct && string(payload) == "null" {
		for _, f := range e.Fields {
			if f.Mandatory {
				return mismatch(f.Name, "mandatory field is missing")
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	v := validator{dec: dec}
	if err := v.value(e.Type, e.Fields); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after top-level value", ErrInvalid)
	}
	return nil
}

// validator walks the payload's tokens and the description together, so
// that no intermediate value is built and every duplicate key is seen, as
// encoding/json sees it. Its work is linear in the payload and in the parts
// of the description the payload reaches: the path is kept as a stack of
// segments and spelled only for an error, and long field lists are
// indexed once per Validate.
type validator struct {
	dec     *json.Decoder
	depth   int                     // of objects and arrays open
	trail   []segment               // the path of the value being read
	indexes map[listKey]*fieldIndex // of long field lists
}

// segment is one step of a path: a field or map key, or an array index.
type segment struct {
	key   string
	index int
	elem  bool
}

// push and pop bracket the reading of a nested value.
func (v *validator) push(s segment) { v.trail = append(v.trail, s) }
func (v *validator) pop()           { v.trail = v.trail[:len(v.trail)-1] }

// path spells the trail as in `items[2].price`, as join does.
func (v *validator) path() string {
	var b strings.Builder
	for _, s := range v.trail {
		if s.elem {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// mismatch reports a value that does not fit, at the current path.
func (v *validator) mismatch(format string, args ...any) error {
	return mismatch(v.path(), format, args...)
}

// value reads one JSON value and checks it against typ and fields.
func (v *validator) value(typ string, fields []Entity) error {
	tok, err := v.dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	s := ParseType(typ)
	switch tok := tok.(type) {
	case nil:
		return nil
	case json.Delim:
		// Every level open here was matched against a level of the
		// description (values any JSON will do are skipped without
		// recursing), so v.depth is also how deep the description is.
		if v.depth >= MaxDepth && s.opens() {
			if len(v.trail) == 0 {
				return fmt.Errorf("%w: %w", ErrInvalid, ErrTooDeep)
			}
			return fmt.Errorf("%w: field %q: %w", ErrInvalid, v.path(), ErrTooDeep)
		}
		if err := v.open(); err != nil {
			return err
		}
		defer v.close()
		if tok == '{' {
			return v.object(typ, s, fields)
		}
		return v.array(typ, s, fields)
	case string:
		if s.Kind == String {
			return nil
		}
	case bool:
		if s.Kind == Bool {
			return nil
		}
	case json.Number:
		if s.number() {
			if !s.fits(string(tok)) {
				return v.mismatch("expected %s, got number %s", typ, tok)
			}
			return nil
		}
	}
	if !s.known() {
		return nil
	}
	return v.mismatch("expected %s, got %s", typ, kindOf(tok))
}

func (v *validator) open() error {
	if v.depth++; v.depth > maxDepth {
		return fmt.Errorf("%w: exceeded max depth %d", ErrInvalid, maxDepth)
	}
	return nil
}

func (v *validator) close() { v.depth-- }

// object reads an object's members against s, the Shape of typ.
func (v *validator) object(typ string, s Shape, fields []Entity) error {
	isMap := s.Kind == Map
	if !isMap && s.Kind != Struct {
		if s.known() {
			return v.mismatch("expected %s, got object", typ)
		}
		return v.skipRest()
	}
	var seen fieldsSeen
	var key Shape
	if isMap {
		key = ParseType(s.Key)
	} else {
		seen = v.seen(fields)
		defer seen.done()
	}
	for v.dec.More() {
		tok, err := v.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: object key is not a string", ErrInvalid)
		}
		if isMap {
			if key.number() && !key.fits(name) {
				return v.mismatch("expected %s key, got %q", s.Key, name)
			}
			v.push(segment{key: name})
			if err := v.value(s.Elem, fields); err != nil {
				return err
			}
			v.pop()
			continue
		}
		i := seen.match(name)
		if i < 0 {
			if err := v.value("any", nil); err != nil {
				return err
			}
			continue
		}
		v.push(segment{key: fields[i].Name})
		if err := v.value(fields[i].Type, fields[i].Fields); err != nil {
			return err
		}
		v.pop()
	}
	if _, err := v.dec.Token(); err != nil {
		return syntaxError(err)
	}
	if i := seen.missing(); i >= 0 {
		v.push(segment{key: fields[i].Name})
		return v.mismatch("mandatory field is missing")
	}
	return nil
}

// array reads an array's elements against s, the Shape of typ.
func (v *validator) array(typ string, s Shape, fields []Entity) error {
	if s.Kind != Slice {
		if s.known() {
			return v.mismatch("expected %s, got array", typ)
		}
		return v.skipRest()
	}
	for i := 0; v.dec.More(); i++ {
		v.push(segment{index: i, elem: true})
		if err := v.value(s.Elem, fields); err != nil {
			return err
		}
		v.pop()
	}
	if _, err := v.dec.Token(); err != nil {
		return syntaxError(err)
	}
	return nil
}

// skipRest reads to the end of an object or array whose opening delimiter
// has been read, for values any JSON will do. It loops instead of
// recursing, so deep nesting costs no stack.
func (v *validator) skipRest() error {
	for open := 1; open > 0; {
		tok, err := v.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			// v.depth already counts the first of the open delimiters.
			if open++; v.depth+open-1 > maxDepth {
				return fmt.Errorf("%w: exceeded max depth %d", ErrInvalid, maxDepth)
			}
		case json.Delim('}'), json.Delim(']'):
			open--
		}
	}
	return nil
}

// matchField finds the field a key decodes into the way encoding/json
// does: an exact match first, else the first case-insensitive one.
func matchField(fields []Entity, key string) int {
	for i := range fields {
		if fields[i].Name == key {
			return i
		}
	}
	for i := range fields {
		if strings.EqualFold(fields[i].Name, key) {
			return i
		}
	}
	return -1
}

func kindOf(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	}
	return "null"
}

func mismatch(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path == "" {
		return fmt.Errorf("%w: %s", ErrInvalid, msg)
	}
	return fmt.Errorf("%w: field %q: %s", ErrInvalid, path, msg)
}

func syntaxError(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}
