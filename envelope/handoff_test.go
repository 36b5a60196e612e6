package envelope_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// TestConnDetachBlockingHandler has a Handler that detaches and then
// blocks until a later message releases it: that message can only arrive
// if reading has moved on to another goroutine. Quick calls made
// meanwhile are answered too.
func TestConnDetachBlockingHandler(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		release := make(chan struct{})
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			switch m.Method {
			case "Release":
				close(release)
			case "Block":
				assert.True(t, c.Detach(m))
				<-release
				_ = c.Reply(m.ID, "released")
			case "Quick":
				assert.True(t, c.Detach(m))
				_ = c.Reply(m.ID, "quick")
			}
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		ctx := context.Background()

		blocked := make(chan string, 1)
		go func() {
			var out string
			if err := cli.Call(ctx, "Block", nil, &out); err != nil {
				out = err.Error()
			}
			blocked <- out
		}()
		for range 3 {
			var out string
			require.NoError(t, cli.Call(ctx, "Quick", nil, &out))
			assert.Equal(t, "quick", out)
		}
		select {
		case out := <-blocked:
			t.Fatalf("Block answered %q before it was released", out)
		default:
		}
		require.NoError(t, cli.Notify("Release", nil))
		assert.Equal(t, "released", recv(t, blocked))
	})
}

// TestConnDetachManyAtOnce has 100 requests each block in a detached
// Handler until all 100 have arrived, which takes 100 readers in turn.
func TestConnDetachManyAtOnce(t *testing.T) {
	const n = 100
	forEachTransport(t, func(t *testing.T, tr transport) {
		var (
			arrived sync.WaitGroup
			count   atomic.Int64
		)
		arrived.Add(n)
		all := make(chan struct{})
		go func() { arrived.Wait(); close(all) }()
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			assert.True(t, c.Detach(m))
			if count.Add(1) <= n {
				arrived.Done()
			}
			<-all
			_ = c.Reply(m.ID, m.Params)
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})

		errs := make(chan error, n)
		for i := range n {
			go func() {
				var out int
				err := cli.Call(context.Background(), "Hold", i, &out)
				if err == nil && out != i {
					err = fmt.Errorf("call %d got %d", i, out)
				}
				errs <- err
			}()
		}
		for range n {
			assert.NoError(t, recv(t, errs))
		}
		// The goroutines that are left take their turns to read again.
		var out int
		require.NoError(t, cli.Call(context.Background(), "Hold", 7, &out))
		assert.Equal(t, 7, out)
	})
}

// TestConnDetachRefused: only the Handler, with the message it is running
// for, can detach, and only once.
func TestConnDetachRefused(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		type verdicts struct{ first, second, other, later bool }
		got := make(chan verdicts, 1)
		var kept *envelope.Envelope
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			if m.Method == "Later" {
				// kept's Handler has returned: detaching it now would put
				// a second reader on the connection.
				got <- verdicts{later: c.Detach(kept)}
				return
			}
			var v verdicts
			v.other = c.Detach(&envelope.Envelope{Method: "forged"})
			v.first = c.Detach(m)
			v.second = c.Detach(m)
			kept = m
			got <- v
		}
		srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		require.NoError(t, cli.Notify("First", nil))
		v := recv(t, got)
		assert.True(t, v.first, "the Handler's own message")
		assert.False(t, v.second, "a second time")
		assert.False(t, v.other, "a message that is not the one being handled")
		require.NoError(t, cli.Notify("Later", nil))
		assert.False(t, recv(t, got).later, "after its Handler returned")
		assert.False(t, srv.Detach(nil))
		assert.False(t, srv.Detach(kept), "from outside any Handler")
	})
}

// TestConnWaitOutlastsDone: Done closes when the connection ends, Wait
// only once a detached Handler still running has returned as well.
func TestConnWaitOutlastsDone(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		release := make(chan struct{})
		started := make(chan struct{})
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			assert.True(t, c.Detach(m))
			close(started)
			<-release
		}
		a, b := tr.pair(t)
		srv := envelope.NewConn(a, envelope.ConnOptions{Handler: handler, Logger: quiet})
		srv.Start()
		cli := startConn(t, b, envelope.ConnOptions{})
		require.NoError(t, cli.Notify("Hold", nil))
		recv(t, started)

		srv.Close()
		recv(t, srv.Done())
		waited := make(chan struct{})
		go func() { srv.Wait(); close(waited) }()
		select {
		case <-waited:
			t.Fatal("Wait returned while a detached Handler was still running")
		case <-time.After(20 * time.Millisecond): // long enough to fail if it were wrong
		}
		close(release)
		recv(t, waited)
	})
}

// TestConnDetachSlowAfterQuick: a slow detached call right after a quick
// one, whose hold ended before the hand-off timer fired and left it set,
// is still handed off: a message sent once it runs gets a reader of its
// own.
func TestConnDetachSlowAfterQuick(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		var release chan struct{}
		entered := make(chan struct{}, 1)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			switch m.Method {
			case "Release":
				close(release)
			case "Block":
				assert.True(t, c.Detach(m))
				entered <- struct{}{}
				<-release
				_ = c.Reply(m.ID, "released")
			case "Quick":
				assert.True(t, c.Detach(m))
				_ = c.Reply(m.ID, "quick")
			}
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		ctx := context.Background()
		for range 20 {
			release = make(chan struct{})
			var out string
			require.NoError(t, cli.Call(ctx, "Quick", nil, &out))
			require.Equal(t, "quick", out)
			blocked := make(chan string, 1)
			go func() {
				var out string
				if err := cli.Call(ctx, "Block", nil, &out); err != nil {
					out = err.Error()
				}
				blocked <- out
			}()
			recv(t, entered)
			// Block holds the reader: the release reaches it only once
			// reading has moved on.
			require.NoError(t, cli.Notify("Release", nil))
			assert.Equal(t, "released", recv(t, blocked))
		}
	})
}
