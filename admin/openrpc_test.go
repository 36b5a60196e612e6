package admin_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// openRPCMetaSchema compiles testdata/openrpc-meta-schema.json (see
// testdata/README.md). It is draft-07, and it refers, for the schema of
// every schema in a document, to a meta-schema of its authors' at
// https://meta.json-schema.tools, which is not fetched: the JSON Schema
// 2020-12 meta-schema, which jsonschema ships, stands in for it.
func openRPCMetaSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile("testdata/openrpc-meta-schema.json")
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	meta := doc.(map[string]any)
	require.Equal(t, "https://meta.json-schema.tools/", meta["$schema"])
	meta["$schema"] = "http://json-schema.org/draft-07/schema#"
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("https://meta.open-rpc.org/", meta))
	for _, url := range []string{"https://meta.json-schema.tools", "https://meta.json-schema.tools/"} {
		standIn := map[string]any{
			"$schema": "https://json-schema.org/draft/2020-12/schema",
			"$ref":    "https://json-schema.org/draft/2020-12/schema",
			// What a reference object's "$ref" is.
			"definitions": map[string]any{"JSONSchemaObject": map[string]any{"properties": map[string]any{
				"$ref": map[string]any{"type": "string", "format": "uri-reference"}}}},
		}
		require.NoError(t, c.AddResource(url, standIn))
	}
	s, err := c.Compile("https://meta.open-rpc.org/")
	require.NoError(t, err)
	return s
}

// conforms checks doc against the OpenRPC meta-schema.
func conforms(t *testing.T, meta *jsonschema.Schema, doc *admin.OpenRPC) {
	t.Helper()
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	assert.NoError(t, meta.Validate(v), "%s", b)
}

// The meta-schema is not one that passes anything.
func TestOpenRPCMetaSchemaRefusesWhatItShould(t *testing.T) {
	meta := openRPCMetaSchema(t)
	for _, bad := range []string{
		`{"openrpc":"1.3.2","info":{"title":"x","version":"1"}}`,
		`{"openrpc":"1.3.2","info":{"title":"x","version":"1"},"methods":[{"name":"F","params":[{"name":"p"}]}]}`,
		`{"openrpc":"1.3.2","info":{"title":"x","version":"1"},"methods":[{"name":"F","params":[],"paramStructure":"by-names"}]}`,
		`{"openrpc":"1.3.2","info":{"title":"x","version":"1"},"methods":[{"name":"F","params":[{"name":"p","schema":{"type":7}}]}]}`,
	} {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(bad)))
		require.NoError(t, err)
		assert.Error(t, meta.Validate(v), bad)
	}
}

// OpenRPC documents of real plugins, and of descriptions with schemas,
// are valid OpenRPC: by-name params, one per member of an object input,
// "value" for any other.
func TestOpenRPCDocumentsValidateAgainstTheMetaSchema(t *testing.T) {
	meta := openRPCMetaSchema(t)

	e := newEnv(t)
	e.attach(newCalc(), "calc", "1.0.0")
	e.attach(Greeter{}, "greeter", "")
	e.dialBooking("booking")
	for _, name := range []string{"calc", "greeter", "booking"} {
		info, err := e.c.Describe(t.Context(), name)
		require.NoError(t, err)
		conforms(t, meta, admin.OpenRPCDocument(info))
	}

	info, err := e.c.Describe(t.Context(), "calc")
	require.NoError(t, err)
	doc := admin.OpenRPCDocument(info)
	add := method(t, doc, "Add")
	assert.Equal(t, "by-name", add.ParamStructure)
	require.Len(t, add.Params, 2)
	assert.Equal(t, "a", add.Params[0].Name)
	assert.Equal(t, "b", add.Params[1].Name)
	echo := method(t, doc, "Echo")
	require.Len(t, echo.Params, 1)
	assert.Equal(t, "value", echo.Params[0].Name)
	assert.True(t, typeIncludes(echo.Params[0].Schema, "string"), "%v", echo.Params[0].Schema)

	// Described as a Go plugin describes them, an Entity beside each
	// schema, but for Alone, which has its schema only.
	object := &typedesc.Entity{Type: "struct"}
	schemas := &envelope.PluginInfo{Name: "booking", Version: "2.0.0", Functions: map[string]typedesc.Function{
		"Book": {Input: object, InputSchema: json.RawMessage(`{"type":["object","null"],"properties":{
				"title":{"type":"string","description":"What is on."},
				"when":{"type":"string","format":"date-time"},
				"kind":{"enum":["talk","workshop"]},
				"seats":{"type":"integer","minimum":1,"maximum":18446744073709551615}},
			"required":["title","when"]}`),
			OutputSchema: json.RawMessage(`{"type":"integer","description":"The booking's id."}`)},
		"Tree": {Input: object, InputSchema: json.RawMessage(`{"$ref":"#/$defs/Node","$defs":{"Node":{"type":"object","properties":{
				"kids":{"type":["array","null"],"items":{"$ref":"#/$defs/Node"}}}}}}`),
			OutputSchema: json.RawMessage(`{"type":"object","properties":{"self":{"$ref":"#"}}}`)},
		"Nest/ed~": {Input: object, InputSchema: json.RawMessage(`{"type":"object","properties":{"up":{"$ref":"#"}}}`)},
		"Count":    {InputSchema: json.RawMessage(`{"type":"array","items":{"type":"string"}}`), OutputSchema: json.RawMessage(`true`)},
		"Any":      {InputSchema: json.RawMessage(`{}`), OutputSchema: json.RawMessage(`false`)},
		"Map":      {Input: &typedesc.Entity{Type: "map[string]int"}, InputSchema: json.RawMessage(`{"type":"object","additionalProperties":{"type":"integer"}}`)},
		"Alone":    {InputSchema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}}}`)},
		"Nothing":  {},
	}}
	doc = admin.OpenRPCDocument(schemas)
	conforms(t, meta, doc)

	book := method(t, doc, "Book")
	assert.Equal(t, "by-name", book.ParamStructure)
	var names []string
	for _, p := range book.Params {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"title", "when", "kind", "seats"}, names, "members in the order the schema has them")
	assert.Equal(t, admin.OpenRPCDescriptor{Name: "title", Description: "What is on.",
		Schema: map[string]any{"type": "string", "description": "What is on."}, Required: true}, book.Params[0])
	assert.True(t, book.Params[1].Required)
	assert.False(t, book.Params[2].Required)
	assert.Equal(t, []any{"talk", "workshop"}, book.Params[2].Schema["enum"])
	assert.Equal(t, json.Number("18446744073709551615"), book.Params[3].Schema["maximum"], "a bound kept exactly")
	assert.Equal(t, "The booking's id.", book.Result.Description)

	count := method(t, doc, "Count")
	require.Len(t, count.Params, 1)
	assert.Equal(t, admin.OpenRPCDescriptor{Name: "value", Schema: map[string]any{"type": "array", "items": map[string]any{"type": "string"}}, Required: true}, count.Params[0])
	assert.Equal(t, map[string]any{}, count.Result.Schema)
	anyIn := method(t, doc, "Any")
	assert.Equal(t, []admin.OpenRPCDescriptor{{Name: "value", Schema: map[string]any{}}}, anyIn.Params, "null is a value too")
	assert.Equal(t, map[string]any{"not": map[string]any{}}, anyIn.Result.Schema)
	assert.Empty(t, method(t, doc, "Map").Params, "an object of any members names none")
	alone := method(t, doc, "Alone")
	assert.Equal(t, []admin.OpenRPCDescriptor{{Name: "a", Schema: map[string]any{"type": "integer"}}},
		alone.Params, "described by a schema alone, an object input goes by name, as protocol 2 sends it")

	// Schemas that refer within themselves are in components, and the
	// references point there.
	tree := method(t, doc, "Tree")
	require.Len(t, tree.Params, 1, "the members of what the $ref at the top points to")
	assert.Equal(t, "kids", tree.Params[0].Name)
	assert.Equal(t, "#/components/schemas/Tree.input/$defs/Node", tree.Params[0].Schema["items"].(map[string]any)["$ref"])
	require.NotNil(t, doc.Components)
	in := doc.Components.Schemas["Tree.input"].(map[string]any)
	assert.Equal(t, "#/components/schemas/Tree.input/$defs/Node", in["$ref"])
	node := in["$defs"].(map[string]any)["Node"].(map[string]any)
	assert.Equal(t, "#/components/schemas/Tree.input/$defs/Node",
		node["properties"].(map[string]any)["kids"].(map[string]any)["items"].(map[string]any)["$ref"])
	assert.Equal(t, map[string]any{"$ref": "#/components/schemas/Tree.output"}, tree.Result.Schema)
	nested := method(t, doc, "Nest/ed~")
	assert.Equal(t, "up", nested.Params[0].Name)
	assert.Equal(t, "#/components/schemas/Nest~1ed~0.input", nested.Params[0].Schema["$ref"], "the name escaped as a pointer")
	nothing := method(t, doc, "Nothing")
	assert.Equal(t, []admin.OpenRPCDescriptor{{Name: "value", Schema: map[string]any{}}}, nothing.Params)
}

func method(t *testing.T, doc *admin.OpenRPC, name string) admin.OpenRPCMethod {
	t.Helper()
	for _, m := range doc.Methods {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no method %q", name)
	return admin.OpenRPCMethod{}
}
