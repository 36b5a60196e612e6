package envelope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// Large params and results go through pooled buffers on both sides. Calls
// at once, each with its own contents at sizes in several classes, must
// each get back exactly what they sent: a buffer reused too early would
// show as another call's bytes.
func TestConnLargeValuesPooled(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		wg := newWorkers(t)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			var in []byte
			if err := envelope.DecodeParams(m, &in); err != nil {
				_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "%v", err))
				return
			}
			wg.Go(func() { _ = c.Reply(m.ID, in) })
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		sizes := []int{20 << 10, 50 << 10, 100 << 10, 300 << 10, 1 << 20}
		var calls sync.WaitGroup
		for g := range 4 {
			calls.Go(func() {
				for i := range 6 {
					n := sizes[(g+i)%len(sizes)]
					in := bytes.Repeat([]byte{byte(g*16 + i)}, n)
					var out []byte
					if !assert.NoError(t, cli.Call(context.Background(), "echo", in, &out)) {
						return
					}
					assert.True(t, bytes.Equal(in, out), fmt.Sprintf("call %d.%d of %d bytes got another's bytes back", g, i, n))
				}
			})
		}
		calls.Wait()
		require.False(t, t.Failed())
	})
}

// A result decoded into a json.RawMessage is a copy: the buffer it was
// read from goes back to the pool, and later calls reuse it.
func TestConnLargeRawResultKept(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			var n int
			_ = envelope.DecodeParams(m, &n)
			_ = c.Reply(m.ID, bytes.Repeat([]byte{byte(n)}, 300<<10))
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		var first json.RawMessage
		require.NoError(t, cli.Call(context.Background(), "big", 1, &first))
		kept := bytes.Clone(first)
		for i := range 5 {
			var out json.RawMessage
			require.NoError(t, cli.Call(context.Background(), "big", i+2, &out))
		}
		assert.Equal(t, kept, []byte(first), "the first result changed under later calls")
	})
}
