//go:build !goexperiment.jsonv2

package envelope

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type decodeTarget struct {
	A int               `json:"a"`
	S string            `json:"s,omitempty"`
	F float64           `json:"f"`
	L []int             `json:"l"`
	M map[string]string `json:"m"`
	P *decodeTarget     `json:"p"`
	X any               `json:"x"`
}

// targets are fresh values of the shapes params and results decode into.
var targets = []func() any{
	func() any { return new(any) },
	func() any { return new(decodeTarget) },
	func() any { return new([]int) },
	func() any { return new(map[string]any) },
	func() any { return new(string) },
	func() any { return new(int) },
	func() any { return new(json.RawMessage) },
	func() any { return decodeTarget{} }, // not a pointer: an error
}

// sameAsUnmarshal checks that decodeValue leaves every target as
// json.Unmarshal does and returns the same error.
func sameAsUnmarshal(t *testing.T, raw []byte) {
	t.Helper()
	for i, mk := range targets {
		got, want := mk(), mk()
		gerr, werr := decodeValue(raw, got, false), json.Unmarshal(raw, want)
		assert.Equal(t, fmt.Sprint(werr), fmt.Sprint(gerr), "error for %q into target %d", raw, i)
		assert.Equal(t, want, got, "decoding %q into target %d", raw, i)
		if json.Valid(raw) {
			// As Decode's messages say: checked already.
			got := mk()
			gerr := decodeValue(raw, got, true)
			assert.Equal(t, fmt.Sprint(werr), fmt.Sprint(gerr), "error for %q, valid, into target %d", raw, i)
			assert.Equal(t, want, got, "decoding %q, valid, into target %d", raw, i)
		}
	}
}

// Params changed after Decode checked them: said to be valid, they are
// not one value. The error is still Unmarshal's, and the pooled Decoder
// is not left with the rest.
func TestDecodeValueNotValidAfterAll(t *testing.T) {
	for _, raw := range []string{`{"a":1} {"a":2}`, `1 2`, `{"a":1}}`, `[1] x`} {
		var got, want decodeTarget
		gerr, werr := decodeValue([]byte(raw), &got, true), json.Unmarshal([]byte(raw), &want)
		require.Error(t, werr)
		assert.Equal(t, werr.Error(), fmt.Sprint(gerr), "error for %q", raw)
	}
	for range 10 {
		var got decodeTarget
		require.NoError(t, decodeValue([]byte(`{"a":7}`), &got, true))
		assert.Equal(t, 7, got.A, "a pooled Decoder decodes the value it is given")
	}
}

func TestDecodeValueAgreesWithUnmarshal(t *testing.T) {
	for _, raw := range []string{
		`{"a":42,"s":"hello"}`, ` {"a":1} `, `{"a":"x"}`, `{"a":1.5}`, `{"l":[1,2,"x"],"a":2}`,
		`{"m":{"k":"v"},"p":{"a":3,"p":null},"x":[true,null,{"y":1e3}]}`,
		`[1,2,3]`, `"str"`, `12`, `-0.5e-2`, `null`, `true`, `{}`, `[]`,
		`{"A":1,"S":"case"}`, `{"a":99999999999999999999}`, `"\u00e9\ud83d\ude00"`,
		``, `{`, `{"a":1} {"a":2}`, `[1,]`, `nul`, `01`, "\"\x01\"",
	} {
		sameAsUnmarshal(t, []byte(raw))
	}
}

func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{`{"a":42,"s":"hello"}`, `[1,"x",null]`, `{"p":{"p":{"a":1}}}`, `7`, `{"a":"1"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { sameAsUnmarshal(t, raw) })
}

func BenchmarkDecodeValue(b *testing.B) {
	raw := []byte(`{"a":42,"s":"hello"}`)
	b.Run("pooled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v struct {
				A int    `json:"a"`
				S string `json:"s"`
			}
			if err := decodeValue(raw, &v, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v struct {
				A int    `json:"a"`
				S string `json:"s"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
