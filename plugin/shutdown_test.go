package plugin_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// sentFrame waits until the host has written a request for method and the
// plugin has read it; anything the host writes afterwards reaches the
// plugin later.
func sentFrame(t testing.TB, r *run, method string) *envelope.Envelope {
	t.Helper()
	for {
		if m := recv(t, r.host.sent, method+" to be sent"); m.Method == method {
			return m
		}
	}
}

// answerOrder reads the plugin's frames until the answer to last and
// returns the ids of the answers in the order they came.
func answerOrder(t testing.TB, r *run, last envelope.ID) []envelope.ID {
	t.Helper()
	var ids []envelope.ID
	for {
		m := recv(t, r.host.wire, "answers")
		if !m.IsResponse() {
			continue
		}
		ids = append(ids, m.ID)
		if m.ID == last {
			return ids
		}
	}
}

type result struct {
	n   int
	err error
}

func callBlock(r *run, ctx context.Context, id int) <-chan result {
	ch := make(chan result, 1)
	go func() {
		var res result
		res.err = r.host.call(ctx, "Block", id, &res.n)
		ch <- res
	}()
	return ch
}

func TestShutdownFinishesCallsInFlight(t *testing.T) {
	c := newCalc()
	r, _ := connect(t, c, nil, nil)
	ctx := t.Context()

	blocked := callBlock(r, ctx, 7)
	assert.Equal(t, "Block 7", recv(t, c.started, "Block to start"))
	blockID := sentFrame(t, r, "Block").ID

	stopped := make(chan error, 1)
	go func() { stopped <- r.host.call(ctx, envelope.MethodShutdown, nil, nil) }()
	stopID := sentFrame(t, r, envelope.MethodShutdown).ID

	err := r.host.call(ctx, "Add", pair{A: 1, B: 2}, nil)
	e := rpcError(t, err)
	assert.EqualValues(t, envelope.CodeShuttingDown, e.Code, "no new calls once the stop has begun")
	assert.ErrorIs(t, err, envelope.ErrShutdown)

	select {
	case err := <-stopped:
		require.FailNow(t, "shutdown answered while a call was in flight", "err: %v", err)
	default:
	}
	close(c.release)

	res := recv(t, blocked, "in-flight answer")
	require.NoError(t, res.err)
	assert.Equal(t, 7, res.n)
	assert.NoError(t, recv(t, stopped, "shutdown answer"))
	assert.NoError(t, r.wait(t), "a stop asked for by the host is not an error")

	order := answerOrder(t, r, stopID)
	assert.Less(t, indexOf(order, blockID), indexOf(order, stopID), "the in-flight answer comes before the shutdown's")
}

func indexOf(ids []envelope.ID, id envelope.ID) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}

func TestCloseSaysGoodbye(t *testing.T) {
	c := newCalc()
	r, _ := connect(t, c, nil, nil)

	blocked := callBlock(r, t.Context(), 3)
	recv(t, c.started, "Block to start")

	closed := make(chan error, 1)
	go func() { closed <- r.p.Close() }()
	bye := recv(t, r.host.notes, "goodbye")
	assert.Equal(t, envelope.MethodShutdown, bye.Method)
	assert.True(t, bye.IsNotification())

	// The goodbye means the plugin takes no new calls.
	e := rpcError(t, r.host.call(t.Context(), "Add", pair{}, nil))
	assert.EqualValues(t, envelope.CodeShuttingDown, e.Code)

	close(c.release)
	res := recv(t, blocked, "in-flight answer")
	require.NoError(t, res.err, "Close lets calls in flight answer")
	assert.Equal(t, 3, res.n)
	assert.NoError(t, recv(t, closed, "Close to return"))
	assert.NoError(t, r.wait(t))
	recv(t, r.host.conn.Done(), "plugin to hang up")
}

// A host may hang up as soon as it hears the goodbye; the exit was still
// the plugin's own and orderly.
func TestCloseWithHostHangingUp(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			connected := make(chan string, 1)
			p := &plugin.Plugin{OnConnect: func(name string) { connected <- name }}
			r := start(t, p, newCalc(), nil, nil, hostOpts{hangUpOnGoodbye: true})
			recv(t, connected, "OnConnect")
			assert.NoError(t, p.Close())
			assert.NoError(t, r.wait(t))
		})
	}
}

func TestCloseWhenNotRunning(t *testing.T) {
	var p plugin.Plugin
	assert.NoError(t, p.Close())
}

func TestConnectionLost(t *testing.T) {
	c := newCalc()
	r, _ := connect(t, c, nil, nil)

	waited := make(chan error, 1)
	go func() { waited <- r.host.call(t.Context(), "Wait", nil, nil) }()
	recv(t, c.started, "Wait to start")

	require.NoError(t, r.host.raw.Close())
	err := r.wait(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection lost")
	assert.Contains(t, err.Error(), `"calc"`, "says which plugin")
	assert.ErrorIs(t, recv(t, c.cancelled, "in-flight context to end"), context.Canceled)
	assert.Error(t, recv(t, waited, "the host's call to fail"))
}

func TestStartWhileRunning(t *testing.T) {
	r, _ := connect(t, newCalc(), nil, nil)

	pluginEnd, hostEnd := net.Pipe()
	defer hostEnd.Close()
	require.NoError(t, hostEnd.SetReadDeadline(time.Now().Add(patience)))
	err := r.p.Start(newCalc(), nil, pluginEnd, nil)
	assert.ErrorIs(t, err, plugin.ErrRunning)
	// The second conn is closed, and the first keeps working.
	_, rerr := hostEnd.Read(make([]byte, 1))
	assert.Error(t, rerr)
	assert.NoError(t, r.host.call(t.Context(), envelope.MethodPing, nil, nil))
}

func TestStartAgainAfterStop(t *testing.T) {
	connected := make(chan string, 2)
	p := &plugin.Plugin{OnConnect: func(name string) { connected <- name }}
	for range 2 {
		r := start(t, p, newCalc(), nil, nil, hostOpts{})
		recv(t, connected, "OnConnect")
		require.NoError(t, r.host.call(t.Context(), envelope.MethodShutdown, nil, nil))
		require.NoError(t, r.wait(t))
	}
}
