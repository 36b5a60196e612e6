package envelope_test

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// TestConnCallTimeout: a Call whose context has no deadline ends at
// ConnOptions.CallTimeout, and the peer is told to cancel it; a context's
// own deadline, even a later one, takes precedence.
func TestConnCallTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		started, cancelled, handler := slowHandler(t, 4)
		const timeout = 50 * time.Millisecond
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{CallTimeout: timeout})

		begin := time.Now()
		err := cli.Call(context.Background(), "Slow", nil, nil)
		took := time.Since(begin)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.GreaterOrEqual(t, took, timeout, "not before the timeout")
		assert.Equal(t, recv(t, started), recv(t, cancelled), "the peer is told to cancel the call that timed out")

		// A deadline of the caller's own wins, even one later than the
		// call timeout: the call is still waiting after the timeout.
		ctx, cancel := context.WithCancel(context.Background())
		dctx := &deadlineCtx{Context: ctx, deadline: time.Now().Add(time.Hour)}
		errc := make(chan error, 1)
		go func() { errc <- cli.Call(dctx, "Slow", nil, nil) }()
		recv(t, started)
		select {
		case err := <-errc:
			t.Fatalf("a call with a deadline of its own ended at the call timeout: %v", err)
		case <-time.After(4 * timeout): // observing that something does not happen
		}
		cancel()
		assert.ErrorIs(t, recv(t, errc), context.Canceled)
		recv(t, cancelled)

		// Answers still arrive.
		var sum addResult
		require.NoError(t, cli.Call(context.Background(), "Add", addArgs{A: 40, B: 2}, &sum))
		assert.Equal(t, 42, sum.Sum)
	})
}

// deadlineCtx reports a deadline without arming a timer for it, so the
// test decides when the call ends.
type deadlineCtx struct {
	context.Context
	deadline time.Time
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// TestConnCallTimeoutInABubble: the call timeout keeps a testing/synctest
// bubble's fake time, so a host tested that way sees its calls time out
// instead of hanging.
func TestConnCallTimeoutInABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		srv := envelope.NewConn(a, envelope.ConnOptions{Logger: quiet, Handler: func(c *envelope.Conn, m *envelope.Envelope) {}})
		cli := envelope.NewConn(b, envelope.ConnOptions{Logger: quiet, CallTimeout: time.Minute})
		srv.Start()
		cli.Start()
		start := time.Now()
		err := cli.Call(context.Background(), "Never", nil, nil)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Minute, time.Since(start), "exactly the call timeout, on the bubble's clock")
		cli.Close()
		srv.Close()
		<-cli.Done()
		<-srv.Done()
	})
}
