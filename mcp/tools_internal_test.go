package mcp

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

var toolNameRule = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

func TestToolName(t *testing.T) {
	for _, tc := range []struct{ plugin, fn, want string }{
		{"calc", "Add", "calc.Add"},
		{"calc@2.0.0", "Add", "calc_v2.0.0.Add"},
		{"calc@v2", "Add", "calc_vv2.Add"},
		{"geo.lookup", "Find", "geo.lookup.Find"},
		{"billing_v2", "Charge-Now", "billing_v2.Charge-Now"},
		{"météo", "Prévoir", "m_t_o.Pr_voir"},
		{"a b", "x.y", "a_b.x_y"}, // a function's dots would move the split
		{"calc", "", "calc."},
		{"calc", "$/shutdown", "calc.__shutdown"},
		{"calc", "bad\xffutf8", "calc.bad_utf8"},
	} {
		got := ToolName(tc.plugin, tc.fn)
		assert.Equal(t, tc.want, got, "%q %q", tc.plugin, tc.fn)
		assert.Regexp(t, toolNameRule, got)
		// The plugin is everything before the last dot, once mapped.
		i := strings.LastIndexByte(got, '.')
		assert.Equal(t, ToolName(tc.plugin, ""), got[:i+1])
	}
}

func TestToolNameLong(t *testing.T) {
	long := strings.Repeat("p", 128)
	a := ToolName(long+"@1.0.0", "Add")
	b := ToolName(long+"@1.0.1", "Add")
	c := ToolName(long, strings.Repeat("f", 10_000))
	for _, n := range []string{a, b, c} {
		assert.Len(t, n, MaxToolName)
		assert.Regexp(t, toolNameRule, n)
	}
	assert.NotEqual(t, a, b, "names that differ past the cut still differ")
	assert.Equal(t, a, ToolName(long+"@1.0.0", "Add"), "and the same name maps the same way every time")
	assert.Equal(t, strings.Repeat("p", 119)+"_", a[:120])
	assert.Regexp(t, `_[0-9a-f]{8}$`, a)
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"Add", "Add", true},
		{"Add", "add", false},
		{"A*", "Add", true},
		{"*d", "Add", true},
		{"*d", "Adx", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a**", "a", true},
		{"", "", true},
		{"", "x", false},
		{"[x]", "[x]", true}, // only * is special
		{"?", "x", false},
	} {
		assert.Equal(t, tc.want, glob(tc.pat, tc.s), "%q %q", tc.pat, tc.s)
	}
	// Many stars against a long text that does not match end quickly.
	assert.False(t, glob(strings.Repeat("*a", 1000)+"b", strings.Repeat("a", 100_000)))
}

func TestAllowListPatterns(t *testing.T) {
	list := parsePatterns([]string{"calc.*, kv.Get", "", " geo.lookup.Find ,,", "shop@2.*.Buy", "clock"})
	require.Len(t, list, 5)
	info := func(name, version string) *envelope.PluginInfo {
		return &envelope.PluginInfo{Name: name, Version: version}
	}
	for _, tc := range []struct {
		info *envelope.PluginInfo
		fn   string
		want bool
	}{
		{info("calc", "1.0.0"), "Add", true},
		{info("calc@2.0.0", "2.0.0"), "Div", true}, // every version of calc
		{info("kv", ""), "Get", true},
		{info("kv", ""), "Set", false},
		{info("geo.lookup", ""), "Find", true},
		{info("geo.lookup", ""), "Near", false},
		{info("geo", ""), "lookup.Find", false},
		{info("shop", "2.3.0"), "Buy", true},
		{info("shop@2.3.0", "2.3.0"), "Buy", true},
		{info("shop", "1.0.0"), "Buy", false},
		{info("clock", ""), "Now", true}, // no dot: the whole plugin
		{info("other", ""), "Add", false},
	} {
		assert.Equal(t, tc.want, allowed(list, tc.info, tc.fn), "%s %s.%s", tc.info.Version, tc.info.Name, tc.fn)
	}
	assert.True(t, allowed(nil, info("anything", ""), "Any"), "no list: everything")
}

func schemaMap(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	return m
}

func goFunction(t *testing.T, in, out any) *typedesc.Function {
	t.Helper()
	f := &typedesc.Function{Input: typedesc.ForType(reflect.TypeOf(in)), Output: typedesc.ForType(reflect.TypeOf(out))}
	var err error
	f.InputSchema, err = typedesc.InputSchema(reflect.TypeOf(in))
	require.NoError(t, err)
	f.OutputSchema, err = typedesc.OutputSchema(reflect.TypeOf(out))
	require.NoError(t, err)
	return f
}

type args struct {
	A int `json:"a"`
	B int `json:"b"`
}

type node struct {
	Name string `json:"name"`
	Kids []node `json:"kids"`
}

func TestInputSchema(t *testing.T) {
	// An object input: its own schema, the top-level type narrowed.
	s, wrapped := inputSchema(goFunction(t, args{}, 0))
	assert.False(t, wrapped)
	m := schemaMap(t, s)
	assert.Equal(t, "object", m["type"])
	assert.Contains(t, m["properties"], "a")
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", m["$schema"])

	// A recursive struct's schema is a $ref at the top: it gets a type.
	s, wrapped = inputSchema(goFunction(t, node{}, 0))
	assert.False(t, wrapped)
	m = schemaMap(t, s)
	assert.Equal(t, "object", m["type"])
	assert.Equal(t, "#/$defs/node", m["$ref"])

	// A number is wrapped.
	s, wrapped = inputSchema(goFunction(t, 0, 0))
	assert.True(t, wrapped)
	m = schemaMap(t, s)
	assert.Equal(t, "object", m["type"])
	assert.Equal(t, []any{"value"}, m["required"])
	assert.Equal(t, false, m["additionalProperties"])
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", m["$schema"], "the dialect moves to the top")
	value := m["properties"].(map[string]any)["value"].(map[string]any)
	assert.Equal(t, []any{"integer", "null"}, value["type"])
	assert.NotContains(t, value, "$schema")

	// A list of structs is wrapped, and its references follow it.
	s, wrapped = inputSchema(goFunction(t, []node{}, 0))
	assert.True(t, wrapped)
	assert.Contains(t, string(s), `"$ref":"#/properties/value/$defs/node"`)
	assert.NotContains(t, string(s), `"#/$defs/`)

	// An Entity alone.
	s, wrapped = inputSchema(&typedesc.Function{Input: &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{{Name: "q", Type: "string", Mandatory: true}}}})
	assert.False(t, wrapped)
	assert.JSONEq(t, `{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}`, string(s))
	s, wrapped = inputSchema(&typedesc.Function{Input: &typedesc.Entity{Type: "[]int64"}})
	assert.True(t, wrapped)
	assert.JSONEq(t, `{"type":"object","properties":{"value":{"type":"array","items":{"type":"integer"}}},"required":["value"],"additionalProperties":false}`, string(s))

	// No description at all: any object, passed on.
	s, wrapped = inputSchema(&typedesc.Function{})
	assert.False(t, wrapped)
	assert.JSONEq(t, `{"type":"object"}`, string(s))

	// A schema alone whose input is not an object, with boolean and odd
	// parts.
	s, wrapped = inputSchema(&typedesc.Function{InputSchema: json.RawMessage(`true`)})
	assert.True(t, wrapped)
	assert.JSONEq(t, `{"type":"object","properties":{"value":{}},"required":["value"],"additionalProperties":false}`, string(s))
	s, _ = inputSchema(&typedesc.Function{InputSchema: json.RawMessage(
		`{"type":"array","items":{"$ref":"#"},"enum":[{"$ref":"#"}],"$defs":{"x":{"$ref":"#anchor"}}}`)})
	v := schemaMap(t, s)["properties"].(map[string]any)["value"].(map[string]any)
	assert.Equal(t, "#/properties/value", v["items"].(map[string]any)["$ref"])
	assert.Equal(t, []any{map[string]any{"$ref": "#"}}, v["enum"], "instance data is left alone")
	assert.Equal(t, "#anchor", v["$defs"].(map[string]any)["x"].(map[string]any)["$ref"])
	// With an $id, references are relative to it and stay.
	s, _ = inputSchema(&typedesc.Function{InputSchema: json.RawMessage(`{"$id":"urn:x","type":"array","items":{"$ref":"#/$defs/i"},"$defs":{"i":{}}}`)})
	assert.Contains(t, string(s), `"$ref":"#/$defs/i"`)

	// An object schema's boolean properties become objects, as MCP
	// clients want them.
	s, wrapped = inputSchema(&typedesc.Function{InputSchema: json.RawMessage(`{"type":["object","null"],"properties":{"any":true,"none":false,"n":{"type":"integer"}}}`)})
	assert.False(t, wrapped)
	assert.JSONEq(t, `{"type":"object","properties":{"any":{},"none":{"not":{}},"n":{"type":"integer"}}}`, string(s))
}

func TestOutputSchema(t *testing.T) {
	s, ok := outputSchema(goFunction(t, 0, args{}))
	require.True(t, ok, "a struct's output is always an object")
	assert.Equal(t, "object", schemaMap(t, s)["type"])

	s, ok = outputSchema(goFunction(t, 0, node{}))
	require.True(t, ok, "and so is a recursive struct's, through its $ref")
	assert.Equal(t, "object", schemaMap(t, s)["type"])

	for name, f := range map[string]*typedesc.Function{
		"int":           goFunction(t, 0, 0),
		"pointer":       goFunction(t, 0, &args{}),
		"map":           goFunction(t, 0, map[string]int{}),
		"slice":         goFunction(t, 0, []args{}),
		"entity only":   {Output: &typedesc.Entity{Type: "struct"}},
		"nothing":       {},
		"not a schema":  {OutputSchema: json.RawMessage(`[1]`)},
		"ref elsewhere": {OutputSchema: json.RawMessage(`{"$ref":"#/$defs/a/b","$defs":{"a":{"type":"object"}}}`)},
	} {
		s, ok := outputSchema(f)
		assert.False(t, ok, name)
		assert.Nil(t, s, name)
	}
}

func TestPayload(t *testing.T) {
	obj := &tool{name: "calc.Add"}
	wrapped := &tool{name: "calc.Echo", wrapped: true}
	for _, tc := range []struct {
		t        *tool
		args     string
		want     any
		errorHas string
	}{
		{obj, `{"a":1}`, json.RawMessage(`{"a":1}`), ""},
		{obj, ``, nil, ""},
		{obj, `null`, nil, ""},
		{obj, `[1]`, nil, "not an array"},
		{obj, `5`, nil, "not a number"},
		{obj, `true`, nil, "not a boolean"},
		{wrapped, `{"value":"x"}`, json.RawMessage(`"x"`), ""},
		{wrapped, `{"value":null}`, json.RawMessage(`null`), ""},
		{wrapped, `{}`, nil, `missing argument "value"`},
		{wrapped, ``, nil, `missing argument "value"`},
		{wrapped, `{"value":1,"` + strings.Repeat("k", 500) + `":2}`, nil, `unknown argument "kkkk`},
		{wrapped, `{"value":1,`, nil, "arguments:"},
	} {
		got, err := tc.t.payload(json.RawMessage(tc.args))
		if tc.errorHas != "" {
			require.Error(t, err, tc.args)
			assert.Contains(t, err.Error(), tc.errorHas)
			assert.Less(t, len(err.Error()), 200, "a client's key is quoted, not copied whole")
			continue
		}
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, got, tc.args)
	}
}

func TestToolsOf(t *testing.T) {
	info := &envelope.PluginInfo{Name: "calc@2.0.0", Version: "2.0.0", Functions: map[string]typedesc.Function{
		"Add":        *goFunction(t, args{}, 0),
		"$/shutdown": {},
	}}
	tools := toolsOf(info, nil)
	require.Len(t, tools, 1, "protocol methods are no tools")
	tl := tools[0]
	assert.Equal(t, "calc_v2.0.0.Add", tl.name)
	assert.Equal(t, "calc@2.0.0.Add", tl.def.Title)
	assert.Equal(t, "calc@2.0.0", tl.plugin)
	assert.Equal(t, "The function Add of the plugsock plugin calc@2.0.0.", tl.def.Description)
	assert.Empty(t, toolsOf(info, parsePatterns([]string{"kv.*"})))

	plain := toolsOf(&envelope.PluginInfo{Name: "calc", Version: "1.0.0", Functions: info.Functions}, nil)[0]
	assert.Empty(t, plain.def.Title, "no title when the name says it all")
	assert.Equal(t, "The function Add of the plugsock plugin calc (version 1.0.0).", plain.def.Description)
	assert.NotEqual(t, tl.key, plain.key)
}
