package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/plugsock/plugsock/internal/names"
	"github.com/plugsock/plugsock/typedesc"
)

// What the battery reads into descriptions, and what it builds from them.

// function is one entry of the handshake's functions, as sent.
type function struct {
	Name         *string          `json:"name"`
	Input        *typedesc.Entity `json:"input"`
	Output       *typedesc.Entity `json:"output"`
	OutputSchema json.RawMessage  `json:"outputSchema"`
	RawStream    json.RawMessage  `json:"stream"`

	// Stream is the stream member, read by parseFunctions: nil when it is
	// absent or null, so the function is no stream; an empty Stream when it
	// could not be read, which streamBad says why.
	Stream    *typedesc.Stream `json:"-"`
	streamBad string
}

// isStream reports whether f is described as a stream.
func (f function) isStream() bool { return f.Stream != nil }

// innermost returns the element type of nested slices and maps, and
// whether typ is in the grammar of docs/protocol.md section 6, which
// typedesc.ParseType reads: every level of a kind it knows, and every map
// key a string or an integer. It loops, so a Type of any length costs no
// stack.
func innermost(typ string) (string, bool) {
	for {
		s := typedesc.ParseType(typ)
		switch s.Kind {
		case typedesc.Unknown:
			return typ, false
		case typedesc.Slice:
		case typedesc.Map:
			if k := typedesc.ParseType(s.Key).Kind; k != typedesc.String && k != typedesc.Int && k != typedesc.Uint {
				return typ, false
			}
		default:
			return typ, true
		}
		typ = s.Elem
	}
}

// entityProblems lists what is wrong with a description. It goes no
// deeper than typedesc.MaxDepth, which parseFunctions has checked.
func entityProblems(e *typedesc.Entity, path string) []string {
	return entityProblemsAt(e, path, 0)
}

func entityProblemsAt(e *typedesc.Entity, path string, depth int) []string {
	if e == nil || depth > typedesc.MaxDepth {
		return nil
	}
	var ps []string
	inner, ok := innermost(e.Type)
	switch {
	case e.Type == "":
		ps = append(ps, fmt.Sprintf("%s: no type", path))
	case !ok:
		ps = append(ps, fmt.Sprintf("%s: type %q is not in the protocol's grammar", path, e.Type))
	case inner != "struct" && len(e.Fields) > 0:
		ps = append(ps, fmt.Sprintf("%s: type %q cannot have fields", path, e.Type))
	}
	seen := make(map[string]bool, len(e.Fields))
	for i := range e.Fields {
		f := &e.Fields[i]
		fp := fmt.Sprintf("%s.%s", path, f.Name)
		switch {
		case f.Name == "":
			ps = append(ps, fmt.Sprintf("%s: field %d has no name", path, i))
		case seen[f.Name]:
			ps = append(ps, fmt.Sprintf("%s: field %q appears twice", path, f.Name))
		}
		seen[f.Name] = true
		ps = append(ps, entityProblemsAt(f, fp, depth+1)...)
	}
	return ps
}

// parseFunctions reads the handshake's functions and lists what is wrong.
func parseFunctions(raw json.RawMessage) (map[string]function, []string) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, []string{"the handshake describes no functions"}
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, []string{fmt.Sprintf("functions is not an object: %v", err)}
	}
	fns := make(map[string]function, len(entries))
	var ps []string
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		var f function
		if err := json.Unmarshal(entries[name], &f); err != nil {
			ps = append(ps, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		switch {
		case name == "":
			ps = append(ps, "a function has an empty name")
		case strings.HasPrefix(name, "$/"):
			ps = append(ps, fmt.Sprintf("%s: names starting with $/ are reserved", name))
		case f.Name != nil && *f.Name != name:
			ps = append(ps, fmt.Sprintf("%s: its name member says %q", name, *f.Name))
		}
		// A description past the depth limit is one the host refuses; the
		// battery reports it and treats the side as undescribed, so that
		// no walk below goes deeper than the limit.
		if err := f.Input.Check(); err != nil {
			ps = append(ps, fmt.Sprintf("%s.input: %v", name, err))
			f.Input = nil
		}
		if err := f.Output.Check(); err != nil {
			ps = append(ps, fmt.Sprintf("%s.output: %v", name, err))
			f.Output = nil
		}
		ps = append(ps, entityProblems(f.Input, name+".input")...)
		ps = append(ps, entityProblems(f.Output, name+".output")...)
		ps = append(ps, readStream(&f, name)...)
		fns[name] = f
	}
	if len(entries) == 0 {
		ps = append(ps, "the handshake describes no functions")
	}
	return fns, ps
}

// readStream reads f's stream member into f.Stream, and lists what is
// wrong with its Entities as parseFunctions lists the input's and the
// output's; what makes no stream of it (a member that is no object, no
// shape) is for the streams check (checks_streams.go).
func readStream(f *function, name string) []string {
	raw := bytes.TrimSpace(f.RawStream)
	f.RawStream = nil
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	f.Stream = new(typedesc.Stream)
	if err := json.Unmarshal(raw, f.Stream); err != nil {
		*f.Stream = typedesc.Stream{}
		f.streamBad = fmt.Sprintf("stream is not an object of in, inSchema, out and outSchema: %v", err)
		return nil
	}
	var ps []string
	for _, side := range []struct {
		e    **typedesc.Entity
		path string
	}{{&f.Stream.In, name + ".stream.in"}, {&f.Stream.Out, name + ".stream.out"}} {
		if err := (*side.e).Check(); err != nil {
			ps = append(ps, fmt.Sprintf("%s: %v", side.path, err))
			*side.e = nil
			continue
		}
		ps = append(ps, entityProblems(*side.e, side.path)...)
	}
	return ps
}

// sample builds the simplest payload a description accepts: every
// mandatory field present with its zero value, empty lists and maps.
func sample(e *typedesc.Entity) any {
	if e == nil {
		return nil
	}
	return sampleOf(e.Type, e.Fields, 0)
}

// sampleOf recurses once per struct level, and stops past
// typedesc.MaxDepth with null.
func sampleOf(typ string, fields []typedesc.Entity, depth int) any {
	if depth > typedesc.MaxDepth {
		return nil
	}
	switch typedesc.ParseType(typ).Kind {
	case typedesc.Struct:
		obj := make(map[string]any)
		for _, f := range fields {
			if f.Mandatory {
				obj[f.Name] = sampleOf(f.Type, f.Fields, depth+1)
			}
		}
		return obj
	case typedesc.String:
		return ""
	case typedesc.Bool:
		return false
	case typedesc.Int, typedesc.Uint, typedesc.Float:
		return 0
	case typedesc.Slice:
		return []any{}
	case typedesc.Map:
		return map[string]any{}
	}
	return nil
}

// contradiction returns params of a JSON type the description rules out,
// or nil when it rules out none.
func contradiction(e *typedesc.Entity) json.RawMessage {
	if e == nil {
		return nil
	}
	switch typedesc.ParseType(e.Type).Kind {
	case typedesc.Struct, typedesc.Map:
		return json.RawMessage(`"plugsock check: a string where an object belongs"`)
	case typedesc.Slice:
		return json.RawMessage(`{"plugsock check":"an object where an array belongs"}`)
	case typedesc.String:
		return json.RawMessage(`{"plugsock check":"an object where a string belongs"}`)
	case typedesc.Bool, typedesc.Int, typedesc.Uint, typedesc.Float:
		return json.RawMessage(`"plugsock check: a string where a ` + e.Type + ` belongs"`)
	}
	return nil
}

// nameProblem says what breaks the protocol's name rules, or "". The rule
// is the host's own (internal/names), so the battery cannot drift from it.
func nameProblem(name string) string {
	if err := names.Check(name); err != nil {
		return err.Error()
	}
	return ""
}
