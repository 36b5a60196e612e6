package plugintest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/typedesc"
)

// Issue 17: the battery reads Types through typedesc.ParseType, so what it
// calls outside the grammar, what it samples and what it sends to
// contradict a description agree with what typedesc.Validate checks.
func TestBatteryReadsTheGrammarOfTypedesc(t *testing.T) {
	for _, tc := range []struct {
		typ       string
		inner     string
		inGrammar bool
	}{
		{"int", "int", true},
		{"[]map[uint8][]struct", "struct", true},
		{strings.Repeat("[]", 2_000_000) + "any", "any", true},
		{"map[bool]int", "map[bool]int", false},
		{"[]map[float64]int", "map[float64]int", false},
		{"map[string", "map[string", false},
		{"[]*int", "*int", false},
		{"", "", false},
	} {
		inner, ok := innermost(tc.typ)
		assert.Equal(t, tc.inGrammar, ok, "%.40q", tc.typ)
		assert.Equal(t, tc.inner, inner, "%.40q", tc.typ)
	}

	// Neither a sample nor a contradiction for a Type Validate lets
	// anything through; a map with a key outside the grammar is still an
	// object to both.
	for _, typ := range []string{"map[string", "uuid", "*int", "any", ""} {
		e := &typedesc.Entity{Type: typ}
		assert.Nil(t, sample(e), typ)
		assert.Nil(t, contradiction(e), typ)
	}
	e := &typedesc.Entity{Type: "map[bool]int"}
	assert.Equal(t, map[string]any{}, sample(e))
	assert.Error(t, e.Validate(contradiction(e)))
	for _, typ := range []string{"bool", "uint16", "float32"} {
		e := &typedesc.Entity{Type: typ}
		assert.JSONEq(t, `"plugsock check: a string where a `+typ+` belongs"`, string(contradiction(e)))
		assert.Error(t, e.Validate(contradiction(e)), typ)
	}
}
