package typedesc_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/examples/calc/calc"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/internal/rpc"
	"github.com/plugsock/plugsock/typedesc"
)

// The real results of the example plugins validate against the output
// schemas their handshakes publish, and their real inputs against the
// input schemas.
func TestExamplePluginsResultsValidate(t *testing.T) {
	ctx := context.Background()
	c := &calc.Calc{}
	store := &kv.Store{}
	calls := []struct {
		v      any
		method string
		input  string
		call   func() (any, error)
	}{
		{c, "Add", `{"a":1,"b":2.5}`, func() (any, error) { return c.Add(ctx, calc.Args{A: 1, B: 2.5}) }},
		{c, "Sub", `{"a":1e300,"b":-1e300}`, func() (any, error) { return c.Sub(ctx, calc.Args{A: 1e300, B: -1e300}) }},
		{c, "Mul", `{"a":-0,"b":3}`, func() (any, error) { return c.Mul(ctx, calc.Args{B: 3}) }},
		{c, "Div", `{"a":1,"b":3}`, func() (any, error) { return c.Div(ctx, calc.Args{A: 1, B: 3}) }},
		{c, "Stats", `{}`, func() (any, error) { return c.Stats(ctx, struct{}{}) }},
		{store, "Set", `{"key":"k","value":{"nested":[1,"two",null]}}`, func() (any, error) {
			return store.Set(ctx, kv.Entry{Key: "k", Value: map[string]any{"nested": []any{1.0, "two", nil}}})
		}},
		{store, "Set", `{"key":"n","value":null}`, func() (any, error) { return store.Set(ctx, kv.Entry{Key: "n"}) }},
		{store, "Get", `{"key":"k"}`, func() (any, error) { return store.Get(ctx, kv.Key{Key: "k"}) }},
		{store, "Get", `{"key":"n"}`, func() (any, error) { return store.Get(ctx, kv.Key{Key: "n"}) }},
		{store, "Keys", `null`, func() (any, error) { return store.Keys(ctx, struct{}{}) }},
		{store, "Stats", ``, func() (any, error) { return store.Stats(ctx, struct{}{}) }},
		{store, "Delete", `{"key":"k"}`, func() (any, error) { return store.Delete(ctx, kv.Key{Key: "k"}) }},
		{store, "Keys", `{}`, func() (any, error) { return store.Keys(ctx, struct{}{}) }},
	}
	described := map[any]map[string]typedesc.Function{}
	for _, v := range []any{c, store} {
		ms, err := rpc.Find(v, "UseAsyncHook")
		require.NoError(t, err)
		described[v], _ = ms.Describe("", nil)
	}
	for _, call := range calls {
		f := described[call.v][call.method]
		require.NotEmpty(t, f.OutputSchema, call.method)
		in, err := typedesc.CompileSchema(f.InputSchema)
		require.NoError(t, err, call.method)
		out, err := typedesc.CompileSchema(f.OutputSchema)
		require.NoError(t, err, call.method)

		assert.NoError(t, in.Validate([]byte(call.input)), "%s input %s", call.method, call.input)
		res, err := call.call()
		require.NoError(t, err, call.method)
		b, err := json.Marshal(res)
		require.NoError(t, err)
		assert.NoError(t, out.Validate(b), "%s result %s", call.method, b)
	}

	// And what the schemas refuse, the plugins refuse too.
	add := described[c]["Add"]
	in, err := typedesc.CompileSchema(add.InputSchema)
	require.NoError(t, err)
	err = in.Validate([]byte(`{"a":"1"}`))
	require.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.Contains(t, err.Error(), `/a: want number or null, got "1"`)
	assert.Error(t, json.Unmarshal([]byte(`{"a":"1"}`), new(calc.Args)))
}
