package typedesc_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

func compiledSchema(t *testing.T, raw string) *typedesc.Schema {
	t.Helper()
	s, err := typedesc.CompileSchema(json.RawMessage(raw))
	require.NoError(t, err)
	return s
}

// A number with a huge exponent neither crashes the validator (math/big
// gives up past an exponent of ten million, and the validator then
// dereferences nil) nor costs it a million digits: it is checked as a
// stand-in, on the side of every bound it was on.
func TestHugeNumbersAreCheap(t *testing.T) {
	bounded := compiledSchema(t, `{"type":"number","minimum":0,"maximum":10}`)
	for payload, ok := range map[string]bool{
		`1e-10000000`: true, `-1e-10000000`: false, `1e10000000`: false, `1e999999`: false,
		`0e99999999`: true, `5`: true, `5.5e0`: true, `-0.5`: false,
	} {
		assert.NotPanics(t, func() {
			err := bounded.Validate([]byte(payload))
			assert.Equal(t, ok, err == nil, "%s: %v", payload, err)
		}, payload)
	}

	raw, err := typedesc.InputSchema(reflect.TypeFor[[]int]())
	require.NoError(t, err)
	ints := compiledSchema(t, string(raw))
	start := time.Now()
	err = ints.Validate([]byte("[" + strings.Repeat("1e999999,", 999) + "1e999999]"))
	assert.ErrorIs(t, err, typedesc.ErrInvalid, "encoding/json refuses them for an int too")
	// Expanding each to its million digits would take minutes; a bound of
	// seconds tells that apart on a loaded machine under -race, where one
	// second was once not enough.
	assert.Less(t, time.Since(start), 5*time.Second)

	var f []float64
	require.NoError(t, json.Unmarshal([]byte(`[1e-10000000]`), &f))
	raw, err = typedesc.InputSchema(reflect.TypeFor[[]float64]())
	require.NoError(t, err)
	assert.NoError(t, compiledSchema(t, string(raw)).Validate([]byte(`[1e-10000000]`)), "encoding/json takes it as 0")
	assert.Error(t, compiledSchema(t, string(raw)).Validate([]byte(`[1e10000000]`)), "and refuses this one")
	long := "1" + strings.Repeat("0", 5000)
	assert.Error(t, ints.Validate([]byte("["+long+"]")), "5001 digits fit no int")
}

// A pattern that compiles to a huge program is refused, and matching is
// charged the text's length times the program's size.
func TestCostlyPatternsAreBounded(t *testing.T) {
	_, err := typedesc.CompileSchema(json.RawMessage(`{"pattern":"(a?){1000}(a?){1000}b"}`))
	require.ErrorIs(t, err, typedesc.ErrInvalidSchema, "it compiles to more than 2000 instructions")

	s := compiledSchema(t, `{"type":"string","pattern":"(a?){200}(a?){200}b"}`)
	start := time.Now()
	_ = s.Validate([]byte(`"` + strings.Repeat("a", 1<<20) + `"`))
	assert.Less(t, time.Since(start), 2*time.Second, "charged, and cut off")
}
