package typedesc

// JSONSchema returns a JSON Schema (draft 2020-12 vocabulary) for the JSON e
// describes, as a value json.Marshal encodes.
//
// It is the schema of the summary, for descriptions that are Entities
// only, such as a plugin in another language may send. For a Go type,
// InputSchema and OutputSchema are the exact schemas, and a Go plugin
// sends those beside its Entities.
//
// A struct becomes an object with its fields as "properties" and its
// mandatory fields as "required"; unknown properties stay allowed because
// encoding/json ignores them. A slice or array becomes an "array" with
// "items", and a map an "object" with "additionalProperties" (and, for
// integer keys, "propertyNames" that match integers). Integer kinds become
// "integer" bounded by their size (64-bit kinds only by sign, since JSON
// numbers lose precision there), floats "number", and string and bool their
// JSON types. "any", a Type this package does not know, and a nil e give
// the empty schema {}, which allows anything.
//
// The schema states what a caller should send. It does not allow null
// where a value is expected, although Validate and encoding/json accept it.
//
// The schema goes at most MaxDepth levels deep: a value nested deeper in a
// description that [Entity.Check] would refuse becomes the empty schema,
// with a "$comment" that says so.
func (e *Entity) JSONSchema() map[string]any {
	if e == nil {
		return map[string]any{}
	}
	return schema(e.Type, e.Fields, 0)
}

// schema describes typ, whose value sits inside depth levels of arrays and
// objects; it recurses once per level, so MaxDepth bounds it.
func schema(typ string, fields []Entity, depth int) map[string]any {
	t := ParseType(typ)
	if depth >= MaxDepth && t.opens() {
		return map[string]any{"$comment": ErrTooDeep.Error() + "; not described further"}
	}
	switch t.Kind {
	case Struct:
		s := map[string]any{"type": "object"}
		if len(fields) == 0 {
			return s
		}
		props := make(map[string]any, len(fields))
		var required []string
		for _, f := range fields {
			props[f.Name] = schema(f.Type, f.Fields, depth+1)
			if f.Mandatory {
				required = append(required, f.Name)
			}
		}
		s["properties"] = props
		if required != nil {
			s["required"] = required
		}
		return s
	case String:
		return map[string]any{"type": "string"}
	case Bool:
		return map[string]any{"type": "boolean"}
	case Slice:
		return map[string]any{"type": "array", "items": schema(t.Elem, fields, depth+1)}
	case Map:
		s := map[string]any{"type": "object", "additionalProperties": schema(t.Elem, fields, depth+1)}
		switch ParseType(t.Key).Kind {
		case Int:
			s["propertyNames"] = map[string]any{"pattern": "^-?[0-9]+$"}
		case Uint:
			s["propertyNames"] = map[string]any{"pattern": "^[0-9]+$"}
		}
		return s
	case Int:
		s := map[string]any{"type": "integer"}
		if t.Bits < 64 {
			s["minimum"] = -int64(1) << (t.Bits - 1)
			s["maximum"] = int64(1)<<(t.Bits-1) - 1
		}
		return s
	case Uint:
		s := map[string]any{"type": "integer", "minimum": 0}
		if t.Bits < 64 {
			s["maximum"] = uint64(1)<<t.Bits - 1
		}
		return s
	case Float:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}
