package socket_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// What reading a handshake costs on the way, what it keeps included: the
// bytes the host allocates from the first byte of the frame to the plugin
// being live, or refused, as a multiple of the bytes sent. A description
// is read straight into its compact block, so that is the frame as read
// (under twice its bytes, as its buffer grows while they arrive), the
// block and its strings; decoding with encoding/json and then compacting
// took 12.7 times. A description spelled as no plugin writes it still
// goes through encoding/json, and costs that.
func TestHandshakeAllocationIsBounded(t *testing.T) {
	s, addr, gone := rawSocket(t)

	var functions strings.Builder
	for i := range (frameLimit/64 - 1) / 2 {
		if i > 0 {
			functions.WriteByte(',')
		}
		fmt.Fprintf(&functions, `"f%05d%s":{}`, i, strings.Repeat("n", 114))
	}
	rich := richHandshake(frameLimit-256, "alloc")
	deep := strings.Repeat(`{"name":"f","type":"struct","fields":[`, 4000) + `{"name":"x","type":"int"}` + strings.Repeat("]}", 4000)
	for _, tc := range []struct {
		name    string
		frame   []byte
		refused bool
		// times is how many bytes the host may allocate a byte sent, and
		// kept what it may keep beyond that: an empty object is three
		// bytes sent and a 64-byte Entity kept, which the limit on
		// objects bounds instead.
		times float64
		kept  int
	}{
		{"rich", rich, false, 4, 0},
		{"empty fields", handshakeFrame(`"name":"alloc"`, `"functions":{"F":{"input":{"type":"struct","fields":[`+strings.Repeat(`{},`, maxFields-1)+`{}]}}}`), false, 4, 64 * maxFields},
		// As many functions as the limit admits, each a map entry of a
		// typedesc.Function (88 bytes, two of them json.RawMessage
		// schemas) in a table that rounds up to a power of two.
		{"empty functions", handshakeFrame(`"name":"alloc"`, `"functions":{`+functions.String()+`}`), false, 5, 0},
		{"too many objects", paddedHandshake(frameLimit-64, `"name":"alloc"`), true, 4, 0},
		{"too deep", handshakeFrame(`"name":"alloc"`, `"functions":{"Deep":{"pad":"`+strings.Repeat("p", frameLimit-200-len(deep))+`","output":`+deep+`}}`), true, 4, 0},
		// Every name escaped, as a JSON encoder may write them.
		{"escaped", bytes.ReplaceAll(richHandshake(frameLimit-400_000, "alloc"), []byte(`{"name":"0`), []byte(`{"name":"\u0030`)), false, 4, 0},
		// One member name capitalised, which encoding/json matches
		// case-insensitively: left to it, as before.
		{"spelled oddly", bytes.Replace(rich, []byte(`{"name":"0`), []byte(`{"Name":"0`), 1), false, 14, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, len(tc.frame), frameLimit)
			framed := append(fmt.Appendf(nil, "Content-Length: %d\r\n\r\n", len(tc.frame)), tc.frame...)
			c := rawDial(t, addr)
			runtime.GC()
			before := totalAlloc()
			_ = c.nc.SetWriteDeadline(time.Now().Add(rawWait))
			_, err := c.nc.Write(framed)
			require.NoError(t, err)
			m := c.mustRead(t)
			if tc.refused {
				require.NotNil(t, m.Error)
				assert.EqualValues(t, envelope.CodeInvalidParams, m.Error.Code)
			} else {
				require.Nil(t, m.Error)
				settled(t, c)
			}
			grew := totalAlloc() - before
			ratio := float64(grew) / float64(len(framed))
			t.Logf("%s: a %d-byte handshake; the host allocated %d bytes, %.2f times as much", tc.name, len(framed), grew, ratio)
			assert.LessOrEqual(t, grew, uint64(tc.times*float64(len(framed)))+uint64(tc.kept), "bytes allocated for a %d-byte handshake", len(framed))
			if !tc.refused {
				require.NoError(t, c.nc.Close())
				rawRecv(t, gone, "the callback for alloc")
				require.Eventually(t, func() bool { return s.PluginInfo("alloc") == nil }, rawWait, 10*time.Millisecond)
			}
		})
	}
}
