package typedesc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

// nested returns a struct whose only field, "f", holds the next one,
// levels structs deep in all; built without recursion, so it can be made
// millions deep.
func nested(levels int) *typedesc.Entity {
	top := &typedesc.Entity{Type: "struct"}
	cur := top
	for range levels - 1 {
		cur.Fields = []typedesc.Entity{{Name: "f", Type: "struct"}}
		cur = &cur.Fields[0]
	}
	return top
}

// schemaDepth measures how deeply a JSON Schema nests, following its
// "items", "additionalProperties" and "properties" without recursion.
func schemaDepth(s map[string]any) int {
	type at struct {
		s map[string]any
		d int
	}
	deepest := 0
	for todo := []at{{s, 0}}; len(todo) > 0; {
		cur := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		deepest = max(deepest, cur.d)
		for _, k := range []string{"items", "additionalProperties"} {
			if sub, ok := cur.s[k].(map[string]any); ok {
				todo = append(todo, at{sub, cur.d + 1})
			}
		}
		if props, ok := cur.s["properties"].(map[string]any); ok {
			for _, p := range props {
				todo = append(todo, at{p.(map[string]any), cur.d + 1})
			}
		}
	}
	return deepest
}

func TestCheckDepthLimit(t *testing.T) {
	deep := strings.Repeat("[]", typedesc.MaxDepth)
	for _, tc := range []struct {
		name string
		e    *typedesc.Entity
		path string // "" when within the limit
	}{
		{"scalar", &typedesc.Entity{Type: "string"}, ""},
		{"64 slices", &typedesc.Entity{Type: deep + "int"}, ""},
		{"65 slices", &typedesc.Entity{Type: "[]" + deep + "int"}, "-"},
		{"64 maps", &typedesc.Entity{Type: strings.Repeat("map[string]", 64) + "int"}, ""},
		{"65 maps", &typedesc.Entity{Type: strings.Repeat("map[int64]", 65) + "int"}, "-"},
		{"63 slices of struct", &typedesc.Entity{Type: deep[2:] + "struct"}, ""},
		{"64 slices of struct", &typedesc.Entity{Type: deep + "struct"}, "-"},
		{"64 structs", nested(64), ""},
		{"65 structs", nested(65), strings.Repeat("f.", 63) + "f"},
		{"field too deep", &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{
			{Name: "ok", Type: "int"},
			{Name: "list", Type: "[]struct", Fields: []typedesc.Entity{{Name: "deep", Type: deep}}},
		}}, "list.deep"},
		{"fields on a scalar count", &typedesc.Entity{Type: deep + "int", Fields: []typedesc.Entity{{Name: "x"}}}, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Check()
			switch tc.path {
			case "":
				require.NoError(t, err)
				assert.LessOrEqual(t, schemaDepth(tc.e.JSONSchema()), typedesc.MaxDepth)
			case "-":
				require.ErrorIs(t, err, typedesc.ErrTooDeep)
				assert.Equal(t, "type nests deeper than 64 levels", err.Error())
			default:
				require.ErrorIs(t, err, typedesc.ErrTooDeep)
				assert.Equal(t, `type nests deeper than 64 levels at field "`+tc.path+`"`, err.Error())
			}
		})
	}
	var e *typedesc.Entity
	assert.NoError(t, e.Check())
}

func TestFunctionCheckNamesTheSide(t *testing.T) {
	bad := &typedesc.Entity{Type: strings.Repeat("[]", 65) + "int"}
	ok := &typedesc.Entity{Type: "int"}

	err := (&typedesc.Function{Name: "Deep", Input: bad, Output: ok}).Check()
	require.ErrorIs(t, err, typedesc.ErrTooDeep)
	assert.Equal(t, `function "Deep" input: type nests deeper than 64 levels`, err.Error())

	err = (&typedesc.Function{Name: "Deep", Input: ok, Output: bad}).Check()
	require.ErrorIs(t, err, typedesc.ErrTooDeep)
	assert.Equal(t, `function "Deep" output: type nests deeper than 64 levels`, err.Error())

	assert.NoError(t, (&typedesc.Function{Name: "Fine", Input: ok}).Check())
	var f *typedesc.Function
	assert.NoError(t, f.Check())
}

// The attack of issue 9 (A1): a type two million levels deep, as a Type
// string and as a chain of Fields, and a description that contains itself.
// Each walk either refuses it or stops at MaxDepth; a stack overflow would
// kill the test binary, so passing proves the walks are bounded.
func TestWalksAreBoundedOnHugeDepth(t *testing.T) {
	const levels = 2_000_000
	selfish := &typedesc.Entity{Type: "struct", Fields: make([]typedesc.Entity, 1)}
	selfish.Fields[0] = typedesc.Entity{Name: "again", Type: "struct", Fields: selfish.Fields}
	for name, e := range map[string]*typedesc.Entity{
		"type":   {Type: strings.Repeat("[]", levels) + "int"},
		"maps":   {Type: strings.Repeat("map[string]", levels/5) + "int"},
		"fields": nested(levels),
		"cycle":  selfish,
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, e.Check(), typedesc.ErrTooDeep)
			require.ErrorIs(t, (&typedesc.Function{Name: "F", Input: e}).Check(), typedesc.ErrTooDeep)

			s := e.JSONSchema()
			assert.Equal(t, typedesc.MaxDepth, schemaDepth(s))
			b, err := json.Marshal(s)
			require.NoError(t, err)
			assert.Contains(t, string(b), `"$comment":"type nests deeper than 64 levels; not described further"`)
			assert.Less(t, len(b), 64<<10)

			// A payload as deep as encoding/json allows.
			open, closing := "[", "]"
			if e.Type == "struct" || strings.HasPrefix(e.Type, "map[") {
				open, closing = `{"f":`, "}"
				if name == "cycle" {
					open = `{"again":`
				}
			}
			payload := strings.Repeat(open, 9000) + "1" + strings.Repeat(closing, 9000)
			err = e.Validate([]byte(payload))
			require.ErrorIs(t, err, typedesc.ErrTooDeep)
			require.ErrorIs(t, err, typedesc.ErrInvalid)
			// Shallow payloads are still checked.
			assert.NoError(t, e.Validate([]byte("null")))
		})
	}
}

func TestValidateAtTheDepthLimit(t *testing.T) {
	e := &typedesc.Entity{Type: strings.Repeat("[]", typedesc.MaxDepth) + "int"}
	require.NoError(t, e.Check())
	ok := strings.Repeat("[", 64) + "1" + strings.Repeat("]", 64)
	assert.NoError(t, e.Validate([]byte(ok)))
	bad := strings.Repeat("[", 64) + `"x"` + strings.Repeat("]", 64)
	assert.ErrorContains(t, e.Validate([]byte(bad)), "expected int, got string")
}
