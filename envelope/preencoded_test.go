package envelope

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEncodedFramesMatch: a request carrying an Encoded value is byte for
// byte the one carrying the value itself, in both protocols and both
// shapes of protocol 2 params.
func TestEncodedFramesMatch(t *testing.T) {
	type payload struct {
		A int    `json:"a"`
		S string `json:"s"`
	}
	for _, v := range []any{
		payload{A: 1, S: "<b>&</b> é"},
		map[string]any{"k": []int{1, 2}},
		json.RawMessage(` { "spaced" : true } `),
		42,
		"text",
	} {
		e, err := Encode(v)
		require.NoError(t, err)
		again, err := Encode(e)
		require.NoError(t, err)
		assert.Equal(t, e, again, "an Encoded value is not encoded twice")

		want, err := AppendRequest(nil, seqID(7), "M", v, "trace")
		require.NoError(t, err)
		got, err := AppendRequest(nil, seqID(7), "M", e, "trace")
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "protocol 1, %#v", v)

		for _, object := range []bool{true, false} {
			if _, isNum := v.(int); object && isNum {
				continue
			}
			if _, isStr := v.(string); object && isStr {
				continue
			}
			md := outMeta{trace: "trace"}
			plain, coded := newMsg(), newMsg()
			require.NoError(t, plain.request2(seqID(7), "M", Params(v, object), &md))
			require.NoError(t, coded.request2(seqID(7), "M", Params(e, object), &md))
			assert.Equal(t, string(plain.frame()), string(coded.frame()), "protocol 2, object %v, %#v", object, v)
			plain.free()
			coded.free()
		}
	}
}

func TestEncodedElsewhere(t *testing.T) {
	e, err := Encode(map[string]int{"a": 1})
	require.NoError(t, err)
	b, err := json.Marshal(struct {
		X Encoded `json:"x"`
		Z Encoded `json:"z"`
	}{X: e})
	require.NoError(t, err)
	assert.JSONEq(t, `{"x":{"a":1},"z":null}`, string(b), "inside another value, and the zero Encoded is null")

	_, err = Encode(make(chan int))
	var ute *json.UnsupportedTypeError
	assert.ErrorAs(t, err, &ute, "what does not encode is refused at once")
	_, err = Encode(json.RawMessage(`{"a":`))
	assert.Error(t, err, "malformed raw JSON is refused, not carried to the peer")
}
