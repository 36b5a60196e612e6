package envelope

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
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

// TestBytesLongLikeEncodingJSON: long values, where the vectorised base64
// does the bulk of the work, encode as encoding/json encodes them, and
// decode like it whatever is wrong with them and wherever: a line break,
// a stray character or padding in the middle, trailing bits set.
func TestBytesLongLikeEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{31, 32, 33, 47, 48, 95, 96, 100, 1000, 4099, 65536 + 7} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want, err := json.Marshal(b)
		require.NoError(t, err)
		m := newMsg()
		require.NoError(t, m.value(b))
		require.Equal(t, string(want), string(m.b[headroom:]), "encoding %d bytes", n)
		m.free()

		checkBytesDecode(t, want)
		for _, at := range []int{1, 2, 17, len(want) / 2, len(want) - 6, len(want) - 3} {
			for _, bad := range []string{`\n`, `\r\n`, `!`, `=`, `==`, `-`, `_`, ` `} {
				in := append(append(append([]byte{}, want[:at]...), bad...), want[at:]...)
				checkBytesDecode(t, in)
			}
		}
		if n%3 != 0 {
			// The last character one up in the alphabet: its lowest bit,
			// which no byte uses, set. encoding/json takes it as it is.
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			in := append([]byte{}, want...)
			i := len(in) - 2
			for in[i] == '=' {
				i--
			}
			in[i] = alphabet[strings.IndexByte(alphabet, in[i])+1]
			checkBytesDecode(t, in)
		}
	}
}
