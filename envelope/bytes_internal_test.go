package envelope

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The []byte fast paths must give exactly what encoding/json gives: the
// same bytes out, and the same value (or an error) in.
func TestBytesLikeEncodingJSON(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {0}, {1, 2}, {1, 2, 3}, []byte("<html>&\u2028"), make([]byte, 100<<10)} {
		want, err := json.Marshal(b)
		require.NoError(t, err)
		m := newMsg()
		require.NoError(t, m.value(b))
		assert.Equal(t, string(want), string(m.b[headroom:]))
		m.free()

		want, err = json.Marshal(valueParams{b})
		require.NoError(t, err)
		m = newMsg()
		require.NoError(t, m.value(valueParams{b}))
		assert.Equal(t, string(want), string(m.b[headroom:]))
		m.free()
	}
	for _, in := range []string{
		`""`, `"AA=="`, `"AAE="`, `"AAEC"`, `"AAECAw=="`, `null`, `"AA"`, `"AA=A"`, `"A==="`,
		`"AA==AA=="`, `"AA\r\nAA=="`, `"AAEC\r\n\r\n"`, `"AA\u003d="`, `"AA\/A"`, `"!!!!"`,
		`123`, `[1,2]`, `"AAEC`, `AAEC"`, `"`, `" AAE"`, `"AAE="  `, "\"AA=\xff\"",
	} {
		t.Run(in, func(t *testing.T) { checkBytesDecode(t, []byte(in)) })
	}
}

func checkBytesDecode(t *testing.T, in []byte) {
	want := []byte("untouched")
	wantErr := json.Unmarshal(in, &want)
	got := []byte("untouched")
	gotErr := unmarshal(in, &got)
	if wantErr != nil {
		require.Error(t, gotErr, "encoding/json refuses %q", in)
		assert.Equal(t, wantErr.Error(), gotErr.Error())
		return
	}
	require.NoError(t, gotErr, "%q", in)
	assert.Equal(t, want, got, "%q", in)
	assert.Equal(t, want == nil, got == nil, "%q: nil or not", in)
}

func FuzzBytesDecode(f *testing.F) {
	for _, s := range []string{`""`, `"AAEC"`, `"AA=="`, `"AA\r\n=="`, `null`, `"AAE="`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return // unmarshal gets only valid values
		}
		checkBytesDecode(t, in)
	})
}

func TestBytesDecodeNilPointer(t *testing.T) {
	var p *[]byte
	assert.Error(t, unmarshal([]byte(`"AAEC"`), p))
}
