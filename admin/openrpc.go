package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// OpenRPCVersion is the version of the OpenRPC specification that
// OpenRPCDocument follows.
const OpenRPCVersion = "1.3.2"

// OpenRPC is an OpenRPC document (spec.open-rpc.org): the part of it that
// describes a plugin's functions.
type OpenRPC struct {
	OpenRPC    string             `json:"openrpc"`
	Info       OpenRPCInfo        `json:"info"`
	Methods    []OpenRPCMethod    `json:"methods"`
	Components *OpenRPCComponents `json:"components,omitempty"`
}

// OpenRPCInfo is the info object of an OpenRPC document.
type OpenRPCInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// OpenRPCMethod describes one function.
type OpenRPCMethod struct {
	Name string `json:"name"`
	// ParamStructure is "by-name": params are an object with a member
	// per parameter.
	ParamStructure string              `json:"paramStructure,omitempty"`
	Params         []OpenRPCDescriptor `json:"params"`
	Result         *OpenRPCDescriptor  `json:"result,omitempty"`
}

// OpenRPCDescriptor is an OpenRPC content descriptor: a named JSON Schema.
type OpenRPCDescriptor struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Schema      map[string]any `json:"schema"`
	Required    bool           `json:"required,omitempty"`
}

// OpenRPCComponents holds the schemas that others refer to: a function's
// whole schema, where it has definitions ("$defs") or refers to itself.
type OpenRPCComponents struct {
	Schemas map[string]any `json:"schemas,omitempty"`
}

// OpenRPCDocument describes info's functions as an OpenRPC document, one
// method per function, sorted by name. Schemas are the functions'
// inputSchema and outputSchema where they have them (JSON Schema 2020-12,
// exact for a Go plugin), and else typedesc.Entity.JSONSchema of their
// Entities.
//
// Every method's params are by name (paramStructure "by-name"), as a
// protocol 2 request carries them. A function whose input is an object
// (its Entity is a struct or a map) has one parameter per member of it,
// from its schema's "properties" (or its Entity's fields), required when
// the schema or the Entity says so; a client sends {"a": 1, "b": 2},
// which is the input itself. Any other input, and the input of a
// function described by schemas alone, is one parameter, "value": a
// client sends {"value": <input>}.
// Where a schema refers within itself ("$ref": "#/$defs/…"), the whole
// schema is under components.schemas, named by the function and the side
// ("Put.input"), and the references point there.
//
// Its size is bounded by the description's: JSONSchema goes no deeper than
// typedesc.MaxDepth, so even a description that no handshake would accept
// gives a document, never a stack overflow, and schemas are as deep as
// the handshake let them be.
func OpenRPCDocument(info *envelope.PluginInfo) *OpenRPC {
	doc := &OpenRPC{
		OpenRPC: OpenRPCVersion,
		Info: OpenRPCInfo{
			Title:       info.Name,
			Version:     info.Version,
			Description: "Functions of the plugsock plugin " + info.Name + ". Params are by name: an object input's members, or {\"value\": input}.",
		},
		Methods: make([]OpenRPCMethod, 0, len(info.Functions)),
	}
	if doc.Info.Version == "" {
		doc.Info.Version = "unversioned"
	}
	components := map[string]any{}
	for name, fn := range info.Functions {
		m := OpenRPCMethod{Name: name, ParamStructure: "by-name", Params: []OpenRPCDescriptor{}}
		in := component(components, name+".input", fn.InputSchema)
		// The rule by which the socket sends a protocol 2 plugin its
		// input (docs/protocol.md, "Params"): by name when the input is
		// an object (typedesc.Function.ObjectInput), in {"value": ...}
		// otherwise.
		byName := fn.ObjectInput()
		switch {
		case byName && in != nil && len(in.props) > 0:
			for _, p := range in.props {
				m.Params = append(m.Params, OpenRPCDescriptor{
					Name: p.name, Description: description(p.schema), Schema: p.schema, Required: slices.Contains(in.required, p.name),
				})
			}
		case byName && fn.Input != nil:
			// A map, or a struct without fields, has no member to list.
			for i := range fn.Input.Fields {
				f := &fn.Input.Fields[i]
				m.Params = append(m.Params, OpenRPCDescriptor{Name: f.Name, Schema: f.JSONSchema(), Required: f.Mandatory})
			}
		case byName:
			// An object with no members to list: nothing to pass.
		case in != nil:
			m.Params = append(m.Params, OpenRPCDescriptor{Name: "value", Description: description(in.top), Schema: in.schema(), Required: !allowsNull(in.top)})
		default:
			m.Params = append(m.Params, OpenRPCDescriptor{Name: "value", Schema: schemaOf(fn.Input), Required: hasMandatory(fn.Input)})
		}
		if out := component(components, name+".output", fn.OutputSchema); out != nil {
			m.Result = &OpenRPCDescriptor{Name: "result", Description: description(out.top), Schema: out.schema()}
		} else {
			m.Result = &OpenRPCDescriptor{Name: "result", Schema: schemaOf(fn.Output)}
		}
		doc.Methods = append(doc.Methods, m)
	}
	slices.SortFunc(doc.Methods, func(x, y OpenRPCMethod) int { return strings.Compare(x.Name, y.Name) })
	if len(components) > 0 {
		doc.Components = &OpenRPCComponents{Schemas: components}
	}
	return doc
}

func schemaOf(e *typedesc.Entity) map[string]any {
	s := e.JSONSchema()
	// A Go type's name tells a reader what the value is; a predeclared
	// type's name only repeats its Type.
	if e != nil && e.Name != "" && e.Name != e.Type {
		s["title"] = e.Name
	}
	return s
}

// hasMandatory reports whether a payload described by e must be sent:
// typedesc's Validate accepts an absent payload only when no field is
// mandatory.
func hasMandatory(e *typedesc.Entity) bool {
	if e == nil || e.Type != "struct" {
		return false
	}
	for _, f := range e.Fields {
		if f.Mandatory {
			return true
		}
	}
	return false
}

// schemaDoc is a function's schema, read for the document.
type schemaDoc struct {
	root map[string]any
	ref  string // where root is in components; "" when it is not
	// top is what root describes: root itself, or what a "$ref" at its
	// top points to within it, as a Go type's schema refers to its
	// definition.
	top      map[string]any
	props    []property // the members of top's "properties", in the order sent
	required []string
}

// schema is the schema as a content descriptor has it: a reference to
// components when it is there.
func (d *schemaDoc) schema() map[string]any {
	if d.ref != "" {
		return map[string]any{"$ref": d.ref}
	}
	return d.root
}

type property struct {
	name   string
	schema map[string]any
}

// component reads raw, a schema, for the document. A schema that refers
// within itself is put in components under key, and its references,
// and those of its parts, are made to point there. It returns nil for no
// schema, or one that is not JSON (which no handshake lets through).
func component(components map[string]any, key string, raw json.RawMessage) *schemaDoc {
	if len(raw) == 0 {
		return nil
	}
	v, err := decodeSchema(raw)
	if err != nil {
		return nil
	}
	d := &schemaDoc{root: asSchema(v)}
	var path []string
	d.top, path = resolveTop(d.root)
	if props, ok := d.top["properties"].(map[string]any); ok {
		for _, name := range memberOrder(raw, append(path, "properties")) {
			if s, ok := props[name]; ok {
				d.props = append(d.props, property{name, asSchema(s)})
			}
		}
	}
	if req, ok := d.top["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				d.required = append(d.required, s)
			}
		}
	}
	if hasRefs(d.root) {
		// The members listed as params share the root's maps, and so
		// point there too.
		d.ref = "#/components/schemas/" + pointerToken(key)
		rewriteRefs(d.root, d.ref)
		components[key] = d.root
	}
	return d
}

// resolveTop follows the "$ref" at the top of root, and of what it points
// to, a few times at most, as long as each is a JSON pointer within root,
// and returns the schema it ends at and the pointer's tokens.
func resolveTop(root map[string]any) (map[string]any, []string) {
	top, path := root, []string(nil)
	for range 8 {
		r, ok := top["$ref"].(string)
		if !ok || !strings.HasPrefix(r, "#/") {
			break
		}
		frag, err := url.PathUnescape(r[2:])
		if err != nil {
			break
		}
		tokens := strings.Split(frag, "/")
		var at any = root
		for i, tok := range tokens {
			tokens[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
			m, ok := at.(map[string]any)
			if !ok {
				return top, path
			}
			at = m[tokens[i]]
		}
		m, ok := at.(map[string]any)
		if !ok {
			break
		}
		top, path = m, tokens
	}
	return top, path
}

// decodeSchema decodes raw keeping numbers as their text: a bound such as
// 18446744073709551615 is not a float64.
func decodeSchema(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// asSchema returns a schema as an object: true is {} and false
// {"not": {}}, which mean the same.
func asSchema(v any) map[string]any {
	switch s := v.(type) {
	case map[string]any:
		return s
	case bool:
		if s {
			return map[string]any{}
		}
		return map[string]any{"not": map[string]any{}}
	}
	return map[string]any{}
}

// memberOrder returns the names of the members of the object at path in
// raw, in the order they were sent.
func memberOrder(raw []byte, path []string) []string {
	for _, tok := range path {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		raw = m[tok]
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return names
		}
		key, _ := t.(string)
		names = append(names, key)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return names
		}
	}
	return names
}

// refKeywords are the keywords whose value is a reference.
var refKeywords = []string{"$ref", "$dynamicRef", "$recursiveRef"}

// hasRefs reports whether schema refers within itself anywhere.
func hasRefs(v any) bool {
	found := false
	walk(v, func(m map[string]any) {
		for _, k := range refKeywords {
			if r, ok := m[k].(string); ok && strings.HasPrefix(r, "#") {
				found = true
			}
		}
	})
	return found
}

// rewriteRefs makes every reference within the schema, "#…", relative to
// base, where the schema now is in the document.
func rewriteRefs(v any, base string) {
	walk(v, func(m map[string]any) {
		for _, k := range refKeywords {
			if r, ok := m[k].(string); ok && strings.HasPrefix(r, "#") {
				if r == "#" || strings.HasPrefix(r, "#/") {
					m[k] = base + r[1:]
				}
			}
		}
	})
}

// walk calls fn on every object in v. The schema came through a
// handshake, which bounds its depth; encoding/json bounds it too.
func walk(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, e := range x {
			walk(e, fn)
		}
	case []any:
		for _, e := range x {
			walk(e, fn)
		}
	}
}

// pointerToken escapes s as a token of a JSON pointer in a URI fragment.
func pointerToken(s string) string {
	s = strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// allowsNull reports whether a schema's type lets null through: it has
// none, or "null" is among them.
func allowsNull(s map[string]any) bool {
	switch t := s["type"].(type) {
	case string:
		return t == "null"
	case []any:
		return slices.Contains(t, any("null"))
	}
	return true
}

func description(s map[string]any) string {
	d, _ := s["description"].(string)
	return d
}
