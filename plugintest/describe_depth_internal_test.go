package plugintest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

// Issue 9, A1: the battery reads descriptions from the plugin under test,
// which may be as hostile as any. One nested past typedesc.MaxDepth is
// reported as the host would refuse it, and no walk goes deeper.
func TestDescriptionsDeeperThanTheLimit(t *testing.T) {
	deepFields := strings.Repeat(`{"name":"f","type":"struct","mandatory":true,"fields":[`, 4000) + `{"name":"x","type":"int"}` + strings.Repeat("]}", 4000)
	fns, problems := parseFunctions(json.RawMessage(`{
		"Type": {"name": "Type", "input": {"type": "` + strings.Repeat("[]", 2_000_000) + `int"}},
		"Fields": {"name": "Fields", "output": ` + deepFields + `},
		"Fine": {"name": "Fine", "input": {"type": "` + strings.Repeat("[]", typedesc.MaxDepth) + `int"}}
	}`))
	require.Len(t, fns, 3)
	assert.ElementsMatch(t, []string{
		`Type.input: type nests deeper than 64 levels`,
		`Fields.output: type nests deeper than 64 levels at field "` + strings.TrimSuffix(strings.Repeat("f.", 64), ".") + `"`,
	}, problems)
	assert.Nil(t, fns["Type"].Input, "treated as undescribed")
	assert.Nil(t, fns["Fields"].Output)
	assert.NotNil(t, fns["Fine"].Input)

	// Built by hand, past any handshake: the walks stop at the limit.
	chain := &typedesc.Entity{Type: "struct"}
	cur := chain
	for range 2_000_000 {
		cur.Fields = []typedesc.Entity{{Name: "f", Type: "struct", Mandatory: true}}
		cur = &cur.Fields[0]
	}
	assert.Empty(t, entityProblems(chain, "Chain.input"))
	b, err := json.Marshal(sample(chain))
	require.NoError(t, err)
	assert.Equal(t, typedesc.MaxDepth+1, strings.Count(string(b), `{"f":`))
}
