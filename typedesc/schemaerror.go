package typedesc

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// One line for a failed validation, in place of the library's tree of
// causes: the member that fails, as a JSON pointer, and what was wanted
// there.

// failure is one leaf of the tree of causes, with what leads to it.
type failure struct {
	e       *jsonschema.ValidationError
	loc     []string // of the member it names
	keyOf   string   // the leaf judges this object key (propertyNames), not a value
	ranking int
}

// maxFailures bounds the members one error names.
const maxFailures = 16

// describeFailure turns the library's error for instance into Validate's:
// every member that fails, each once, with what was wanted there.
func describeFailure(ve *jsonschema.ValidationError, instance any) error {
	fails, cycle := failures(ve)
	msgs := make([]string, 0, min(len(fails), maxFailures)+1)
	for i, f := range fails {
		if i == maxFailures {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(fails)-maxFailures))
			break
		}
		where := pointer(f.loc)
		var got any
		if f.keyOf != "" {
			where += ": key " + strconv.Quote(f.keyOf)
			got = f.keyOf
		} else {
			got = lookup(instance, f.e.InstanceLocation)
		}
		msgs = append(msgs, where+": "+expectation(f.e.ErrorKind, got))
	}
	msg := strings.Join(msgs, "; ")
	if cycle {
		return fmt.Errorf("%w: %s (%w)", ErrInvalid, msg, ErrInvalidSchema)
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}

// failures picks the leaves to report, one per member, in the order of
// their JSON pointers: for each member the most telling kind of failure,
// and no member that holds another failing one (a member fails the
// alternatives of an anyOf, null among them, only because of what fails
// inside it). It walks without recursion; cycle reports a reference loop
// in the schema.
func failures(root *jsonschema.ValidationError) (out []failure, cycle bool) {
	byLoc := map[string]failure{}
	add := func(f failure) {
		k := pointer(f.loc) + "\x00" + f.keyOf
		if old, ok := byLoc[k]; !ok || f.ranking > old.ranking {
			byLoc[k] = f
		}
	}
	type item struct {
		e      *jsonschema.ValidationError
		keyOf  string
		keyLoc []string // of the object whose key keyOf is
	}
	todo := []item{{root, "", nil}}
	for len(todo) > 0 {
		it := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if p, ok := it.e.ErrorKind.(*kind.PropertyNames); ok {
			it.keyOf, it.keyLoc = p.Property, it.e.InstanceLocation
		}
		if len(it.e.Causes) > 0 {
			for i := len(it.e.Causes) - 1; i >= 0; i-- {
				todo = append(todo, item{it.e.Causes[i], it.keyOf, it.keyLoc})
			}
			continue
		}
		if _, ok := it.e.ErrorKind.(*kind.RefCycle); ok {
			cycle = true
		}
		f := failure{e: it.e, loc: it.e.InstanceLocation, keyOf: it.keyOf, ranking: rank(it.e.ErrorKind)}
		if it.keyOf != "" {
			f.loc = it.keyLoc
		}
		if r, ok := it.e.ErrorKind.(*kind.Required); ok && len(r.Missing) > 0 && it.keyOf == "" {
			for _, name := range r.Missing {
				g := f
				g.loc = append(f.loc[:len(f.loc):len(f.loc)], name)
				add(g)
			}
			continue
		}
		add(f)
	}
	for _, f := range byLoc {
		out = append(out, f)
	}
	// A member with a failing member inside it is left out.
	ptrs := make([]string, len(out))
	for i, f := range out {
		ptrs[i] = pointer(f.loc)
	}
	keep := out[:0]
	for i, f := range out {
		inner := false
		for j := range out {
			if j != i && f.keyOf == "" && len(ptrs[j]) > len(ptrs[i]) && (ptrs[i] == "payload" || strings.HasPrefix(ptrs[j], ptrs[i]+"/")) {
				inner = true
				break
			}
		}
		if !inner {
			keep = append(keep, f)
		}
	}
	out = keep
	slices.SortFunc(out, func(a, b failure) int { return strings.Compare(pointer(a.loc)+a.keyOf, pointer(b.loc)+b.keyOf) })
	return out, cycle
}

// rank orders kinds of failure by how much they tell: a wrong type may be
// only the alternative (null) the value was never meant to be.
func rank(k jsonschema.ErrorKind) int {
	switch k := k.(type) {
	case *kind.Type:
		if len(k.Want) == 1 && k.Want[0] == "null" {
			return 0
		}
		return 2
	case *kind.Const:
		return 1
	case *kind.FalseSchema, *kind.Group, *kind.AnyOf, *kind.AllOf, *kind.Reference, *kind.Schema:
		return 1
	case *kind.Minimum, *kind.Maximum, *kind.ExclusiveMinimum, *kind.ExclusiveMaximum,
		*kind.MinLength, *kind.MaxLength, *kind.Pattern:
		return 4
	}
	return 3
}

// pointer spells a location as a JSON pointer; the whole payload is
// "payload".
func pointer(loc []string) string {
	if len(loc) == 0 {
		return "payload"
	}
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(tok))
	}
	return b.String()
}

// lookup finds the value at loc in instance.
func lookup(instance any, loc []string) any {
	v := instance
	for _, tok := range loc {
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// display shows a value briefly.
func display(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		if utf8.RuneCountInString(v) > 40 {
			v = string([]rune(v)[:40]) + "…"
		}
		return strconv.Quote(v)
	case json.Number:
		s := string(v)
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return s
	}
	return fmt.Sprint(v)
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	return r.RatString()
}

// expectation says what k wanted of got.
func expectation(k jsonschema.ErrorKind, got any) string {
	g := ", got " + display(got)
	switch k := k.(type) {
	case *kind.Type:
		want := slices.DeleteFunc(slices.Clone(k.Want), func(w string) bool { return w == "null" })
		if len(want) < len(k.Want) {
			want = append(want, "null")
		}
		return "want " + strings.Join(want, " or ") + g
	case *kind.Format:
		return "want " + formatWant(k.Want, got) + g
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = display(w)
		}
		if len(want) == 1 {
			return "want " + want[0] + g
		}
		return "want one of " + strings.Join(want, ", ") + g
	case *kind.Const:
		return "want " + display(k.Want) + g
	case *kind.Required:
		return "missing, and required"
	case *kind.Minimum:
		return "want at least " + ratString(k.Want) + g
	case *kind.Maximum:
		return "want at most " + ratString(k.Want) + g
	case *kind.ExclusiveMinimum:
		return "want more than " + ratString(k.Want) + g
	case *kind.ExclusiveMaximum:
		return "want less than " + ratString(k.Want) + g
	case *kind.MultipleOf:
		return "want a multiple of " + ratString(k.Want) + g
	case *kind.MinLength:
		return fmt.Sprintf("want at least %d characters, got %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("want at most %d characters, got %d", k.Want, k.Got)
	case *kind.Pattern:
		return "want a string matching " + k.Want + g
	case *kind.ContentEncoding:
		return "want " + k.Want + " (as encoding/json decodes it: standard alphabet, padded)" + g
	case *kind.ContentMediaType:
		return "want a string holding " + k.Want + g
	case *kind.MinItems:
		return fmt.Sprintf("want at least %d elements, got %d", k.Want, k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("want at most %d elements, got %d", k.Want, k.Got)
	case *kind.MinProperties:
		return fmt.Sprintf("want at least %d members, got %d", k.Want, k.Got)
	case *kind.MaxProperties:
		return fmt.Sprintf("want at most %d members, got %d", k.Want, k.Got)
	case *kind.UniqueItems:
		return fmt.Sprintf("want unique elements, but %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.AdditionalProperties:
		return "members not allowed: " + strings.Join(k.Properties, ", ")
	case *kind.AdditionalItems:
		return fmt.Sprintf("%d elements too many", k.Count)
	case *kind.DependentRequired:
		return fmt.Sprintf("member %q wants %s too", k.Prop, strings.Join(k.Missing, ", "))
	case *kind.Dependency:
		return fmt.Sprintf("member %q wants %s too", k.Prop, strings.Join(k.Missing, ", "))
	case *kind.FalseSchema:
		return "no value is allowed here" + g
	case *kind.Not:
		return "want a value that does not match the schema under \"not\"" + g
	case *kind.OneOf:
		if k.Subschemas == nil {
			return "want a value matching one of \"oneOf\"" + g
		}
		return fmt.Sprintf("want a value matching only one of \"oneOf\", but it matches %v", k.Subschemas)
	case *kind.MinContains:
		return fmt.Sprintf("want at least %d elements matching \"contains\", got %d", k.Want, len(k.Got))
	case *kind.MaxContains:
		return fmt.Sprintf("want at most %d elements matching \"contains\", got %d", k.Want, len(k.Got))
	case *kind.Contains:
		return "want an element matching \"contains\""
	case *kind.RefCycle:
		return "the schema refers to itself in a loop at " + strings.ReplaceAll(k.KeywordLocation1, schemaURL, "")
	}
	return "fails " + strings.Join(k.KeywordPath(), "/") + g
}

// formatWant says what a format wants, in words.
func formatWant(format string, got any) string {
	_, isString := got.(string)
	switch format {
	case "date-time":
		return "an RFC 3339 date-time"
	case "float", "double":
		bits := "float64"
		if format == "float" {
			bits = "float32"
		}
		if isString {
			return "a string holding a number that fits a " + bits
		}
		return "a number that fits a " + bits
	case "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64":
		if isString {
			return "a string holding an integer that fits an " + format
		}
		return "an integer that fits an " + format + ", written without fraction or exponent"
	}
	return "format " + strconv.Quote(format)
}
