package socket_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// rawBody reads the next frame's body exactly as the host wrote it.
func (c *rawConn) rawBody(t *testing.T) string {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(rawWait))
	body, err := c.readFrame()
	require.NoError(t, err)
	return string(body)
}

// nextRequest reads until a request or notification for method, answering
// the host's pings on the way.
func (c *rawConn) nextRequest(t *testing.T, method string) rawMsg {
	t.Helper()
	for {
		m := c.mustRead(t)
		if m.Method == envelope.MethodPing && m.ID != nil {
			require.NoError(t, c.writeFrame(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":null}`, m.ID)))
			continue
		}
		require.Equal(t, method, m.Method, "the frame after the last one expected")
		return m
	}
}

// TestRawProtocolRequestIDs: a plugin may use any id JSON-RPC 2.0 allows,
// and gets it back byte for byte in every answer: to the handshake, to
// $/ping, and to $/async and $/shutdown sent as requests, which the host
// answers with null rather than leave the plugin waiting.
func TestRawProtocolRequestIDs(t *testing.T) {
	s, addr, gone := rawSocket(t)
	ids := []string{
		`-1`, `1.5`, `1e2`, `123456789012345678901234567890`, `"x"`,
		`-0`, `0`, `2.50E-3`, `""`, `"\u0078"`, `"a\"b"`, `"Zürich"`,
	}
	for i, id := range ids {
		name := fmt.Sprintf("ids%d", i)
		c := rawDial(t, addr)
		require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":`+id+`,"method":"$/handshake","params":{"name":"`+name+`"}}`)))
		got := c.rawBody(t)
		assert.True(t, strings.HasPrefix(got, `{"jsonrpc":"2.0","id":`+id+`,"result":{"name":"`+name+`",`), "handshake id %s answered as %s", id, got)
		require.True(t, s.WaitFor(name, rawWait))

		for _, method := range []string{envelope.MethodPing, envelope.MethodAsync, envelope.MethodShutdown} {
			params := ""
			if method == envelope.MethodAsync {
				params = fmt.Sprintf(`,"params":{"n":%d}`, i)
			}
			require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":`+id+`,"method":"`+method+`"`+params+`}`)))
			assert.Equal(t, `{"jsonrpc":"2.0","id":`+id+`,"result":null}`, c.nextBody(t), "%s with id %s", method, id)
		}
		require.NoError(t, c.nc.Close())
		assert.Equal(t, rawGone{Name: name, Graceful: true}, rawRecv(t, gone, "the $/shutdown request to count as a goodbye"))
	}

	// Each $/async request delivered its payload, in order.
	for i := range ids {
		for {
			it := rawNextAsync(t, s)
			if _, event := it.Payload.(envelope.Connected); event {
				continue
			}
			if _, event := it.Payload.(envelope.Disconnected); event {
				continue
			}
			assert.Equal(t, fmt.Sprintf("ids%d", i), it.Name)
			b, err := json.Marshal(it.Payload)
			require.NoError(t, err)
			assert.JSONEq(t, fmt.Sprintf(`{"n":%d}`, i), string(b))
			break
		}
	}
}

// nextBody is rawBody, answering the host's pings on the way.
func (c *rawConn) nextBody(t *testing.T) string {
	t.Helper()
	for {
		body := c.rawBody(t)
		var m rawMsg
		require.NoError(t, json.Unmarshal([]byte(body), &m))
		if m.Method == envelope.MethodPing && m.ID != nil {
			require.NoError(t, c.writeFrame(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":null}`, m.ID)))
			continue
		}
		return body
	}
}

// TestRawProtocolUnknownResponses: docs/protocol.md section 3. An answer
// to a call the host no longer waits for is dropped; a numeric id is
// matched by value, so 2.0 answers call 2; an answer to an id the host
// never sent ends the connection.
func TestRawProtocolUnknownResponses(t *testing.T) {
	for _, forged := range []string{`"1"`, `999`, `1.5`, `-1`, `0`} {
		t.Run(forged, func(t *testing.T) {
			s, addr, gone := rawSocket(t)
			c := rawDial(t, addr)
			c.handshake(t, `1`, "late")
			require.True(t, s.WaitFor("late", rawWait))

			// A call the host gives up on, answered after all.
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() { errc <- s.CallContext(ctx, "late", "Slow", nil, nil) }()
			slow := c.nextRequest(t, "Slow")
			cancel()
			assert.ErrorIs(t, rawRecv(t, errc, "the cancelled call"), context.Canceled)
			cancelled := c.nextRequest(t, envelope.MethodCancel)
			assert.JSONEq(t, `{"id":`+string(slow.ID)+`}`, string(cancelled.Params))
			require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":`+string(slow.ID)+`,"result":"late"}`)))
			require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":`+string(slow.ID)+`,"error":{"code":-32800,"message":"cancelled"}}`)))

			// The connection is still there, and an answer written the
			// way a float-minded peer writes numbers is understood.
			type answer struct {
				n   int
				err error
			}
			answers := make(chan answer, 1)
			go func() {
				var a answer
				a.err = s.CallContext(t.Context(), "late", "Add", map[string]int{"a": 2, "b": 3}, &a.n)
				answers <- a
			}()
			add := c.nextRequest(t, "Add")
			var n int
			require.NoError(t, json.Unmarshal(add.ID, &n))
			require.NoError(t, c.writeFrame(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d.0,"result":5}`, n)))
			a := rawRecv(t, answers, "the answer to Add")
			require.NoError(t, a.err)
			assert.Equal(t, 5, a.n)

			// An id never sent: refused with -32600, and the connection closed.
			require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":`+forged+`,"result":null}`)))
			msg, err := json.Marshal("protocol violation: response to id " + forged + ", which was never sent")
			require.NoError(t, err)
			assert.Equal(t, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":`+string(msg)+`}}`, c.nextBody(t))
			c.expectClosed(t)
			assert.Equal(t, rawGone{Name: "late", Graceful: false}, rawRecv(t, gone, "the disconnect"))
		})
	}
}
