package typedesc_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

func schemaJSON(t *testing.T, e *typedesc.Entity) string {
	t.Helper()
	b, err := json.Marshal(e.JSONSchema())
	require.NoError(t, err)
	return string(b)
}

func TestJSONSchemaStruct(t *testing.T) {
	assert.JSONEq(t, `{
		"type": "object",
		"properties": {
			"id": {"type": "integer"},
			"customer": {
				"type": "object",
				"properties": {"name": {"type": "string"}, "email": {"type": "string"}},
				"required": ["name", "email"]
			},
			"items": {
				"type": "array",
				"items": {
					"type": "object",
					"properties": {"name": {"type": "string"}, "price": {"type": "number"}},
					"required": ["name", "price"]
				}
			},
			"note": {"type": "string"}
		},
		"required": ["id", "customer", "items"]
	}`, schemaJSON(t, order()))
}

func TestJSONSchemaTypes(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want string
	}{
		{"string", `{"type":"string"}`},
		{"bool", `{"type":"boolean"}`},
		{"int", `{"type":"integer"}`},
		{"int64", `{"type":"integer"}`},
		{"int8", `{"type":"integer","minimum":-128,"maximum":127}`},
		{"int16", `{"type":"integer","minimum":-32768,"maximum":32767}`},
		{"int32", `{"type":"integer","minimum":-2147483648,"maximum":2147483647}`},
		{"uint", `{"type":"integer","minimum":0}`},
		{"uint64", `{"type":"integer","minimum":0}`},
		{"uint8", `{"type":"integer","minimum":0,"maximum":255}`},
		{"uint32", `{"type":"integer","minimum":0,"maximum":4294967295}`},
		{"float32", `{"type":"number"}`},
		{"float64", `{"type":"number"}`},
		{"any", `{}`},
		{"uuid", `{}`},
		{"", `{}`},
		{"struct", `{"type":"object"}`},
		{"[]int", `{"type":"array","items":{"type":"integer"}}`},
		{"[][]any", `{"type":"array","items":{"type":"array","items":{}}}`},
		{"map[string]bool", `{"type":"object","additionalProperties":{"type":"boolean"}}`},
		{"map[int32][]string", `{"type":"object","propertyNames":{"pattern":"^-?[0-9]+$"},"additionalProperties":{"type":"array","items":{"type":"string"}}}`},
		{"map[uint]float64", `{"type":"object","propertyNames":{"pattern":"^[0-9]+$"},"additionalProperties":{"type":"number"}}`},
	} {
		assert.JSONEq(t, tc.want, schemaJSON(t, &typedesc.Entity{Type: tc.typ}), tc.typ)
	}

	var nilEntity *typedesc.Entity
	assert.Equal(t, map[string]any{}, nilEntity.JSONSchema())
}

func TestJSONSchemaOptionalOnly(t *testing.T) {
	e := &typedesc.Entity{Type: "map[string]struct", Fields: []typedesc.Entity{field("a", "int", false)}}
	assert.JSONEq(t, `{"type":"object","additionalProperties":{"type":"object","properties":{"a":{"type":"integer"}}}}`,
		schemaJSON(t, e), "no required list when nothing is mandatory")
}

func TestJSONSchemaFromReflection(t *testing.T) {
	assert.JSONEq(t, `{
		"type": "object",
		"properties": {
			"value": {"type": "integer"},
			"next": {"type": "object"},
			"children": {"type": "array", "items": {"type": "object"}},
			"index": {"type": "object", "additionalProperties": {"type": "object"}}
		},
		"required": ["value"]
	}`, schemaJSON(t, typedesc.TypeDescription(Node{})))
}
