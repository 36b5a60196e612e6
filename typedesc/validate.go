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
// in `field "items[2].price": expected float64, got string`.
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
	if e.Type == "struct" && string(payload) == "null" {
		for _, f := range e.Fields {
			if f.Mandatory {
				return mismatch(f.Name, "mandatory field is missing")
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	v := validator{dec: dec}
	if err := v.value(e.Type, e.Fields, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after top-level value", ErrInvalid)
	}
	return nil
}

// validator walks the payload's tokens and the description together, so
// that no intermediate value is built and every duplicate key is seen, as
// encoding/json sees it.
type validator struct {
	dec   *json.Decoder
	depth int // of objects and arrays open
}

// value reads one JSON value and checks it against typ and fields.
func (v *validator) value(typ string, fields []Entity, path string) error {
	tok, err := v.dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	switch tok := tok.(type) {
	case nil:
		return nil
	case json.Delim:
		if err := v.open(); err != nil {
			return err
		}
		defer v.close()
		if tok == '{' {
			return v.object(typ, fields, path)
		}
		return v.array(typ, fields, path)
	case string:
		if typ == "string" {
			return nil
		}
	case bool:
		if typ == "bool" {
			return nil
		}
	case json.Number:
		if class, bits := numberKind(typ); class != notNumber {
			if !fits(class, bits, string(tok)) {
				return mismatch(path, "expected %s, got number %s", typ, tok)
			}
			return nil
		}
	}
	if !known(typ) {
		return nil
	}
	return mismatch(path, "expected %s, got %s", typ, kindOf(tok))
}

func (v *validator) open() error {
	if v.depth++; v.depth > maxDepth {
		return fmt.Errorf("%w: exceeded max depth %d", ErrInvalid, maxDepth)
	}
	return nil
}

func (v *validator) close() { v.depth-- }

func (v *validator) object(typ string, fields []Entity, path string) error {
	keyKind, elem, isMap := mapParts(typ)
	if !isMap && typ != "struct" {
		if known(typ) {
			return mismatch(path, "expected %s, got object", typ)
		}
		return v.skipRest()
	}
	var seen []bool
	if !isMap {
		seen = make([]bool, len(fields))
	}
	for v.dec.More() {
		tok, err := v.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: object key is not a string", ErrInvalid)
		}
		if isMap {
			if err := checkKey(keyKind, key, path); err != nil {
				return err
			}
			if err := v.value(elem, fields, join(path, key)); err != nil {
				return err
			}
			continue
		}
		i := matchField(fields, key)
		if i < 0 {
			if err := v.value("any", nil, ""); err != nil {
				return err
			}
			continue
		}
		seen[i] = true
		if err := v.value(fields[i].Type, fields[i].Fields, join(path, fields[i].Name)); err != nil {
			return err
		}
	}
	if _, err := v.dec.Token(); err != nil {
		return syntaxError(err)
	}
	for i := range seen {
		if fields[i].Mandatory && !seen[i] {
			return mismatch(join(path, fields[i].Name), "mandatory field is missing")
		}
	}
	return nil
}

func (v *validator) array(typ string, fields []Entity, path string) error {
	elem, ok := sliceElem(typ)
	if !ok {
		if known(typ) {
			return mismatch(path, "expected %s, got array", typ)
		}
		return v.skipRest()
	}
	for i := 0; v.dec.More(); i++ {
		if err := v.value(elem, fields, path+"["+strconv.Itoa(i)+"]"); err != nil {
			return err
		}
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

// checkKey checks a key of a map with keys of the given kind.
func checkKey(kind, key, path string) error {
	if class, bits := numberKind(kind); class != notNumber && !fits(class, bits, key) {
		return mismatch(path, "expected %s key, got %q", kind, key)
	}
	return nil
}

// fits reports whether encoding/json can store the number literal s in a
// number of the given class and size. It parses the literal as written, as
// encoding/json does, so 1.0 and 1e3 are not integers.
func fits(class, bits int, s string) bool {
	var err error
	switch class {
	case signed:
		_, err = strconv.ParseInt(s, 10, bits)
	case unsigned:
		_, err = strconv.ParseUint(s, 10, bits)
	case float:
		_, err = strconv.ParseFloat(s, bits)
	}
	return err == nil
}

// known reports whether typ is a Type this package produces, and so one it
// can check values against. Descriptions from other languages may use
// others; those accept anything.
func known(typ string) bool {
	if _, ok := sliceElem(typ); ok {
		return true
	}
	if _, _, ok := mapParts(typ); ok {
		return true
	}
	class, _ := numberKind(typ)
	return class != notNumber || typ == "string" || typ == "bool" || typ == "struct"
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

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
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
