package typedesc_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

func order() *typedesc.Entity {
	return &typedesc.Entity{Name: "Order", Type: "struct", Fields: []typedesc.Entity{
		field("id", "int64", true),
		field("customer", "struct", true,
			field("name", "string", true),
			field("email", "string", true)),
		field("items", "[]struct", true,
			field("name", "string", true),
			field("price", "float64", true)),
		field("note", "string", false),
	}}
}

func TestEntityDeepCopy(t *testing.T) {
	var nilEntity *typedesc.Entity
	assert.Nil(t, nilEntity.DeepCopy())

	orig := order()
	c := orig.DeepCopy()
	require.Equal(t, orig, c)
	c.Name = "x"
	c.Fields[1].Fields[0].Name = "x"
	c.Fields[2].Fields = append(c.Fields[2].Fields[:1], field("y", "int", true))
	c.Fields[3].Mandatory = true
	assert.Equal(t, order(), orig)

	assert.Nil(t, (&typedesc.Entity{Type: "int"}).DeepCopy().Fields, "nil Fields stay nil")
	assert.NotNil(t, (&typedesc.Entity{Fields: []typedesc.Entity{}}).DeepCopy().Fields, "empty Fields stay empty")
}

func TestFunctionDeepCopy(t *testing.T) {
	var nilFunction *typedesc.Function
	assert.Equal(t, typedesc.Function{}, nilFunction.DeepCopy())

	f := &typedesc.Function{Name: "Place", Input: order(), Output: nil}
	c := f.DeepCopy()
	require.Equal(t, *f, c)
	assert.NotSame(t, f.Input, c.Input)
	c.Input.Fields[0].Type = "string"
	assert.Equal(t, order(), f.Input)
	assert.Nil(t, c.Output)
}

func TestRefine(t *testing.T) {
	got, err := typedesc.Refine(nil, nil)
	require.NoError(t, err)
	assert.Nil(t, got)
	_, err = typedesc.Refine(nil, order())
	require.ErrorIs(t, err, typedesc.ErrRefinement, "fields to refine where there are none")

	reflected := order()
	same, err := typedesc.Refine(reflected, nil)
	require.NoError(t, err)
	assert.Equal(t, reflected, same)
	assert.NotSame(t, reflected, same)

	refined := &typedesc.Entity{
		Name: "ignored", Type: "ignored",
		Fields: []typedesc.Entity{
			{Name: "id", Type: "string", Mandatory: false}, // only Mandatory counts
			{Name: "customer", Mandatory: true, Fields: []typedesc.Entity{{Name: "email"}}},
			{Name: "items", Mandatory: true, Fields: []typedesc.Entity{{Name: "price"}}},
			{Name: "note", Mandatory: true},
		},
	}
	got, err = typedesc.Refine(reflected, refined)
	require.NoError(t, err)
	want := &typedesc.Entity{Name: "Order", Type: "struct", Fields: []typedesc.Entity{
		field("id", "int64", false),
		field("customer", "struct", true,
			field("name", "string", true),
			field("email", "string", false)),
		field("items", "[]struct", true,
			field("name", "string", true),
			field("price", "float64", false)),
		field("note", "string", true),
	}}
	assert.Equal(t, want, got)
	assert.Equal(t, order(), reflected, "reflected is not changed")
	assert.Len(t, refined.Fields, 4, "refined is not changed")

	got.Fields[0].Name = "x"
	assert.Equal(t, "id", reflected.Fields[0].Name, "the result shares nothing")
}

// Reflection decides what exists: a refinement of a field the type lacks
// is an error naming the field's path, not silently ignored.
func TestRefineRefusesUnknownFields(t *testing.T) {
	for _, c := range []struct {
		refined *typedesc.Entity
		path    string
	}{
		{&typedesc.Entity{Fields: []typedesc.Entity{{Name: "invented", Mandatory: true}}}, `field "invented"`},
		{&typedesc.Entity{Fields: []typedesc.Entity{{Name: "items", Fields: []typedesc.Entity{{Name: "ghost"}}}}}, `field "items.ghost"`},
		{&typedesc.Entity{Fields: []typedesc.Entity{{Name: "ID"}}}, `field "ID"`}, // names match exactly
	} {
		got, err := typedesc.Refine(order(), c.refined)
		require.ErrorIs(t, err, typedesc.ErrRefinement)
		assert.ErrorContains(t, err, c.path)
		assert.Nil(t, got)
	}
}

func TestRefineMatchesOnlyByName(t *testing.T) {
	reflected := &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{field("a", "int", true), field("b", "int", true)}}
	refined := &typedesc.Entity{Fields: []typedesc.Entity{{Name: "b", Mandatory: false}}}
	got, err := typedesc.Refine(reflected, refined)
	require.NoError(t, err)
	assert.Equal(t, []typedesc.Entity{field("a", "int", true), field("b", "int", false)}, got.Fields)
}
