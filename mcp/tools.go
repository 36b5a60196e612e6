package mcp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// MaxToolName is the longest tool name MCP allows, in bytes; a tool name
// is 1 to MaxToolName characters of [A-Za-z0-9_.-].
const MaxToolName = 128

// ToolName returns the name of the tool for the function of the plugin
// with the assigned name plugin (as Socket.Connected is keyed: "calc", or
// "calc@2.0.0" for a second version): plugin + "." + function, written
// in the characters MCP allows in a tool name.
//
//   - In the plugin's name, each "@" (the one before a version) becomes
//     "_v", and every other character outside [A-Za-z0-9_.-] becomes "_":
//     "calc@2.0.0" is "calc_v2.0.0", "météo" is "m_t_o".
//   - In the function's name, every character outside [A-Za-z0-9_-]
//     becomes "_", so that the last "." of a tool name is the one between
//     plugin and function, as in "geo.lookup.Find".
//   - A name longer than MaxToolName is cut to 119 bytes and ends in "_"
//     and 8 hexadecimal digits of a SHA-256 of the plugin's and the
//     function's names, so that long names stay apart.
//
// The names of most plugins and functions pass unchanged: "calc.Add".
// Since the mapping folds several characters into one, two functions can
// map to one tool name ("calc@2.0.0" and a plugin named "calc_v2.0.0");
// the Server then exposes neither (see Server), so that no plugin can
// take another's tool name.
func ToolName(plugin, function string) string {
	var b strings.Builder
	b.Grow(len(plugin) + 1 + len(function))
	for _, r := range plugin {
		switch {
		case r == '@':
			b.WriteString("_v")
		case toolRune(r) || r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	b.WriteByte('.')
	for _, r := range function {
		if toolRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > MaxToolName {
		sum := sha256.Sum256([]byte(plugin + "\x00" + function))
		name = name[:MaxToolName-9] + "_" + hex.EncodeToString(sum[:4])
	}
	return name
}

// toolRune reports whether r may stand in a tool name as it is; "." may
// too, but only ToolName decides where.
func toolRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// A pattern of the allow-list: PLUGIN.FUNCTION, where each side may hold
// "*", which matches any run of characters. The plugin side is matched
// against the plugin's name without its version ("calc" for "calc" and
// "calc@2.0.0"), or, when it holds an "@", against name@version.
type pattern struct {
	plugin, version, function string
	versioned                 bool
}

// parsePatterns reads an allow-list: patterns separated by commas, white
// space around each ignored, empty ones skipped. A pattern splits at its
// last ".": "geo.lookup.Find" is the function Find of the plugin
// geo.lookup. A pattern without a "." names plugins, all their
// functions: "calc" is "calc.*".
func parsePatterns(list []string) []pattern {
	var out []pattern
	for _, item := range list {
		for p := range strings.SplitSeq(item, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			var pt pattern
			if i := strings.LastIndexByte(p, '.'); i >= 0 {
				pt.plugin, pt.function = p[:i], p[i+1:]
			} else {
				pt.plugin, pt.function = p, "*"
			}
			pt.plugin, pt.version, pt.versioned = strings.Cut(pt.plugin, "@")
			out = append(out, pt)
		}
	}
	return out
}

// allowed reports whether the allow-list lets the function fn of the
// plugin info through; an empty list lets everything through.
func allowed(list []pattern, info *envelope.PluginInfo, fn string) bool {
	if len(list) == 0 {
		return true
	}
	base, _, _ := strings.Cut(info.Name, "@")
	for _, p := range list {
		if !glob(p.plugin, base) || !glob(p.function, fn) {
			continue
		}
		if p.versioned && !glob(p.version, info.Version) {
			continue
		}
		return true
	}
	return false
}

// glob reports whether s matches pat, in which "*" matches any run of
// characters and everything else only itself. It takes time linear in
// len(pat)*len(s) at worst, whatever the stars.
func glob(pat, s string) bool {
	// The classic greedy match with one backtrack point: the last star.
	px, sx := 0, 0
	star, next := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pat) && pat[px] == '*':
			star, next = px, sx
			px++
		case px < len(pat) && pat[px] == s[sx]:
			px++
			sx++
		case star >= 0:
			next++
			px, sx = star+1, next
		default:
			return false
		}
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

// A tool is one function of one plugin as MCP sees it.
type tool struct {
	name     string // the tool name
	plugin   string // the plugin's assigned name
	function string
	// wrapped is set when the input is not an object: it travels in the
	// arguments as {"value": input}.
	wrapped bool
	// objectOut is set when the tool has an outputSchema: the result is
	// always an object, which is the structuredContent.
	objectOut bool
	def       *toolDef
	// key tells one tool from another for the same name: when a plugin
	// comes back with other functions under the same name, the tool is
	// replaced and the clients told.
	key string
}

// toolDef is what tools/list shows of a tool.
type toolDef struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
}

// toolsOf returns the tools of the plugin info's functions that the
// allow-list lets through; protocol methods ("$/…") are never tools.
func toolsOf(info *envelope.PluginInfo, list []pattern) []*tool {
	var out []*tool
	for name, fn := range info.Functions {
		if strings.HasPrefix(name, "$/") || !allowed(list, info, name) {
			continue
		}
		t := &tool{name: ToolName(info.Name, name), plugin: info.Name, function: name}
		in, wrapped := inputSchema(&fn)
		t.wrapped = wrapped
		outSchema, objectOut := outputSchema(&fn)
		t.objectOut = objectOut
		t.def = &toolDef{Name: t.name, Description: describe(info, name, wrapped), InputSchema: in, OutputSchema: outSchema}
		if address := info.Name + "." + name; address != t.name {
			t.def.Title = address
		}
		b, _ := json.Marshal(t.def)
		t.key = fmt.Sprintf("%s\x00%s\x00%t%t\x00%s", t.plugin, t.function, t.wrapped, t.objectOut, b)
		out = append(out, t)
	}
	return out
}

// describe is a tool's description: what it calls, for the model and the
// person choosing tools.
func describe(info *envelope.PluginInfo, fn string, wrapped bool) string {
	d := fmt.Sprintf("The function %s of the plugsock plugin %s", fn, info.Name)
	if info.Version != "" && !strings.Contains(info.Name, "@") {
		d += " (version " + info.Version + ")"
	}
	d += "."
	if wrapped {
		d += ` Its input goes in the argument "value".`
	}
	return d
}

// objectSchema is the input schema of a tool that takes anything: what a
// function described with neither an Entity nor a schema gets.
var objectSchema = json.RawMessage(`{"type":"object"}`)

// inputSchema returns the inputSchema of the tool for fn, and whether
// the input is wrapped. MCP wants an object schema ("type": "object" at
// the top): a function whose input is an object (by the rule the socket
// ships params by, typedesc.Function.ObjectInput) gets its own schema
// with the top-level type narrowed to "object" (MCP arguments are never
// null; a Go struct's schema says ["object","null"]); any other input is
// wrapped, {"type":"object","properties":{"value":S},"required":["value"]}.
// A function with no description at all takes any object, passed on as
// its input.
func inputSchema(fn *typedesc.Function) (json.RawMessage, bool) {
	switch {
	case fn.ObjectInput():
		if len(fn.InputSchema) > 0 {
			if s, ok := asObjectSchema(fn.InputSchema); ok {
				return s, false
			}
		}
		s, err := json.Marshal(fn.Input.JSONSchema())
		if err != nil {
			return objectSchema, false
		}
		if s, ok := asObjectSchema(s); ok {
			return s, false
		}
		return objectSchema, false
	case fn.Input == nil && len(fn.InputSchema) == 0:
		return objectSchema, false
	}
	inner := fn.InputSchema
	if len(inner) == 0 {
		var err error
		if inner, err = json.Marshal(fn.Input.JSONSchema()); err != nil {
			inner = json.RawMessage(`{}`)
		}
	}
	return wrapSchema(inner), true
}

// outputSchema returns the outputSchema of the tool for fn, or nil, and
// whether it has one. It has one only when fn's outputSchema says the
// result is always an object (top-level "type": "object", or a "$ref" to
// a definition that says so, as the schema of a recursive Go struct
// does). MCP's structuredContent must be an object, so a result that may
// be null (a Go pointer or map) or is a number, a string or an array has
// none: its text copy is all the result there is. An Entity alone makes
// no outputSchema either, since it only summarises the shape and clients
// check structuredContent against the schema.
func outputSchema(fn *typedesc.Function) (json.RawMessage, bool) {
	if len(fn.OutputSchema) == 0 || !alwaysObject(fn.OutputSchema) {
		return nil, false
	}
	s, ok := asObjectSchema(fn.OutputSchema)
	if !ok {
		return nil, false
	}
	return s, true
}

// alwaysObject reports whether the schema admits objects only.
func alwaysObject(raw json.RawMessage) bool {
	var top struct {
		Type json.RawMessage            `json:"type"`
		Ref  string                     `json:"$ref"`
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if json.Unmarshal(raw, &top) != nil {
		return false
	}
	if len(top.Type) > 0 {
		return string(top.Type) == `"object"`
	}
	name, ok := strings.CutPrefix(top.Ref, "#/$defs/")
	if !ok || strings.ContainsAny(name, "/~%") {
		return false
	}
	def, ok := top.Defs[name]
	if !ok {
		return false
	}
	var d struct {
		Type json.RawMessage `json:"type"`
	}
	return json.Unmarshal(def, &d) == nil && string(d.Type) == `"object"`
}

// asObjectSchema returns the schema raw with its top-level "type" set to
// "object", and the boolean schemas among its top-level "properties"
// written as objects (true as {}, false as {"not": {}}), which is how
// MCP clients want a tool's schemas. It fails for anything but a JSON
// object.
func asObjectSchema(raw json.RawMessage) (json.RawMessage, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil || top == nil {
		return nil, false
	}
	top["type"] = json.RawMessage(`"object"`)
	if p, ok := top["properties"]; ok {
		var props map[string]json.RawMessage
		if json.Unmarshal(p, &props) != nil || props == nil {
			delete(top, "properties")
		} else {
			for k, v := range props {
				props[k] = objectForm(v)
			}
			b, err := json.Marshal(props)
			if err != nil {
				return nil, false
			}
			top["properties"] = b
		}
	}
	b, err := json.Marshal(top)
	if err != nil {
		return nil, false
	}
	return b, true
}

// objectForm writes a boolean schema as the object schema that means the
// same.
func objectForm(s json.RawMessage) json.RawMessage {
	switch string(bytes.TrimSpace(s)) {
	case "true":
		return json.RawMessage(`{}`)
	case "false":
		return json.RawMessage(`{"not":{}}`)
	}
	return s
}

// wrapSchema returns the object schema of {"value": v} for v of the
// schema inner. inner's "$schema" moves to the top, and its references
// by JSON pointer ("#/$defs/Item", "#") are rewritten to point where
// inner now is, under "#/properties/value", unless inner has an "$id" of
// its own, which they are relative to.
func wrapSchema(inner json.RawMessage) json.RawMessage {
	var dialect json.RawMessage
	inner = objectForm(inner)
	var top map[string]json.RawMessage
	if json.Unmarshal(inner, &top) == nil && top != nil {
		dialect = top["$schema"]
		_, hasID := top["$id"]
		delete(top, "$schema")
		if b, err := json.Marshal(top); err == nil {
			inner = b
		}
		if !hasID && bytes.Contains(inner, []byte(`"$ref"`)) {
			inner = rebaseRefs(inner, "#/properties/value")
		}
	}
	w := struct {
		Schema     json.RawMessage `json:"$schema,omitempty"`
		Type       string          `json:"type"`
		Properties struct {
			Value json.RawMessage `json:"value"`
		} `json:"properties"`
		Required   []string `json:"required"`
		Additional bool     `json:"additionalProperties"`
	}{Schema: dialect, Type: "object", Required: []string{"value"}}
	w.Properties.Value = inner
	b, err := json.Marshal(w)
	if err != nil {
		return objectSchema
	}
	return b
}

// maxRebaseDepth bounds the walk of rebaseRefs. The socket takes no
// schema nested deeper than 128 levels; one deeper is left as it is.
const maxRebaseDepth = 256

// rebaseRefs prefixes every "$ref" by JSON pointer in the schema raw
// ("#" or "#/…") with base. Anchors ("#name") and other URIs are left
// alone, and so are the members that hold instance data rather than
// schemas (const, enum, default, examples).
func rebaseRefs(raw json.RawMessage, base string) json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return raw
	}
	if !rebase(v, base, 0) {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

func rebase(v any, base string, depth int) bool {
	if depth > maxRebaseDepth {
		return false
	}
	switch v := v.(type) {
	case map[string]any:
		for k, m := range v {
			switch k {
			case "const", "enum", "default", "examples":
				continue
			case "$ref":
				if ref, ok := m.(string); ok && (ref == "#" || strings.HasPrefix(ref, "#/")) {
					v[k] = base + ref[1:]
					continue
				}
			}
			if !rebase(m, base, depth+1) {
				return false
			}
		}
	case []any:
		for _, m := range v {
			if !rebase(m, base, depth+1) {
				return false
			}
		}
	}
	return true
}
