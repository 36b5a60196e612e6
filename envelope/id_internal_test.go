package envelope

import (
	"math/big"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestIDSeq: the numbers a Conn sends are matched by value, worked out
// exactly, so a peer that writes 3 back as 3.0 is understood and nothing
// else is mistaken for one of them.
func TestIDSeq(t *testing.T) {
	for text, want := range map[string]uint64{
		`3`: 3, `3.0`: 3, `3e0`: 3, `0.3e1`: 3, `30e-1`: 3, `3.000E+0`: 3, `300e-2`: 3,
		`1e2`: 100, `18446744073709551615`: 1<<64 - 1, `1.8446744073709551615e19`: 1<<64 - 1,
		`12345678901234567890`: 12345678901234567890, `1` + zeros(19): 10000000000000000000,
		`1` + zeros(5000) + `e-5000`: 1, `0.` + zeros(5000) + `1e5001`: 1,
	} {
		got, ok := rawID([]byte(text)).seq()
		assert.True(t, ok, text)
		assert.Equal(t, want, got, text)
	}
	for _, text := range []string{
		``, `0`, `-0`, `0.0e5`, `-1`, `-3.0`, `1.5`, `3.1e0`, `1e-1`, `18446744073709551616`, `1e20`,
		`123456789012345678901234567890`, `1` + zeros(30) + `1e-31`, `1e99999999999999999999`,
		`1e-99999999999999999999`, `"3"`, `"x"`,
	} {
		got, ok := rawID([]byte(text)).seq()
		assert.False(t, ok, "%s gave %d", text, got)
	}
	for n := range uint64(200) {
		id := seqID(n)
		assert.Equal(t, strconv.FormatUint(n, 10), id.String())
		if n > 0 {
			got, ok := id.seq()
			assert.True(t, ok)
			assert.Equal(t, n, got)
		}
		assert.Equal(t, id, rawID([]byte(id.String())))
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

// smallExp keeps math/big from working out enormous powers of ten.
var smallExp = regexp.MustCompile(`^[^eE]*([eE][+-]?0*[0-9]{0,3})?$`)

// FuzzIDSeq holds seq to math/big's exact arithmetic.
func FuzzIDSeq(f *testing.F) {
	for _, s := range []string{`3`, `3.0`, `0.3e1`, `1e2`, `-1`, `1.5`, `18446744073709551615`, `18446744073709551616`, `1e-1`, `0`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p := scan{b: []byte(text)}
		if !p.number() || p.i != len(text) || !smallExp.MatchString(text) || len(text) > 200 {
			return
		}
		got, ok := rawID([]byte(text)).seq()
		r, valid := new(big.Rat).SetString(text)
		if !valid {
			t.Fatalf("math/big refuses the JSON number %q", text)
		}
		max := new(big.Int).SetUint64(1<<64 - 1)
		want := r.IsInt() && r.Sign() > 0 && r.Num().Cmp(max) <= 0
		if ok != want || ok && got != r.Num().Uint64() {
			t.Fatalf("seq(%s) = %d, %v; want %v, %v", text, got, ok, r, want)
		}
	})
}
