package typedesc

import (
	"cmp"
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
)

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// cache maps a reflect.Type (pointers removed) to its *Entity, which may be
// nil. Stored entities are shared, so they are never changed; callers get
// copies.
var cache sync.Map

// TypeDescription describes the JSON form of v's type as encoding/json
// writes and reads it. It is ForType(reflect.TypeOf(v)); see the package
// documentation for the rules. It returns nil when there is nothing to
// describe: v is nil, the type cannot be encoded as JSON, or it is a struct
// without JSON fields.
//
// The result is the caller's own copy and may be changed.
func TypeDescription(v any) *Entity {
	return ForType(reflect.TypeOf(v))
}

// ForType is TypeDescription for a reflect.Type. It returns nil for a nil t.
//
// Descriptions are computed once per type and cached; the result is the
// caller's own copy and may be changed.
func ForType(t reflect.Type) *Entity {
	if t == nil {
		return nil
	}
	t = indirect(t)
	e, ok := cache.Load(t)
	if !ok {
		e, _ = cache.LoadOrStore(t, describeTop(t))
	}
	return e.(*Entity).DeepCopy()
}

// describeTop does the work of ForType without the cache.
func describeTop(t reflect.Type) *Entity {
	t = indirect(t)
	var d describer
	e, ok := d.describe(t)
	if !ok || e.Type == "struct" && len(e.Fields) == 0 {
		return nil
	}
	e.Name = t.Name()
	return &e
}

// indirect removes t's pointers. A pointer type that points only to
// pointers (type P *P) stays a pointer after MaxDepth of them, which has no
// JSON form, rather than costing a loop that never ends.
func indirect(t reflect.Type) reflect.Type {
	for i := 0; t.Kind() == reflect.Pointer && i <= MaxDepth; i++ {
		t = t.Elem()
	}
	return t
}

// describer remembers the struct types it is inside of, so that a
// recursive type ends where it would repeat itself.
type describer struct {
	inside map[reflect.Type]bool
}

// describe reports the entity for t, without Name or Mandatory, and false
// when t has no JSON form.
func (d *describer) describe(t reflect.Type) (Entity, bool) {
	t = indirect(t)
	// encoding/json lets these methods override the kind, and it uses
	// pointer-receiver methods whenever the value is addressable, which it
	// is inside any struct reached through a pointer. MarshalJSON may write
	// anything, but a type that also has MarshalText (time.Time is one)
	// conventionally writes that text as a string.
	switch {
	case implements(t, marshalerType):
		if implements(t, textMarshalerType) {
			return Entity{Type: "string"}, true
		}
		return Entity{Type: "any"}, true
	case implements(t, textMarshalerType):
		return Entity{Type: "string"}, true
	}
	switch k := t.Kind(); k {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return Entity{Type: k.String()}, true
	case reflect.Interface:
		return Entity{Type: "any"}, true
	case reflect.Struct:
		return d.describeStruct(t), true
	case reflect.Slice:
		if isBytes(t) {
			return Entity{Type: "string"}, true // base64
		}
		return d.wrap("[]", t.Elem())
	case reflect.Array:
		return d.wrap("[]", t.Elem())
	case reflect.Map:
		if key, ok := mapKey(t.Key()); ok {
			return d.wrap("map["+key+"]", t.Elem())
		}
	}
	return Entity{}, false
}

// wrap describes a container of elem: its Type gains prefix, and its Fields
// are the element's, so a []Item lists the fields of Item.
func (d *describer) wrap(prefix string, elem reflect.Type) (Entity, bool) {
	e, ok := d.describe(elem)
	e.Type = prefix + e.Type
	return e, ok
}

func (d *describer) describeStruct(t reflect.Type) Entity {
	e := Entity{Type: "struct"}
	if d.inside[t] {
		return e
	}
	if d.inside == nil {
		d.inside = make(map[reflect.Type]bool)
	}
	d.inside[t] = true
	defer delete(d.inside, t)

	for _, f := range jsonFields(t) {
		fe, ok := d.describe(f.typ)
		if !ok {
			continue
		}
		if f.quoted && fe.Type != "any" {
			fe.Type = "string"
		}
		fe.Name = f.name
		fe.Mandatory = !f.omit
		e.Fields = append(e.Fields, fe)
	}
	return e
}

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(iface)
}

// isBytes reports whether encoding/json writes the slice type t as a base64
// string: its elements are bytes that do not marshal themselves.
func isBytes(t reflect.Type) bool {
	if t.Elem().Kind() != reflect.Uint8 {
		return false
	}
	p := reflect.PointerTo(t.Elem())
	return !p.Implements(marshalerType) && !p.Implements(textMarshalerType)
}

// mapKey reports the kind a map key has in JSON, and false for keys
// encoding/json refuses. Object keys are always strings on the wire; an
// integer kind says the string must hold an integer.
func mapKey(k reflect.Type) (string, bool) {
	if k.Kind() == reflect.String || k.Implements(textMarshalerType) {
		return "string", true
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return k.Kind().String(), true
	}
	return "", false
}

// jsonField is a struct field as encoding/json sees it.
type jsonField struct {
	name      string
	tagged    bool  // the name came from a json tag
	index     []int // path of field indexes from the outer struct
	typ       reflect.Type
	omit      bool // omitempty or omitzero
	quoted    bool // the ",string" option applies
	hidden    bool // plugsock:"-" on the field or on a struct it was promoted from
	ambiguous bool // promoted from a struct embedded twice at the same depth

	goName string            // the Go field's name, for messages
	tag    reflect.StructTag // the Go field's tag
	// viaPointer: promoted through an embedded pointer, which
	// encoding/json skips when it is nil and dereferences otherwise.
	viaPointer bool
	// viaUnexported: promoted through an embedded pointer to an unexported
	// struct type, which encoding/json cannot allocate, so that decoding
	// any value into the field fails.
	viaUnexported bool
}

// embedded is an embedded struct whose fields are promoted.
type embedded struct {
	typ           reflect.Type
	index         []int
	hidden        bool
	viaPointer    bool
	viaUnexported bool
}

// jsonFields lists the fields encoding/json reads and writes for the struct
// type t, in the order it writes them, leaving out those tagged plugsock:"-".
func jsonFields(t reflect.Type) []jsonField {
	all := allJSONFields(t)
	out := all[:0:0]
	for _, f := range all {
		if !f.hidden {
			out = append(out, f)
		}
	}
	return out
}

// allJSONFields lists every field encoding/json reads and writes for the
// struct type t, in the order it writes them, those tagged plugsock:"-"
// included (with hidden set): they still take keys from the others.
//
// It follows encoding/json's typeFields: promoted fields are gathered one
// embedding depth at a time, breadth first, and each name then goes to the
// shallowest field, a tagged one among equals, or to nobody when that still
// leaves a tie. plugsock:"-" takes part in that contest and only afterwards
// hides the winner, so it can never bring back a field that encoding/json
// would drop.
func allJSONFields(t reflect.Type) []jsonField {
	var fields []jsonField
	level := []embedded{{typ: t}}
	visited := make(map[reflect.Type]bool) // at a shallower or the same depth
	var seen map[reflect.Type]int          // how often each struct of level was embedded
	for len(level) > 0 {
		var next []embedded
		nextSeen := make(map[reflect.Type]int)
		for _, s := range level {
			if visited[s.typ] {
				continue
			}
			visited[s.typ] = true
			for i := range s.typ.NumField() {
				sf := s.typ.Field(i)
				if !sf.IsExported() {
					// Unexported embedded structs still promote their
					// exported fields.
					if !sf.Anonymous || indirectOnce(sf.Type).Kind() != reflect.Struct {
						continue
					}
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validName(name) {
					name = ""
				}
				index := append(slices.Clip(s.index), i)
				hidden := s.hidden || plugsockSkip(sf.Tag)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					nextSeen[ft]++
					if nextSeen[ft] == 1 {
						ptr := sf.Type.Kind() == reflect.Pointer
						next = append(next, embedded{
							typ: ft, index: index, hidden: hidden,
							viaPointer:    s.viaPointer || ptr,
							viaUnexported: s.viaUnexported || ptr && !sf.IsExported(),
						})
					}
					continue
				}
				f := jsonField{
					name:          name,
					tagged:        name != "",
					index:         index,
					typ:           sf.Type,
					omit:          hasOption(opts, "omitempty") || hasOption(opts, "omitzero"),
					quoted:        hasOption(opts, "string") && quotable(ft.Kind()),
					hidden:        hidden,
					ambiguous:     seen[s.typ] > 1,
					goName:        sf.Name,
					tag:           sf.Tag,
					viaPointer:    s.viaPointer,
					viaUnexported: s.viaUnexported,
				}
				if f.name == "" {
					f.name = sf.Name
				}
				fields = append(fields, f)
			}
		}
		level, seen = next, nextSeen
	}

	slices.SortFunc(fields, func(a, b jsonField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		// After sorting the first of a name's fields dominates, unless the
		// second is just as shallow and just as tagged, or the first was
		// itself duplicated by embedding.
		first := fields[i]
		tie := j-i > 1 && len(fields[i+1].index) == len(first.index) && fields[i+1].tagged == first.tagged
		if !tie && !first.ambiguous {
			out = append(out, first)
		}
		i = j
	}
	slices.SortFunc(out, func(a, b jsonField) int { return slices.Compare(a.index, b.index) })
	return out
}

func indirectOnce(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

func plugsockSkip(tag reflect.StructTag) bool {
	name, _, _ := strings.Cut(tag.Get("plugsock"), ",")
	return name == "-"
}

// validName reports whether encoding/json accepts s as a field name;
// otherwise it falls back to the Go name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
			// Backslash and quotes are reserved; other punctuation is fine.
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

func hasOption(opts, option string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == option {
			return true
		}
	}
	return false
}

// quotable reports whether the ",string" option affects a field of kind k.
func quotable(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
