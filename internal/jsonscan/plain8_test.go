package jsonscan_test

import (
	"encoding/binary"
	"testing"

	"github.com/plugsock/plugsock/internal/jsonscan"
)

// Plain8 agrees with a byte-by-byte test for every byte value at every
// position, among bytes that are plain and bytes that are not.
func TestPlain8(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	for _, fill := range []byte{'a', 0x7f, 0x80, 0xff, ' ', '!', '#', '[', ']'} {
		for pos := range 8 {
			for c := range 256 {
				var b [8]byte
				for i := range b {
					b[i] = fill
				}
				b[pos] = byte(c)
				want := true
				for _, x := range b {
					if special(x) {
						want = false
					}
				}
				if got := jsonscan.Plain8(binary.LittleEndian.Uint64(b[:])); got != want {
					t.Fatalf("Plain8(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}
