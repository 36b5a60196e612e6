package typedesc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxDepth is how deeply a description may nest: the number of levels of
// arrays and objects a value it describes can have. Each "[]" and each
// "map[K]" in a Type is one level, and so is a struct (or any Entity whose
// Fields are listed); pointers add none, as they are looked through. So
// "string" has depth 0, "[]string" 1, and a struct with a "[]int" field 2.
//
// The limit lets every walk over a description be bounded by it, however
// the description was made. No real Go type comes near it; a description
// received over the wire may, and [Entity.Check] refuses it.
const MaxDepth = 64

// ErrTooDeep is wrapped by the errors of [Entity.Check] and
// [Function.Check], and of [Entity.Validate] on a description that nests
// deeper than MaxDepth.
var ErrTooDeep = errors.New("type nests deeper than " + strconv.Itoa(MaxDepth) + " levels")

// Check reports whether e stays within MaxDepth. It walks e without
// recursion and stops at the first level past the limit, so it is safe on
// any value, even one that refers to itself, and its work is linear in the
// part of e it walks. The error wraps ErrTooDeep and names the path of the
// field where the limit was crossed. A nil e is within the limit.
func (e *Entity) Check() error {
	if e == nil {
		return nil
	}
	// Each field whose own fields are still to be walked is a node; a
	// path is spelled from the nodes' parents only for the error.
	type node struct {
		e      *Entity
		depth  int // at which its fields sit
		parent int // index in nodes, -1 at the top
	}
	d, ok := entityDepth(e, 0)
	if !ok {
		return ErrTooDeep
	}
	nodes := []node{{e, d, -1}}
	for todo := []int{0}; len(todo) > 0; {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for i := range nodes[n].e.Fields {
			f := &nodes[n].e.Fields[i]
			d, ok := entityDepth(f, nodes[n].depth)
			if !ok {
				names := []string{f.Name}
				for p := n; p > 0; p = nodes[p].parent {
					names = append(names, nodes[p].e.Name)
				}
				slices.Reverse(names)
				return fmt.Errorf("%w at field %q", ErrTooDeep, strings.Join(names, "."))
			}
			if len(f.Fields) > 0 {
				nodes = append(nodes, node{f, d, n})
				todo = append(todo, len(nodes)-1)
			}
		}
	}
	return nil
}

// Check reports whether f's input and output stay within MaxDepth, and
// whether its InputSchema and OutputSchema, when present, are JSON objects
// or booleans nesting no deeper than MaxSchemaDepth, as a schema must be
// for CompileSchema. It does not compile them. The error wraps ErrTooDeep
// or ErrInvalidSchema and names the function and the side.
func (f *Function) Check() error {
	if f == nil {
		return nil
	}
	if err := f.Input.Check(); err != nil {
		return fmt.Errorf("function %q input: %w", f.Name, err)
	}
	if err := f.Output.Check(); err != nil {
		return fmt.Errorf("function %q output: %w", f.Name, err)
	}
	if err := checkSchemaText(f.InputSchema); err != nil {
		return fmt.Errorf("function %q inputSchema: %w", f.Name, err)
	}
	if err := checkSchemaText(f.OutputSchema); err != nil {
		return fmt.Errorf("function %q outputSchema: %w", f.Name, err)
	}
	if st := f.Stream; st != nil {
		if err := st.In.Check(); err != nil {
			return fmt.Errorf("function %q stream in: %w", f.Name, err)
		}
		if err := st.Out.Check(); err != nil {
			return fmt.Errorf("function %q stream out: %w", f.Name, err)
		}
		if err := checkSchemaText(st.InSchema); err != nil {
			return fmt.Errorf("function %q stream inSchema: %w", f.Name, err)
		}
		if err := checkSchemaText(st.OutSchema); err != nil {
			return fmt.Errorf("function %q stream outSchema: %w", f.Name, err)
		}
	}
	return nil
}

// checkSchemaText checks what can be checked of a schema without
// compiling it; an absent one passes.
func checkSchemaText(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	if err := checkDepth(raw, MaxSchemaDepth); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	if !json.Valid(raw) {
		return fmt.Errorf("%w: not JSON", ErrInvalidSchema)
	}
	if raw[0] != '{' && string(raw) != "true" && string(raw) != "false" {
		return fmt.Errorf("%w: want an object or a boolean", ErrInvalidSchema)
	}
	return nil
}

// entityDepth returns the depth at which e's Fields sit, given the depth of
// the level e itself is on, and false when that passes MaxDepth.
func entityDepth(e *Entity, depth int) (int, bool) {
	n, inner := containers(e.Type, MaxDepth-depth)
	depth += n
	if ParseType(inner).Kind == Struct || len(e.Fields) > 0 {
		depth++
	}
	return depth, depth <= MaxDepth
}

// containers counts the "[]" and "map[K]" levels of typ and returns its
// innermost Type. It stops counting once past limit, so a Type of millions
// of levels costs no more than one of limit+1; inner is then "".
func containers(typ string, limit int) (n int, inner string) {
	for {
		s := ParseType(typ)
		if !s.container() {
			return n, typ
		}
		typ = s.Elem
		if n++; n > limit {
			return n, ""
		}
	}
}
