package plugin_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// wireIDs are ids JSON-RPC 2.0 allows that a Go host never sends: each must
// come back exactly as written.
var wireIDs = []string{
	`-1`, `1.5`, `1e2`, `123456789012345678901234567890`, `"x"`,
	`-0`, `0`, `2.50E-3`, `""`, `"\u0078"`, `"a\"b"`, `"Zürich"`,
}

// idEcho answers Echo at once and Wait only when its call is cancelled.
type idEcho struct{ waiting chan struct{} }

func (e *idEcho) Echo(_ context.Context, s string) (string, error) { return s, nil }

func (e *idEcho) Wait(ctx context.Context, _ struct{}) (string, error) {
	e.waiting <- struct{}{}
	<-ctx.Done()
	return "", ctx.Err()
}

func (h *rawHost) send(body string) {
	h.t.Helper()
	_, err := h.nc.Write(envelope.AppendFrame(nil, []byte(body)))
	require.NoError(h.t, err)
}

// readBody returns the next frame's body exactly as the plugin wrote it.
func (h *rawHost) readBody() string {
	h.t.Helper()
	require.NoError(h.t, h.nc.SetReadDeadline(time.Now().Add(patience)))
	body, err := h.fr.ReadFrame()
	require.NoError(h.t, err)
	return string(body)
}

// TestRequestIDsEchoed: a host may use any id JSON-RPC 2.0 allows; the
// plugin answers with it byte for byte, and $/cancelRequest naming it
// cancels that call.
func TestRequestIDsEchoed(t *testing.T) {
	v := &idEcho{waiting: make(chan struct{}, 1)}
	h := newRawHost(t, &plugin.Plugin{}, v)
	for _, id := range wireIDs {
		h.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"Echo","params":"hi","meta":{"trace":"t"}}`)
		assert.Equal(t, `{"jsonrpc":"2.0","id":`+id+`,"result":"hi"}`, h.readBody(), "id %s", id)

		h.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"Wait"}`)
		recv(t, v.waiting, "Wait to start")
		h.send(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":` + id + `}}`)
		got := h.readBody()
		want := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":"Wait: context canceled"}}`, id, envelope.CodeRequestCancelled)
		assert.Equal(t, want, got, "the cancel for id %s", id)
	}

	// Ids are compared as written: 1e2 does not cancel the call 100.
	h.send(`{"jsonrpc":"2.0","id":100,"method":"Wait"}`)
	recv(t, v.waiting, "Wait to start")
	h.send(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1e2}}`)
	h.send(`{"jsonrpc":"2.0","id":1e2,"method":"Echo","params":"still running"}`)
	assert.Equal(t, `{"jsonrpc":"2.0","id":1e2,"result":"still running"}`, h.readBody())
	h.send(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":100}}`)
	assert.Contains(t, h.readBody(), `{"jsonrpc":"2.0","id":100,"error":{"code":-32800,`)

	// An id JSON-RPC does not allow is a protocol violation.
	h.send(`{"jsonrpc":"2.0","id":true,"method":"Echo","params":"x"}`)
	got := h.readBody()
	assert.Contains(t, got, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,`)
	assert.Contains(t, got, "an id must be a string, a number or null, got a boolean")
	err := recv(t, h.done, "Start to return")
	assert.ErrorIs(t, err, envelope.ErrProtocol)
	h.done <- err // for the cleanup
}

// TestUnknownResponsesPlugin: what a plugin does with answers it did not
// expect and with reserved methods sent as requests, as docs/protocol.md
// section 3 says: a late answer to an id it sent is ignored; every
// request is answered.
func TestUnknownResponsesPlugin(t *testing.T) {
	v := &idEcho{waiting: make(chan struct{}, 1)}
	h := newRawHost(t, &plugin.Plugin{}, v)

	// The handshake was request 1 and has been answered: a second answer
	// to it is late, and ignored, in whatever form the number comes.
	for _, late := range []string{`1`, `1.0`, `1e0`} {
		h.send(`{"jsonrpc":"2.0","id":` + late + `,"result":{"name":"again"}}`)
	}
	// A null id error says the peer could not read something: logged.
	h.send(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"could not read that"}}`)
	h.send(`{"jsonrpc":"2.0","id":7,"method":"Echo","params":"alive"}`)
	assert.Equal(t, `{"jsonrpc":"2.0","id":7,"result":"alive"}`, h.readBody())

	// Reserved methods sent as requests are answered.
	h.send(`{"jsonrpc":"2.0","id":"c","method":"$/cancelRequest","params":{"id":99}}`)
	assert.Equal(t, `{"jsonrpc":"2.0","id":"c","result":null}`, h.readBody())
	h.send(`{"jsonrpc":"2.0","id":"p","method":"$/ping"}`)
	assert.Equal(t, `{"jsonrpc":"2.0","id":"p","result":null}`, h.readBody())
	h.send(`{"jsonrpc":"2.0","id":"a","method":"$/async","params":1}`)
	assert.Equal(t, `{"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"method not found: $/async"}}`, h.readBody())

	// An answer to an id the plugin never sent ends the connection.
	h.send(`{"jsonrpc":"2.0","id":2,"result":null}`)
	got := h.readBody()
	assert.Contains(t, got, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,`)
	assert.Contains(t, got, "response to id 2, which was never sent")
	_, err := h.fr.ReadFrame()
	assert.ErrorIs(t, err, io.EOF)
	err = recv(t, h.done, "Start to return")
	assert.ErrorIs(t, err, envelope.ErrProtocol)
	h.done <- err // for the cleanup
}
