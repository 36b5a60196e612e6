package socket_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Large inputs and results travel in pooled buffers on both sides (the
// plugin gives a request's back as soon as it has decoded the input).
// Calls at once, with contents of their own at sizes in several of the
// pool's classes, as a []byte and as a struct's field, must each get
// back exactly what they sent: a buffer reused too early shows as another
// call's bytes.
func TestLargeValuesEchoed(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			h := newHost(t, tr)
			name := h.plugVia(tr, EchoServer{}, "echo")
			sizes := []int{20 << 10, 70 << 10, 300 << 10, 1 << 20}
			var calls sync.WaitGroup
			for g := range 4 {
				calls.Go(func() {
					for i := range 5 {
						n := sizes[(g+i)%len(sizes)]
						in := bytes.Repeat([]byte{byte(g*16 + i)}, n)
						var out []byte
						if assert.NoError(t, h.s.CallContext(context.Background(), name, "Bytes", in, &out)) {
							assert.True(t, bytes.Equal(in, out), fmt.Sprintf("[]byte call %d.%d of %d bytes got other bytes back", g, i, n))
						}
						var blob Blob
						if assert.NoError(t, h.s.CallContext(context.Background(), name, "Blob", Blob{in}, &blob)) {
							assert.True(t, bytes.Equal(in, blob.Data), fmt.Sprintf("struct call %d.%d of %d bytes got other bytes back", g, i, n))
						}
					}
				})
			}
			calls.Wait()
		})
	}
}
