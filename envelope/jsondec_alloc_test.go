//go:build !race && !goexperiment.jsonv2

// The race detector makes sync.Pool drop items at random, so allocation
// counts hold only without it.

package envelope

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pooled Decoder is used again value after value, valid or checked,
// with white space around them or not: what it saves is allocations.
func TestDecodeValuePooledAllocs(t *testing.T) {
	var v struct {
		A int    `json:"a"`
		S string `json:"s"`
	}
	for _, c := range []struct {
		raw   string
		valid bool
	}{{`{"a":42,"s":"hello"}`, true}, {" {\"a\":1,\"s\":\"x\"} \n", false}, {`{"a":2,"s":"y"}`, false}} {
		raw := []byte(c.raw)
		require.NoError(t, decodeValue(raw, &v, c.valid))
		n := testing.AllocsPerRun(100, func() { _ = decodeValue(raw, &v, c.valid) })
		assert.LessOrEqual(t, n, 1.0, "allocations decoding %q (the string is one)", c.raw)
	}
}
