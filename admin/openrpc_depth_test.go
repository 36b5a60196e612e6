package admin_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// Issue 9, A1: a description two million levels deep overflowed the
// stack of GET /api/plugins/NAME/openrpc and killed the host. The
// handshake now refuses such descriptions; the document is bounded even
// for one that never went through a handshake.
func TestOpenRPCDocumentIsBoundedOnHugeDepth(t *testing.T) {
	deepFields := &typedesc.Entity{Type: "struct"}
	cur := deepFields
	for range 2_000_000 {
		cur.Fields = []typedesc.Entity{{Name: "f", Type: "struct", Mandatory: true}}
		cur = &cur.Fields[0]
	}
	info := &envelope.PluginInfo{Name: "deep", Functions: map[string]typedesc.Function{
		"Type":   {Name: "Type", Input: &typedesc.Entity{Type: strings.Repeat("[]", 2_000_000) + "int"}},
		"Fields": {Name: "Fields", Input: deepFields, Output: deepFields},
	}}
	doc := admin.OpenRPCDocument(info)
	require.Len(t, doc.Methods, 2)
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	assert.Less(t, len(b), 64<<10, "the document stays small")
	assert.Equal(t, 3, strings.Count(string(b), "type nests deeper than 64 levels; not described further"))
	assert.True(t, doc.Methods[0].Params[0].Required, "Fields has a mandatory field")
}
