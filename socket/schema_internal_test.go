package socket

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

func TestMeasureSchema(t *testing.T) {
	for _, tc := range []struct {
		raw            string
		objects, depth int
	}{
		{`true`, 0, 0},
		{`{}`, 1, 1},
		{`{"type":"object","properties":{"a":{"type":"string"},"b":{"items":[{},{}]}}}`, 6, 5},
		{`{"pattern":"{[{[\"}]"}`, 1, 1},
		{`{"enum":[[[[1]]],{"a":{}}]}`, 3, 5},
	} {
		objects, depth := measureSchema([]byte(tc.raw))
		assert.Equal(t, tc.objects, objects, tc.raw)
		assert.Equal(t, tc.depth, depth, tc.raw)
	}
}

// Plugins that share a description share its compiled schemas, and a
// schema two functions spell alike is kept and compiled once.
func TestSchemasAreCompiledOnce(t *testing.T) {
	raw := `{"F":{"inputSchema":{"type":"string","minLength":2}},"G":{"inputSchema":{"type": "string", "minLength": 2},"outputSchema":{"type":"integer"}}}`
	sc := handshakeScan{functions: []byte(raw), objects: 6, members: 2}
	fns1, schemas1, release1, err := sharedFunctions(sc, 1<<20, farOff)
	require.NoError(t, err)
	defer release1()
	fns2, schemas2, release2, err := sharedFunctions(sc, 1<<20, farOff)
	require.NoError(t, err)
	defer release2()

	require.NotNil(t, schemas1["F"].in)
	assert.Same(t, schemas1["F"].in, schemas2["F"].in, "one compile for both plugins")
	assert.Same(t, schemas1["F"].in, schemas1["G"].in, "one compile for both functions")
	assert.Nil(t, schemas1["F"].out)
	assert.NotNil(t, schemas1["G"].out)
	assert.Equal(t, unsafe.SliceData(fns1["F"].InputSchema), unsafe.SliceData(fns1["G"].InputSchema), "kept once")
	assert.Equal(t, unsafe.SliceData(fns1["F"].InputSchema), unsafe.SliceData(fns2["F"].InputSchema))
	assert.NoError(t, schemas1["G"].in.Validate([]byte(`"ab"`)))
	assert.Error(t, schemas1["G"].in.Validate([]byte(`"a"`)))

	// A connection with a smaller frame limit does not take, from the
	// cache, schemas beyond its own limits.
	big := `{"F":{"inputSchema":{"description":"` + strings.Repeat("x", 70<<10) + `"}}}`
	sc = handshakeScan{functions: []byte(big), objects: 2, members: 1}
	_, _, release, err := sharedFunctions(sc, 4<<20, farOff)
	require.NoError(t, err)
	defer release()
	_, _, _, err = sharedFunctions(sc, 64<<10, farOff)
	assert.ErrorContains(t, err, "their schemas are 71698 bytes long; at most 65536 allowed with a 65536-byte frame limit")
}

// Schemas are compiled within a budget of bytes at once, and a handshake
// waits for its share no longer than its deadline.
func TestCompilingTakesTurns(t *testing.T) {
	b := byteTurns{limit: 100}
	require.True(t, b.take(60, farOff))
	require.True(t, b.take(40, farOff), "within the budget")
	start := time.Now()
	assert.False(t, b.take(1, start.Add(50*time.Millisecond)), "past the budget until the deadline")
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	took := make(chan bool, 1)
	go func() { took <- b.take(500, farOff) }()
	assert.Never(t, func() bool { return len(took) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "taken while the budget was spent")
	b.give(60)
	assert.Never(t, func() bool { return len(took) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "taken while others held some")
	b.give(40)
	select {
	case ok := <-took:
		assert.True(t, ok, "more than the budget is taken alone")
	case <-time.After(5 * time.Second):
		t.Fatal("not taken once the budget was free")
	}
	b.give(500)
	assert.Zero(t, b.used)
}

// diamonds is a schema of n levels, each applying the next twice to the
// same value: 2^n applications for any value.
func diamonds(n int) string {
	var b strings.Builder
	b.WriteString(`{"$ref":"#/$defs/d0","$defs":{`)
	for i := range n {
		fmt.Fprintf(&b, `"d%d":{"allOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]},`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"d%d":{"type":"integer"}}}`, n)
	return b.String()
}

// twice is a recursive schema that applies itself twice to the member
// "a" of a value: 2^depth applications for a value "a" nested depth deep.
const twice = `{"$ref":"#/$defs/T","$defs":{"T":{"type":"object","properties":{"a":{"allOf":[{"$ref":"#/$defs/T"},{"$ref":"#/$defs/T"}]}}}}}`

func nested(depth int) []byte {
	return []byte(strings.Repeat(`{"a":`, depth) + `{}` + strings.Repeat(`}`, depth))
}

func TestSchemaCost(t *testing.T) {
	g, err := readSchemaGraph([]byte(diamonds(7)))
	require.NoError(t, err)
	assert.NoError(t, g.check(), "510 applications")
	g, err = readSchemaGraph([]byte(diamonds(40)))
	require.NoError(t, err)
	assert.ErrorContains(t, g.check(), "it applies more than 1024 of its subschemas to one value")

	g, err = readSchemaGraph([]byte(twice))
	require.NoError(t, err)
	require.NoError(t, g.check())
	require.True(t, g.refers)
	assert.NoError(t, g.within(nested(8)))
	start := time.Now()
	err = g.within(nested(60))
	assert.ErrorIs(t, err, errTooCostly)
	assert.Less(t, time.Since(start), time.Second, "found out at once")

	// What the counting follows: anchors, the root's $id, pointers with
	// escapes.
	for _, ok := range []string{
		`{"$ref":"#x","$defs":{"a":{"$anchor":"x","type":"integer"}}}`,
		`{"$id":"https://schemas.example/s.json","$ref":"https://schemas.example/s.json#/$defs/a b","$defs":{"a b":{}}}`,
		`{"$ref":"#/$defs/a~1b","$defs":{"a/b":{"$ref":"#"}}}`,
		`{"$ref":"#/$defs/a%25","$defs":{"a%":{}}}`,
		`{"items":[{"$ref":"#/items/1"},{}],"$schema":"http://json-schema.org/draft-07/schema#"}`,
		`{"$dynamicAnchor":"m","properties":{"x":{"$dynamicRef":"#m"}}}`,
	} {
		g, err := readSchemaGraph([]byte(ok))
		require.NoError(t, err, ok)
		assert.True(t, g.refers, ok)
		assert.NoError(t, g.within([]byte(`{"x":[1,{"y":2}]}`)), ok)
	}
	// And what it does not.
	for _, bad := range []struct{ raw, want string }{
		{`{"$ref":"#/$defs/nope"}`, `"#/$defs/nope" points to nothing`},
		{`{"$ref":"#nope"}`, `no anchor "nope"`},
		{`{"$ref":"https://schemas.example/other.json"}`, `refers to another document`},
		{`{"$defs":{"a":{"$id":"https://schemas.example/a.json"}}}`, `/$defs/a: a nested "$id"`},
	} {
		_, err := readSchemaGraph([]byte(bad.raw))
		assert.ErrorContains(t, err, bad.want, bad.raw)
	}

	// A schema without references needs no counting.
	g, err = readSchemaGraph([]byte(`{"type":"object","properties":{"a":{"allOf":[{"type":"integer"},{"minimum":0}]}}}`))
	require.NoError(t, err)
	assert.False(t, g.refers)
}

// The schemas of Go's recursive types are checked at their cost: a
// binary tree, whose two members both refer to the type, is not counted
// as doubling.
func TestSchemaCostOfGoTypes(t *testing.T) {
	type tree struct {
		Value int   `json:"value"`
		Left  *tree `json:"left,omitempty"`
		Right *tree `json:"right,omitempty"`
	}
	raw, err := typedesc.InputSchema(reflect.TypeFor[tree]())
	require.NoError(t, err)
	g, err := readSchemaGraph(raw)
	require.NoError(t, err)
	require.NoError(t, g.check())
	var grow func(depth int) *tree
	grow = func(depth int) *tree {
		if depth == 0 {
			return nil
		}
		return &tree{Value: depth, Left: grow(depth - 1), Right: grow(depth - 1)}
	}
	value, err := json.Marshal(grow(12))
	require.NoError(t, err)
	assert.NoError(t, g.within(value))
	deep := &tree{}
	for range 500 {
		deep = &tree{Left: deep}
	}
	value, err = json.Marshal(deep)
	require.NoError(t, err)
	assert.NoError(t, g.within(value))
}
