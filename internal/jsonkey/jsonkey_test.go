package jsonkey

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// MayMatch must never say no where encoding/json says yes: a fast path
// that trusts a no would read a member encoding/json takes as a field.
func TestMayMatch(t *testing.T) {
	type fields struct {
		Input  json.RawMessage `json:"input"`
		Output json.RawMessage `json:"output"`
	}
	names := []string{"input", "output"}
	for _, key := range []string{"input", "Input", "INPUT", "output", "oUtPuT", "inputs", "in", "", "ınput", "ſ", "\u212a", "x"} {
		var f fields
		raw := []byte(`{"` + key + `":1}`)
		matched := json.Unmarshal(raw, &f) == nil && (f.Input != nil || f.Output != nil)
		if matched {
			assert.True(t, MayMatch([]byte(key), names), "encoding/json matches %q", key)
		}
	}
	assert.True(t, MayMatch([]byte("Input"), names))
	assert.True(t, MayMatch([]byte("é"), names), "non-ASCII keys may fold to a name")
	assert.False(t, MayMatch([]byte("inputs"), names))
	assert.False(t, MayMatch([]byte("fields"), names))
}
