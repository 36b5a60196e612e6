package plugintest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

// params reads a stream message's params as the wire does.
func params(t *testing.T, raw string) map[string]json.RawMessage {
	t.Helper()
	var p map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(raw), &p))
	return p
}

// Each rule of section 19 an acknowledgement can break is told apart,
// with the code the host fails the stream with; a good one settles items
// once, the first time.
func TestStreamAcks(t *testing.T) {
	st := &streamState{sent: 3, settled: make([]byte, 3), watch: 2, watchAt: -1, credit: 8}
	for _, tc := range []struct {
		params string
		code   int64
		bad    string
	}{
		{`{"stream":1,"through":1,"seq":2}`, -32600, `an ack has "through" or "seq", one of them`},
		{`{"stream":1}`, -32600, `an ack has "through" or "seq", one of them`},
		{`{"stream":1,"through":1,"reject":"no"}`, -32600, `"reject" goes with "seq"`},
		{`{"stream":1,"seq":4}`, -32600, "acknowledges item 4, which was not sent: 3 sent"},
		{`{"stream":1,"through":0}`, -32602, "through: want a positive integer, got 0"},
		{`{"stream":1,"seq":1.0}`, -32602, "seq: want a positive integer, got 1.0"},
		{`{"stream":1,"seq":1,"reject":7}`, -32602, "reject: want a string, got 7"},
		{`{"stream":1,"seq":1,"reject":null}`, -32602, "reject: want a string, got null"},
	} {
		code, bad := st.ack(params(t, tc.params))
		assert.Equal(t, tc.code, code, tc.params)
		assert.Equal(t, tc.bad, bad, tc.params)
	}
	assert.Equal(t, []uint64{1, 2, 3}, st.unsettledItems(), "no broken ack settles anything")

	for _, p := range []string{`{"stream":1,"seq":2,"reject":"no key"}`, `{"stream":1,"through":2}`, `{"stream":1,"seq":2}`} {
		code, bad := st.ack(params(t, p))
		require.Empty(t, bad, p)
		require.Zero(t, code, p)
	}
	assert.Equal(t, 1, st.acked)
	assert.Equal(t, 1, st.rejected, "item 2 was rejected first, and that stands")
	assert.Equal(t, "no key", st.reason)
	assert.Equal(t, int64(8), st.watchAt, "the credit granted when the watched item was settled")
	assert.Equal(t, []uint64{3}, st.unsettledItems())
}

// The plugin's items: seq counts up from 1 without a gap, within the
// credit the battery granted, never from a sink or after the plugin's
// close; one that does not fit the out description is a finding, not a
// rule broken.
func TestStreamItems(t *testing.T) {
	out := &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{{Name: "n", Type: "int", Mandatory: true}}}
	st := &streamState{shape: typedesc.ShapeSource, granted: 2, out: out}
	assert.Equal(t, "item 2 out of order: want 1 (seq counts 1, 2, 3, ... without gaps)", st.item(params(t, `{"seq":2,"item":{"n":1}}`)))
	assert.Equal(t, `seq: want a positive integer, got "1"`, st.item(params(t, `{"seq":"1","item":{"n":1}}`)))
	assert.Equal(t, `an item needs "seq" and "item"`, st.item(params(t, `{"seq":1}`)))
	assert.Empty(t, st.item(params(t, `{"seq":1,"item":{"n":1}}`)))
	assert.Empty(t, st.item(params(t, `{"seq":2,"item":{"n":"two"}}`)))
	require.Len(t, st.misfits, 1)
	assert.Contains(t, st.misfits[0], `item 2 {"n":"two"} does not fit the out description: `)
	assert.Equal(t, "sent item 3 with 2 credit", st.item(params(t, `{"seq":3,"item":{"n":3}}`)))
	assert.Equal(t, uint64(2), st.recvd)

	st.closed = true
	st.granted = 10
	assert.Equal(t, "item 3 after the plugin closed its half", st.item(params(t, `{"seq":3,"item":{"n":3}}`)))
	sink := &streamState{shape: typedesc.ShapeSink, granted: 4}
	assert.Equal(t, "item 1 from a sink, whose description has no out: its items go to the plugin only", sink.item(params(t, `{"seq":1,"item":{}}`)))
}

// Credit is an integer from 0 to 2^40, and so is what is granted in all.
func TestStreamCredit(t *testing.T) {
	st := &streamState{}
	code, bad := st.grant(params(t, `{"credit":-1}`))
	assert.Equal(t, int64(-32602), code)
	assert.Equal(t, "credit: want an integer from 0 to 1099511627776, got -1", bad)
	_, bad = st.grant(params(t, `{"credit":1099511627776}`))
	assert.Empty(t, bad)
	code, bad = st.grant(params(t, `{"credit":1}`))
	assert.Equal(t, int64(-32600), code)
	assert.Equal(t, "credit above 1099511627776 in all", bad)
	assert.Equal(t, int64(maxCredit), st.credit)
}

func TestItemsNamesSeqs(t *testing.T) {
	assert.Equal(t, "item 3", items([]uint64{3}))
	assert.Equal(t, "items 1 and 2", items([]uint64{1, 2}))
	assert.Equal(t, "items 1, 2 and 5", items([]uint64{1, 2, 5}))
	assert.Equal(t, "items 2 to 9", items([]uint64{2, 3, 4, 5, 6, 7, 8, 9}))
	assert.Equal(t, "items 1, 3, 5 and 2 more", items([]uint64{1, 3, 5, 7, 9}))
}
