//go:build !goexperiment.jsonv2

package envelope

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/plugsock/plugsock/internal/jsonfast"
)

// Under encoding/json v1, params and results go to internal/jsonfast
// first, which decodes most of them in a third of encoding/json's time
// and leaves the rest untouched. What it leaves goes through a pooled
// json.Decoder rather than json.Unmarshal. Both run the same
// decoder over the same bytes, but Unmarshal allocates its decoding state
// afresh on every call, while a Decoder keeps it. That saves no measurable
// time, but it saves allocations: eight of a typed call's 31, and 436
// bytes (socket's BenchmarkCallContext with and without it; see
// docs/performance.md). Under GOEXPERIMENT=jsonv2 a Decoder would be 2.1
// times slower than Unmarshal and save nothing, so jsondec_v2.go uses
// Unmarshal there. The pooled path is taken only for a value that is
// exactly one valid JSON value, where the two cannot differ: an invalid
// one goes to json.Unmarshal, so that its error stays the one Unmarshal
// gives and the target is left untouched.

// maxPooledValue bounds the values decoded with a pooled Decoder, whose
// buffer grows to the largest value it has read and is kept with it.
const maxPooledValue = 16 << 10

// valueReader feeds one value to a pooled Decoder.
type valueReader struct{ b []byte }

func (r *valueReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

type pooledDecoder struct {
	r valueReader
	d *json.Decoder
}

var decoders = sync.Pool{New: func() any {
	pd := new(pooledDecoder)
	pd.d = json.NewDecoder(&pd.r)
	return pd
}}

// decodeValue decodes raw, a JSON value, into v exactly as json.Unmarshal
// does. valid says raw is known to be one valid value already, which
// spares checking it again here: that was a sixth of the decoding's cost
// for a 1 KiB struct.
func decodeValue(raw []byte, v any, valid bool) error {
	if jsonfast.Decode(raw, v) {
		return nil
	}
	if len(raw) > maxPooledValue || !valid && !isOneValue(raw) {
		return json.Unmarshal(raw, v)
	}
	// White space after the value would stay in the Decoder for the next
	// value; it means nothing, so it is not fed to it.
	in := raw[:trimEnd(raw)]
	pd := decoders.Get().(*pooledDecoder)
	pd.r.b = in
	start := pd.d.InputOffset()
	err := pd.d.Decode(v)
	read := pd.d.InputOffset() - start
	pd.r.b = nil
	if _, ok := err.(*json.SyntaxError); ok || err == io.ErrUnexpectedEOF || err == io.EOF {
		// Cannot happen for a valid value; the Decoder keeps such an
		// error, so it is not used again.
		return json.Unmarshal(raw, v)
	}
	if read != int64(len(in)) {
		// More than one value after all (Params changed since Decode
		// read them): Unmarshal's error, and a Decoder left with the
		// rest is not used again.
		return json.Unmarshal(raw, v)
	}
	decoders.Put(pd)
	return err
}

// trimEnd returns the length of b without the white space at its end.
func trimEnd(b []byte) int {
	n := len(b)
	for n > 0 && (b[n-1] == ' ' || b[n-1] == '\t' || b[n-1] == '\r' || b[n-1] == '\n') {
		n--
	}
	return n
}

// isOneValue reports whether b is one valid JSON value, with optional
// white space around it.
func isOneValue(b []byte) bool {
	p := scan{b: b}
	p.ws()
	if _, ok := p.value(0); !ok {
		return false
	}
	p.ws()
	return p.i == len(b)
}
