package envelope

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeSamples are messages the fast path must take, and ones it must
// leave to encoding/json.
var decodeSamples = []struct {
	body string
	fast bool
}{
	{`{"jsonrpc":"2.0","id":1,"method":"Echo","params":{"a":42,"s":"hello"},"meta":{"trace":"3d1f7c2a-95b4-4e0f-8a61-2c7d9e4b1f03"}}`, true},
	{`{"jsonrpc":"2.0","id":1,"result":{"a":42,"s":"hello"}}`, true},
	{`{"jsonrpc":"2.0","id":18446744073709551615,"result":null}`, true},
	{`{"jsonrpc":"2.0","id":"abc","method":"$/handshake","params":{"name":"x","functions":{}}}`, true},
	{`{"jsonrpc":"2.0","method":"$/async","params":[1,2.5e-3,-0,"\u00e9\n",true,false,null,{}]}`, true},
	{` { "jsonrpc" : "2.0" , "id" : 7 , "method" : "Add" , "params" : { "a" : 1 } , "x" : [ ] } `, true},
	{`{"jsonrpc":"2.0","id":null,"method":"M","meta":null}`, true},
	{`{"jsonrpc":"2.0","id":0,"method":"M","meta":{}}`, true},
	{`{"jsonrpc":"2.0","id":1,"method":"Zürich","meta":{"trace":"ü","other":{"trace":1}}}`, true},
	{`{"jsonrpc":"1.0","id":1,"method":"M"}`, true},
	{`{}`, true},
	// Every id JSON-RPC 2.0 allows, kept as written.
	{`{"jsonrpc":"2.0","id":1.0,"method":"M"}`, true},
	{`{"jsonrpc":"2.0","id":-1,"method":"M"}`, true},
	{`{"jsonrpc":"2.0","id":1e2,"method":"M"}`, true},
	{`{"jsonrpc":"2.0","id":-0.5E-7,"result":1}`, true},
	{`{"jsonrpc":"2.0","id":18446744073709551616,"method":"M"}`, true},
	{`{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"M"}`, true},
	{`{"jsonrpc":"2.0","id":"a\"b\u00e9","method":"M"}`, true},
	{`{"jsonrpc":"2.0","id":"","method":"M"}`, true},
	{`{"jsonrpc":"2.0","id":42,"method":"M"}`, true},

	{`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}`, false},
	{`{"jsonrpc":"2.0","ID":1,"method":"M"}`, false},
	{`{"jsonrpc":"2.0","id":1,"Method":"M"}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","method":"N"}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M\u0041"}`, false},
	{`{"jsonrpc":"2.0","id":01,"method":"M"}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","meta":{"Trace":"x"}}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","meta":{"trace":"x","trace":"y"}}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","meta":{"trace":1}}`, false},
	{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"M\xff\"}", false},
	{"{\"jsonrpc\":\"2.0\",\"id\":1,\"\u212a\":1}", false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","params":{"a":}}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","params":[1,]}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","params":01}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","params":"\x"}`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M"} x`, false},
	{`{"jsonrpc":"2.0","id":1,"method":"M",}`, false},
	{`{"jsonrpc":2,"id":1,"method":"M"}`, false},
	{`{"jsonrpc":"2.0","id":true,"method":"M"}`, false},
	{`{"jsonrpc":"2.0","id":{},"method":"M"}`, false},
	{`{"jsonrpc":"2.0","id":[1],"method":"M"}`, false},
	{`{"jsonrpc":"2.0","id":1.,"method":"M"}`, false},
	{`{"jsonrpc":"2.0","id":+1,"method":"M"}`, false},
	{"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"M\"}", false},
	{`[{"jsonrpc":"2.0","id":1,"method":"M"}]`, false},
	{`null`, false},
	{"\ufeff{}", false},
	{`{"jsonrpc":"2.0","id":1,"method":"M","params":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, false},
}

// sameAsEncodingJSON checks that when the fast path takes body it decodes
// it exactly as encoding/json does.
func sameAsEncodingJSON(t *testing.T, body []byte) (fast bool) {
	t.Helper()
	got, ok := decodeFast(body, false)
	var want Envelope
	err := json.Unmarshal(body, &want)
	if !ok {
		return false
	}
	require.NoError(t, err, "the fast path took what encoding/json refuses: %q", body)
	assert.True(t, got.boxed, "decoding %q: the envelope is not from the box pool", body)
	got.boxed = false
	assert.Equal(t, &want, got, "decoding %q", body)
	owned, ok := decodeFast(bytes.Clone(body), true)
	require.True(t, ok)
	owned.boxed = false
	assert.Equal(t, got, owned, "decoding %q into the frame's own buffer", body)
	return true
}

func TestDecodeFastAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range decodeSamples {
		fast := sameAsEncodingJSON(t, []byte(s.body))
		assert.Equal(t, s.fast, fast, "fast path taken for %s", s.body)

		// Decode gives the same answer whichever path it takes.
		e, err := Decode([]byte(s.body))
		var want Envelope
		if jerr := json.Unmarshal([]byte(s.body), &want); jerr == nil && err == nil {
			assert.Equal(t, &want, e)
		}
	}
}

func TestDecodeFastDoesNotAliasTheFrame(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":"x","method":"M","params":{"a":1},"meta":{"trace":"t"}}`)
	e, ok := decodeFast(body, false)
	require.True(t, ok)
	for i := range body {
		body[i] = 'z'
	}
	assert.Equal(t, `{"a":1}`, string(e.Params))
	assert.Equal(t, "M", e.Method)
	assert.Equal(t, StringID("x"), e.ID)
	assert.Equal(t, "t", e.Trace())
}

func FuzzDecodeFast(f *testing.F) {
	for _, s := range decodeSamples {
		f.Add([]byte(s.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsEncodingJSON(t, body)
	})
}

func BenchmarkDecodePaths(b *testing.B) {
	for _, s := range []struct{ name, body string }{
		{"request", decodeSamples[0].body},
		{"response", decodeSamples[1].body},
	} {
		b.Run(s.name+"/fast", func(b *testing.B) {
			body := []byte(s.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(s.name+"/encoding-json", func(b *testing.B) {
			body := []byte(s.body)
			b.ReportAllocs()
			for b.Loop() {
				var e Envelope
				if err := json.Unmarshal(body, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeStreamItem is the read loop's decoding of one stream
// item with a 4 KiB string in it: the envelope, then its params.
func BenchmarkDecodeStreamItem(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":7,"item":{"key":"rec-000001","payload":"` +
		strings.Repeat("abcdefgh", 512) + `"},"seq":12}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Decode(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := readStreamParams(m.Params); err != nil {
			b.Fatal(err)
		}
	}
}
