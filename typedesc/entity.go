package typedesc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Entity describes one JSON value: a whole payload at the top level, or one
// field of an object.
//
// Type is a Go kind name ("string", "int64", "float64", "bool"), "any",
// "struct", "[]" followed by the element's Type, or "map[K]" followed by the
// element's Type, where K is "string" or an integer kind; [ParseType] reads
// it. For a struct, Fields lists its JSON fields in the order encoding/json
// writes them; for a slice, array or map, Fields are those of the innermost
// element.
type Entity struct {
	// Name is the JSON name of a field, or the Go type's name at the top
	// level ("" for unnamed types).
	Name string `json:"name,omitempty"`
	// Type is the JSON shape, spelled as described on Entity.
	Type string `json:"type,omitempty"`
	// Mandatory reports whether encoding/json always writes the field, that
	// is, whether its tag has neither omitempty nor omitzero.
	Mandatory bool `json:"mandatory,omitempty"`
	// Fields are the fields of the struct this entity is, or holds.
	Fields []Entity `json:"fields,omitempty"`
}

// DeepCopy returns a copy of e that shares no memory with it, so the copy
// may be changed freely. It returns nil for a nil e.
func (e *Entity) DeepCopy() *Entity {
	if e == nil {
		return nil
	}
	c := *e
	c.Fields = copyFields(e.Fields)
	return &c
}

func copyFields(fields []Entity) []Entity {
	if fields == nil {
		return nil
	}
	c := make([]Entity, len(fields))
	for i, f := range fields {
		c[i] = f
		c[i].Fields = copyFields(f.Fields)
	}
	return c
}

// Function describes a callable method: what JSON it takes and what JSON
// it returns. A nil Input or Output means the value has nothing to describe.
type Function struct {
	// Name is the method's name.
	Name string `json:"name,omitempty"`
	// Input describes the payload a caller sends.
	Input *Entity `json:"input,omitempty"`
	// Output describes the result a caller receives.
	Output *Entity `json:"output,omitempty"`
	// InputSchema is the JSON Schema (draft 2020-12) of the payloads the
	// function accepts: for a Go plugin, exactly what encoding/json reads
	// into its input type ([InputSchema]).
	InputSchema json.RawMessage `json:"inputSchema,omitempty"`
	// OutputSchema is the JSON Schema (draft 2020-12) of the results the
	// function answers: for a Go plugin, exactly what encoding/json writes
	// from its output type ([OutputSchema]).
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	// Stream, when set, makes the function a stream, and describes its
	// items. Input is what opens the stream then, and the function has
	// no Output: its items are what it returns.
	Stream *Stream `json:"stream,omitempty"`
}

// DeepCopy returns a copy of f that shares no memory with it. It returns
// the zero Function for a nil f.
func (f *Function) DeepCopy() Function {
	if f == nil {
		return Function{}
	}
	return Function{
		Name:         f.Name,
		Input:        f.Input.DeepCopy(),
		Output:       f.Output.DeepCopy(),
		InputSchema:  bytes.Clone(f.InputSchema),
		OutputSchema: bytes.Clone(f.OutputSchema),
		Stream:       f.Stream.DeepCopy(),
	}
}

// Refine returns a copy of reflected with the Mandatory flags that refined
// states for itself and for the fields it lists, matched by name at every
// level.
//
// Reflection stays the source of truth for which fields exist and what
// their Types are: refined cannot change a Name or a Type, and a field of
// refined that reflected lacks is an error, wrapping ErrRefinement and
// naming the field's path, rather than a refinement silently lost.
// Because a bool cannot be left unsaid, every field refined lists sets
// Mandatory, even one listed only to reach its own fields.
//
// Refine refines the Entity summary only; a function's InputSchema and
// OutputSchema follow the Go type and its struct tags.
//
// Refine returns nil when reflected is nil and a plain copy of reflected
// when refined is nil.
func Refine(reflected, refined *Entity) (*Entity, error) {
	out := reflected.DeepCopy()
	if refined == nil {
		return out, nil
	}
	if out == nil {
		if len(refined.Fields) > 0 {
			return nil, fmt.Errorf("%w: field %q: there are no fields to refine", ErrRefinement, refined.Fields[0].Name)
		}
		return nil, nil
	}
	if err := refine(out, refined, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// refine works level by level, as deep as refined goes; refined is the
// author's own value, in memory, so its depth costs no more than its size.
func refine(dst, src *Entity, path string) error {
	dst.Mandatory = src.Mandatory
	for j := range src.Fields {
		name := src.Fields[j].Name
		i := slices.IndexFunc(dst.Fields, func(f Entity) bool { return f.Name == name })
		p := name
		if path != "" {
			p = path + "." + name
		}
		if i < 0 {
			return fmt.Errorf("%w: field %q: the type has no such field", ErrRefinement, p)
		}
		if err := refine(&dst.Fields[i], &src.Fields[j], p); err != nil {
			return err
		}
	}
	return nil
}
