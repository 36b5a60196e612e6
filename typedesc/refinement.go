package typedesc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// What an author adds to a field's schema that reflection cannot see, in
// two struct tags:
//
//	jsonschema:"The price in cents."         the field's description
//	plugsock:"required,minimum=0,maximum=10"  a comma-separated list
//
// parseRefinement reads them and apply adds them to the field's schema.

// refinement is what a field's tags say.
type refinement struct {
	description string
	required    bool
	optional    bool
	keywords    []keyword // in the order written
}

type keyword struct {
	name  string
	value any
}

// refinementOptions lists the plugsock tag's options, for messages.
const refinementOptions = "required, optional, minimum=, maximum=, exclusiveMinimum=, exclusiveMaximum=, minLength=, maxLength=, pattern=, enum=, not="

// jsonKind is what a field's JSON is, for deciding which options apply.
type jsonKind uint8

const (
	otherJSON jsonKind = iota
	numberJSON
	stringJSON
	boolJSON
)

// fieldJSONKind says whether f's JSON is a number, a string or a bool.
func fieldJSONKind(f jsonField) jsonKind {
	if f.quoted {
		return otherJSON
	}
	t := indirect(f.typ)
	p := reflect.PointerTo(t)
	switch {
	case t == timeType, t == numberType:
		if t == numberType {
			return numberJSON
		}
		return stringJSON
	case p.Implements(marshalerType), p.Implements(unmarshalerType):
		return otherJSON
	case p.Implements(textMarshalerType), p.Implements(textUnmarshalerType):
		return stringJSON
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return numberJSON
	case reflect.String:
		return stringJSON
	case reflect.Bool:
		return boolJSON
	}
	return otherJSON
}

func parseRefinement(parent reflect.Type, f jsonField) (refinement, error) {
	r := refinement{description: f.tag.Get("jsonschema")}
	tag := f.tag.Get("plugsock")
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: field %s of %v: plugsock tag %q: %s", ErrRefinement, f.goName, parent, tag, fmt.Sprintf(format, args...))
	}
	kind := fieldJSONKind(f)
	for rest := tag; rest != ""; {
		var opt string
		if strings.HasPrefix(rest, "pattern=") {
			// A pattern may hold commas, so it takes the rest of the tag.
			opt, rest = rest, ""
		} else {
			opt, rest, _ = strings.Cut(rest, ",")
		}
		name, val, hasVal := strings.Cut(opt, "=")
		switch name {
		case "required", "optional":
			if hasVal {
				return r, bad("option %s takes no value", name)
			}
			if name == "required" {
				r.required = true
			} else {
				r.optional = true
			}
			if r.required && r.optional {
				return r, bad("a field cannot be both required and optional")
			}
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			if kind != numberJSON {
				return r, bad("option %s needs a field whose JSON is a number", name)
			}
			if !isJSONNumber(val) {
				return r, bad("option %s=%s: want a number", name, val)
			}
			r.keywords = append(r.keywords, keyword{name, json.Number(val)})
		case "minLength", "maxLength":
			if kind != stringJSON {
				return r, bad("option %s needs a field whose JSON is a string", name)
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return r, bad("option %s=%s: want a count of characters", name, val)
			}
			r.keywords = append(r.keywords, keyword{name, n})
		case "pattern":
			if kind != stringJSON {
				return r, bad("option pattern needs a field whose JSON is a string")
			}
			if _, err := regexp.Compile(val); err != nil {
				return r, bad("option pattern: %v", err)
			}
			r.keywords = append(r.keywords, keyword{name, val})
		case "enum", "not":
			values, err := enumOption(kind, val)
			if err != nil {
				return r, bad("option %s: %v", name, err)
			}
			if name == "not" {
				r.keywords = append(r.keywords, keyword{name, obj{"enum": values}})
			} else {
				r.keywords = append(r.keywords, keyword{name, values})
			}
		case "-":
			// plugsockSkip reads "-" only as the first option.
			return r, bad(`"-" leaves a field out only as the first option`)
		case "":
			if opt != "" || rest != "" {
				return r, bad("empty option")
			}
		default:
			return r, bad("unknown option %q; the options are %s", name, refinementOptions)
		}
	}
	return r, nil
}

// enumOption reads the values of enum= and not=, separated by "|": JSON
// numbers for a number field, true or false for a bool, the text itself
// for a string.
func enumOption(kind jsonKind, val string) ([]any, error) {
	if val == "" {
		return nil, fmt.Errorf("want values separated by |")
	}
	var values []any
	for _, v := range strings.Split(val, "|") {
		switch kind {
		case numberJSON:
			if !isJSONNumber(v) {
				return nil, fmt.Errorf("%q is not a number", v)
			}
			values = append(values, json.Number(v))
		case boolJSON:
			b, err := strconv.ParseBool(v)
			if err != nil || v != "true" && v != "false" {
				return nil, fmt.Errorf("%q is not true or false", v)
			}
			values = append(values, b)
		case stringJSON:
			values = append(values, v)
		default:
			return nil, fmt.Errorf("needs a field whose JSON is a number, a string or a bool")
		}
	}
	return values, nil
}

var jsonNumber = regexp.MustCompile(numberPattern)

func isJSONNumber(s string) bool { return jsonNumber.MatchString(s) }

// apply adds r to s, the schema of field f of parent.
func (r refinement) apply(s any, parent reflect.Type, f jsonField) (any, error) {
	if r.description == "" && len(r.keywords) == 0 {
		return s, nil
	}
	o, ok := s.(obj)
	if !ok {
		return s, nil // a field that cannot be read or written at all
	}
	o = maps(o)
	if r.description != "" {
		if d, ok := o["description"].(string); ok {
			o["description"] = r.description + " (" + d + ")"
		} else {
			o["description"] = r.description
		}
	}
	for _, k := range r.keywords {
		if k.name == "enum" {
			// Keep null where null decodes; the values narrow the rest.
			if _, ok := o["$ref"]; ok {
				return nil, fmt.Errorf("%w: field %s of %v: option enum needs a scalar field", ErrRefinement, f.goName, parent)
			}
			values := k.value.([]any)
			if typeAllows(o["type"], "null") {
				values = append(slices.Clip(values), nil)
			}
			o["enum"] = values
			continue
		}
		o[k.name] = k.value
	}
	return o, nil
}

// typeAllows reports whether the "type" keyword t allows the JSON type
// name.
func typeAllows(t any, name string) bool {
	switch t := t.(type) {
	case string:
		return t == name
	case []any:
		return slices.Contains(t, any(name))
	}
	return false
}

// keywordOrder is the order schema keywords are written in, for a reader:
// what a value is first, the members of an object after, $defs last. Keys
// it does not list go between, in alphabetical order.
var keywordOrder = func() map[string]int {
	order := []string{
		"$schema", "$id", "$ref", "$comment", "title", "description",
		"type", "const", "enum", "not", "format", "contentEncoding", "contentMediaType", "contentSchema",
		"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
		"minLength", "maxLength", "pattern",
		"anyOf",
		"prefixItems", "items", "minItems", "maxItems",
		"propertyNames", "properties", "patternProperties", "additionalProperties", "required",
		"$defs",
	}
	m := make(map[string]int, len(order))
	for i, k := range order {
		m[k] = i + 1
	}
	return m
}()

// writeJSON writes v, made of obj, *members, []any and JSON scalars, as
// compact JSON, with obj's keys in keywordOrder and without the HTML
// escaping of json.Marshal, so that patterns read as written.
func writeJSON(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case obj:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, c string) int {
			ra, rc := keywordOrder[a], keywordOrder[c]
			if ra == 0 {
				ra = keywordOrder["anyOf"]
			}
			if rc == 0 {
				rc = keywordOrder["anyOf"]
			}
			if ra != rc {
				return ra - rc
			}
			return strings.Compare(a, c)
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeJSON(b, v[k])
		}
		b.WriteByte('}')
	case *members:
		b.WriteByte('{')
		for i, k := range v.names {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeJSON(b, v.vals[i])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case string:
		writeString(b, v)
	default:
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v) // scalars: nil, bool, int, json.Number
		b.Truncate(b.Len() - 1)
	}
}

func writeString(b *bytes.Buffer, s string) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1)
}
