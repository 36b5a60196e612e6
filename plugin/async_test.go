package plugin_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

type item struct {
	N int `json:"n"`
}

// early sends on its hook before the handshake has even begun.
type early struct {
	*calc
	queued int
}

func (e *early) UseAsyncHook(hook chan any) {
	e.hook = hook
	for i := range e.queued {
		hook <- item{N: i}
	}
}

func asyncItem(t testing.TB, m *envelope.Envelope) int {
	t.Helper()
	require.Equal(t, envelope.MethodAsync, m.Method)
	assert.True(t, m.IsNotification())
	var it item
	require.NoError(t, envelope.DecodeParams(m, &it))
	return it.N
}

func TestAsyncInOrder(t *testing.T) {
	c := newCalc()
	r, _ := connect(t, c, nil, nil)
	require.NotNil(t, c.hook, "UseAsyncHook was called")

	// More than the hook's buffer, so that the sender has to wait for the
	// forwarder and order across refills shows.
	const n = 500
	go func() {
		for i := range n {
			c.hook <- item{N: i}
		}
	}()
	for i := range n {
		assert.Equal(t, i, asyncItem(t, recv(t, r.host.notes, "async item")))
	}
}

func TestAsyncQueuedBeforeHandshake(t *testing.T) {
	e := &early{calc: newCalc(), queued: 3}
	r, _ := connect(t, e, nil, nil)

	first := recv(t, r.host.wire, "first frame")
	assert.Equal(t, envelope.MethodHandshake, first.Method, "nothing comes before the handshake")
	for i := range e.queued {
		assert.Equal(t, i, asyncItem(t, recv(t, r.host.wire, "queued item")))
	}
}

// What the plugin handed over before a graceful stop reaches the host
// before the stop's answer.
func TestAsyncFlushedOnShutdown(t *testing.T) {
	c := newCalc()
	r, _ := connect(t, c, nil, nil)
	for i := range 10 {
		c.hook <- item{N: i}
	}
	require.NoError(t, r.host.call(t.Context(), envelope.MethodShutdown, nil, nil))
	require.NoError(t, r.wait(t))
	for i := range 10 {
		assert.Equal(t, i, asyncItem(t, recv(t, r.host.notes, "async item")))
	}
}
