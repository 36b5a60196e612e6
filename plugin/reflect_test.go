package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/typedesc"
)

type pair struct {
	A int    `json:"a"`
	B int    `json:"b"`
	C string `json:"c,omitempty"`
}

type total struct {
	Sum int `json:"sum"`
}

// shapes has one method for every rule of which methods a socket may call.
type shapes struct{}

// Registered.
func (*shapes) Struct(context.Context, pair) (total, error)               { return total{}, nil }
func (*shapes) Pointers(context.Context, *pair) (*total, error)           { return nil, nil }
func (*shapes) Scalar(context.Context, int) (string, error)               { return "", nil }
func (*shapes) Empty(context.Context, any) (any, error)                   { return nil, nil }
func (*shapes) Containers(context.Context, map[string]int) ([]int, error) { return nil, nil }
func (*shapes) Nothing(context.Context, struct{}) (struct{}, error)       { return struct{}{}, nil }
func (shapes) ValueReceiver(context.Context, int) (int, error)            { return 0, nil }

// Ignored.
func (*shapes) NoInput(context.Context) (int, error)                  { return 0, nil }
func (*shapes) TwoInputs(context.Context, int, int) (int, error)      { return 0, nil }
func (*shapes) OnlyError(context.Context, int) error                  { return nil }
func (*shapes) ThreeResults(context.Context, int) (int, int, error)   { return 0, 0, nil }
func (*shapes) NoContext(int, int) (int, error)                       { return 0, nil }
func (*shapes) ContextSecond(int, context.Context) (int, error)       { return 0, nil }
func (*shapes) ChanInput(context.Context, chan int) (int, error)      { return 0, nil }
func (*shapes) FuncInput(context.Context, func()) (int, error)        { return 0, nil }
func (*shapes) IfaceInput(context.Context, fmt.Stringer) (int, error) { return 0, nil }
func (*shapes) ChanOutput(context.Context, int) (chan int, error)     { return nil, nil }
func (*shapes) FuncOutput(context.Context, int) (func(), error)       { return nil, nil }
func (*shapes) NoErrorResult(context.Context, int) (int, string)      { return 0, "" }
func (*shapes) UseAsyncHook(chan any)                                 {}

// unexported is here to show that unexported methods are ignored; the
// blank assignment below keeps linters from calling it dead.
func (*shapes) unexported(context.Context, int) (int, error) { return 0, nil }

var _ = (*shapes).unexported

// hookShaped has a UseAsyncHook that could pass for a callable method; the
// name alone keeps it off the wire.
type hookShaped struct{}

func (*hookShaped) Ping(context.Context, int) (int, error)         { return 0, nil }
func (*hookShaped) UseAsyncHook(context.Context, int) (int, error) { return 0, nil }

func TestReflectionRegistersOnlyCallableShapes(t *testing.T) {
	_, hs := connect(t, &shapes{}, nil, nil)
	assert.Equal(t,
		[]string{"Containers", "Empty", "Nothing", "Pointers", "Scalar", "Struct", "ValueReceiver"},
		slices.Sorted(maps.Keys(hs.Functions)))

	_, hs = connect(t, &hookShaped{}, nil, nil)
	assert.Equal(t, []string{"Ping"}, slices.Sorted(maps.Keys(hs.Functions)))
}

func TestReflectionDescriptionsMatchTypedesc(t *testing.T) {
	_, hs := connect(t, &shapes{}, nil, nil)
	// Every registered method, against the reflect type of its in and out.
	st := reflect.TypeFor[*shapes]()
	for name, got := range hs.Functions {
		m, ok := st.MethodByName(name)
		require.True(t, ok, name)
		want := typedesc.Function{Name: name, Input: typedesc.ForType(m.Type.In(2)), Output: typedesc.ForType(m.Type.Out(0))}
		var err error
		want.InputSchema, err = typedesc.InputSchema(m.Type.In(2))
		require.NoError(t, err, name)
		want.OutputSchema, err = typedesc.OutputSchema(m.Type.Out(0))
		require.NoError(t, err, name)
		assert.JSONEq(t, jsonString(t, want), jsonString(t, got), name)
	}
	// Spot-check one by hand, so that a typedesc that described nothing
	// would not pass by matching itself.
	s := hs.Functions["Struct"]
	require.NotNil(t, s.Input)
	require.Len(t, s.Input.Fields, 3)
	assert.Equal(t, typedesc.Entity{Name: "a", Type: "int", Mandatory: true}, s.Input.Fields[0])
	assert.Equal(t, typedesc.Entity{Name: "c", Type: "string"}, s.Input.Fields[2])
}

func TestReflectionNoMethods(t *testing.T) {
	tests := []struct {
		name     string
		v        any
		pointer  bool // the error should suggest passing a pointer
		typeName string
	}{
		{name: "nil", v: nil},
		{name: "no methods", v: struct{ X int }{}, typeName: "struct { X int }"},
		{name: "only unsuitable methods", v: &hookShapedOnly{}, typeName: "hookShapedOnly"},
		{name: "pointer receiver passed by value", v: hookShaped{}, pointer: true, typeName: "hookShaped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pluginEnd, hostEnd := net.Pipe()
			defer hostEnd.Close()
			var p plugin.Plugin
			err := p.Start(tt.v, nil, pluginEnd, nil)
			require.ErrorIs(t, err, plugin.ErrNoMethods)
			assert.Contains(t, err.Error(), tt.typeName)
			if tt.pointer {
				assert.Contains(t, err.Error(), "pass a pointer")
			} else {
				assert.NotContains(t, err.Error(), "pointer")
			}
			// Start owns conn: even refusing to start, it hangs up.
			_ = hostEnd.SetReadDeadline(time.Now().Add(patience)) // fails only once closed
			_, rerr := hostEnd.Read(make([]byte, 1))
			assert.ErrorIs(t, rerr, io.EOF)
		})
	}
}

// hookShapedOnly has nothing but the hook, which is not a function.
type hookShapedOnly struct{}

func (*hookShapedOnly) UseAsyncHook(context.Context, int) (int, error) { return 0, nil }

func TestRefinementMarksFieldOptional(t *testing.T) {
	info := &envelope.PluginInfo{Functions: map[string]typedesc.Function{
		"Struct": {Input: &typedesc.Entity{Fields: []typedesc.Entity{{Name: "b", Mandatory: false}, {Name: "a", Mandatory: true}}}},
		// Refinements may only adjust what reflection found.
		"Missing": {Input: &typedesc.Entity{Type: "string"}},
	}}
	_, hs := connect(t, &shapes{}, info, nil)

	assert.NotContains(t, hs.Functions, "Missing")
	got := hs.Functions["Struct"]
	want := typedesc.Function{Name: "Struct", Input: typedesc.ForType(reflect.TypeFor[pair]()), Output: typedesc.ForType(reflect.TypeFor[total]())}
	want.Input.Fields[1].Mandatory = false
	var err error
	want.InputSchema, err = typedesc.InputSchema(reflect.TypeFor[pair]())
	require.NoError(t, err)
	want.OutputSchema, err = typedesc.OutputSchema(reflect.TypeFor[total]())
	require.NoError(t, err)
	assert.JSONEq(t, jsonString(t, want), jsonString(t, got))
	assert.False(t, got.Input.Fields[1].Mandatory, "b refined to optional")
	assert.True(t, got.Input.Fields[0].Mandatory, "a stays mandatory")

	// The cached descriptions are not what was refined.
	assert.True(t, typedesc.ForType(reflect.TypeFor[pair]()).Fields[1].Mandatory)
}

func jsonString(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
