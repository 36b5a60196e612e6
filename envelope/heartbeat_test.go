package envelope_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

func hbStart(t *testing.T, nc net.Conn, opts envelope.ConnOptions) *envelope.Conn {
	t.Helper()
	opts.Logger = quiet
	c := envelope.NewConn(nc, opts)
	c.Start()
	t.Cleanup(func() {
		c.Close()
		select {
		case <-c.Done():
		case <-time.After(waitLimit):
			t.Errorf("connection did not end")
		}
	})
	return c
}

func TestHeartbeatClosesASilentPeer(t *testing.T) {
	for _, silence := range []string{"reads but never answers", "stops reading", "stops reading, its buffer full"} {
		t.Run(silence, func(t *testing.T) {
			theirs, ours := tcpPair(t)
			if silence == "reads but never answers" {
				go func() { _, _ = io.Copy(io.Discard, theirs) }()
			}
			c := hbStart(t, ours, envelope.ConnOptions{})
			if silence == "stops reading, its buffer full" {
				// A write that never ends holds the writer: each ping
				// waits for it on a goroutine of its own, and the
				// clock goes on.
				flooded := make(chan error, 1)
				go func() { flooded <- c.Notify("flood", strings.Repeat("x", 32<<20)) }()
				defer func() { assert.Error(t, recv(t, flooded), "the flood ends with the connection") }()
			}
			hb := envelope.StartHeartbeat(c, 20*time.Millisecond, 3)
			defer hb.Stop()

			// A call waiting on the silent peer fails once it is found out.
			err := c.Call(context.Background(), "Anything", nil, nil)
			assert.ErrorIs(t, err, envelope.ErrShutdown)
			assert.ErrorIs(t, err, envelope.ErrUnresponsive)
			assert.ErrorContains(t, err, "no answer for 3 intervals")
			select {
			case <-c.Done():
			case <-time.After(waitLimit):
				t.Fatal("connection still open")
			}
			assert.ErrorIs(t, c.Err(), envelope.ErrUnresponsive)
		})
	}
}

// TestHeartbeatTiming runs on a fake clock, so it can say exactly when
// pings go out and when a silent peer is given up on.
func TestHeartbeatTiming(t *testing.T) {
	t.Run("a live peer is pinged every interval and kept", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ours, theirs := net.Pipe()
			var pings atomic.Int64
			peer := envelope.NewConn(theirs, envelope.ConnOptions{Logger: quiet, Handler: func(c *envelope.Conn, m *envelope.Envelope) {
				if m.Method == envelope.MethodPing {
					pings.Add(1)
					_ = c.Reply(m.ID, nil)
				}
			}})
			c := envelope.NewConn(ours, envelope.ConnOptions{Logger: quiet})
			peer.Start()
			c.Start()
			hb := envelope.StartHeartbeat(c, time.Second, 1)

			time.Sleep(10*time.Second + time.Millisecond)
			synctest.Wait()
			assert.EqualValues(t, 10, pings.Load(), "one ping a second")
			assert.NoError(t, c.Err(), "a peer that answers stays connected")

			hb.Stop()
			time.Sleep(time.Hour)
			synctest.Wait()
			assert.EqualValues(t, 10, pings.Load(), "no ping after Stop")

			c.Close()
			<-c.Done()
			<-peer.Done()
		})
	})
	t.Run("a silent peer is closed after interval plus misses intervals", func(t *testing.T) {
		for _, silence := range []string{"reads but never answers", "stops reading"} {
			t.Run(silence, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ours, theirs := net.Pipe()
					drained := make(chan struct{})
					if silence == "reads but never answers" {
						go func() { _, _ = io.Copy(io.Discard, theirs); close(drained) }()
					} else {
						close(drained) // net.Pipe: every write now blocks
					}
					c := envelope.NewConn(ours, envelope.ConnOptions{Logger: quiet})
					c.Start()
					start := time.Now()
					hb := envelope.StartHeartbeat(c, time.Second, 3)
					<-c.Done()
					assert.Equal(t, 4*time.Second, time.Since(start))
					assert.ErrorIs(t, c.Err(), envelope.ErrUnresponsive)
					hb.Stop()
					theirs.Close()
					<-drained
				})
			})
		}
	})
	t.Run("a late answer counts", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ours, theirs := net.Pipe()
			peer := envelope.NewConn(theirs, envelope.ConnOptions{Logger: quiet, Handler: func(c *envelope.Conn, m *envelope.Envelope) {
				if m.Method == envelope.MethodPing {
					// Answer after two and a half intervals: two misses,
					// one short of giving up.
					time.AfterFunc(2500*time.Millisecond, func() { _ = c.Reply(m.ID, nil) })
				}
			}})
			c := envelope.NewConn(ours, envelope.ConnOptions{Logger: quiet})
			peer.Start()
			c.Start()
			hb := envelope.StartHeartbeat(c, time.Second, 3)
			time.Sleep(time.Minute)
			synctest.Wait()
			assert.NoError(t, c.Err())
			hb.Stop()
			c.Close()
			<-c.Done()
			<-peer.Done()
			time.Sleep(3 * time.Second) // let the last AfterFunc run and fail
		})
	})
}

func TestHeartbeatCountsErrorAnswersAsAlive(t *testing.T) {
	theirs, ours := tcpPair(t)
	answered := make(chan struct{}, 64)
	// A peer that does not know $/ping but answers it.
	hbStart(t, theirs, envelope.ConnOptions{Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
		answered <- struct{}{}
	}})
	c := hbStart(t, ours, envelope.ConnOptions{})
	hb := envelope.StartHeartbeat(c, 5*time.Millisecond, 40) // a slow answer is no miss here
	defer hb.Stop()
	for range 5 {
		select {
		case <-answered:
		case <-time.After(waitLimit):
			t.Fatal("no ping")
		}
	}
	assert.NoError(t, c.Err())
}

func TestHeartbeatOff(t *testing.T) {
	_, ours := tcpPair(t)
	c := hbStart(t, ours, envelope.ConnOptions{})
	hb := envelope.StartHeartbeat(c, 0, 3)
	assert.Nil(t, hb)
	hb.Stop() // a nil Heartbeat's Stop does nothing
}

func TestResponseToAnIDNeverSentClosesTheConnection(t *testing.T) {
	for name, body := range map[string]string{
		"number never sent": `{"jsonrpc":"2.0","id":7,"result":1}`,
		"zero":              `{"jsonrpc":"2.0","id":0,"result":1}`,
		"string":            `{"jsonrpc":"2.0","id":"x","error":{"code":1,"message":"m"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			theirs, ours := tcpPair(t)
			c := hbStart(t, ours, envelope.ConnOptions{})
			_, err := theirs.Write(envelope.AppendFrame(nil, []byte(body)))
			require.NoError(t, err)
			select {
			case <-c.Done():
			case <-time.After(waitLimit):
				t.Fatal("connection still open")
			}
			assert.ErrorIs(t, c.Err(), envelope.ErrProtocol)
			assert.ErrorContains(t, c.Err(), "never sent")
		})
	}
}

func TestLateAnswerIsIgnored(t *testing.T) {
	theirs, ours := tcpPair(t)
	got := make(chan *envelope.Envelope, 4)
	peer := hbStart(t, theirs, envelope.ConnOptions{Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		if m.IsRequest() {
			got <- m
		}
	}})
	c := hbStart(t, ours, envelope.ConnOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, "Slow", nil, nil) }()
	var req *envelope.Envelope
	select {
	case req = <-got:
	case <-time.After(waitLimit):
		t.Fatal("no request")
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.NoError(t, peer.Reply(req.ID, "too late"))

	// The connection goes on: the next call is answered.
	go func() {
		m := <-got
		_ = peer.Reply(m.ID, "on time")
	}()
	var out string
	require.NoError(t, c.Call(context.Background(), "Fast", nil, &out))
	assert.Equal(t, "on time", out)
	assert.NoError(t, c.Err())
	assert.False(t, errors.Is(c.Err(), envelope.ErrProtocol))
}

// TestAFailedWriteStillReadsWhatThePeerSaid: a peer that says goodbye and
// hangs up makes the next write fail; what it sent before hanging up must
// still be read, or an orderly exit would look like a crash.
func TestAFailedWriteStillReadsWhatThePeerSaid(t *testing.T) {
	theirs, ours := tcpPair(t)
	entered, release := make(chan struct{}), make(chan struct{})
	got := make(chan string, 4)
	c := hbStart(t, ours, envelope.ConnOptions{Handler: func(_ *envelope.Conn, m *envelope.Envelope) {
		if m.Method == "first" {
			close(entered)
			<-release // keeps the read loop busy while the peer leaves
		}
		got <- m.Method
	}})
	_, err := theirs.Write(envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","method":"first"}`)))
	require.NoError(t, err)
	<-entered
	_, err = theirs.Write(envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","method":"goodbye"}`)))
	require.NoError(t, err)
	require.NoError(t, c.Notify("unread", nil))
	require.NoError(t, theirs.Close()) // with our data unread: a reset
	require.Eventually(t, func() bool { return c.Notify("after", nil) != nil }, waitLimit, time.Millisecond)
	assert.ErrorIs(t, c.Call(context.Background(), "Late", nil, nil), envelope.ErrShutdown, "no new calls once writes fail")

	close(release)
	assert.Equal(t, "first", <-got)
	select {
	case m := <-got:
		assert.Equal(t, "goodbye", m)
	case <-time.After(waitLimit):
		t.Fatal("the goodbye was lost")
	}
	select {
	case <-c.Done():
	case <-time.After(waitLimit):
		t.Fatal("connection still open")
	}
	assert.ErrorContains(t, c.Err(), "write:")
}

// pingCounter answers $/ping and counts the pings.
func pingCounter(n *atomic.Int64) func(c *envelope.Conn, m *envelope.Envelope) {
	return func(c *envelope.Conn, m *envelope.Envelope) {
		if m.Method == envelope.MethodPing {
			n.Add(1)
			_ = c.Reply(m.ID, nil)
		}
	}
}

func TestHeartbeatSparesABusyConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ours, theirs := net.Pipe()
		var pings atomic.Int64
		peer := envelope.NewConn(theirs, envelope.ConnOptions{Logger: quiet, Handler: pingCounter(&pings)})
		c := envelope.NewConn(ours, envelope.ConnOptions{Logger: quiet})
		peer.Start()
		c.Start()
		hb := envelope.StartHeartbeat(c, time.Second, 1)
		// The peer says something every 300 ms for ten seconds: every
		// interval hears from it, and no ping goes out.
		for range 33 {
			time.Sleep(300 * time.Millisecond)
			require.NoError(t, peer.Notify("tick", nil))
		}
		synctest.Wait()
		assert.Zero(t, pings.Load(), "no ping while the peer talks")
		// Then it falls silent, and is pinged once an interval.
		time.Sleep(5*time.Second + 500*time.Millisecond) // to 15.4 s
		synctest.Wait()
		assert.EqualValues(t, 5, pings.Load())
		assert.NoError(t, c.Err())
		hb.Stop()
		c.Close()
		<-c.Done()
		<-peer.Done()
	})
}

func TestFollowHeartbeatLetsThePeerPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hostEnd, pluginEnd := net.Pipe()
		var hostPinged, pluginPinged atomic.Int64
		host := envelope.NewConn(hostEnd, envelope.ConnOptions{Logger: quiet, Handler: pingCounter(&hostPinged)})
		plug := envelope.NewConn(pluginEnd, envelope.ConnOptions{Logger: quiet, Handler: pingCounter(&pluginPinged)})
		host.Start()
		plug.Start()
		hhb := envelope.StartHeartbeat(host, time.Second, 3)
		phb := envelope.FollowHeartbeat(plug, time.Second, 3)

		time.Sleep(time.Minute + time.Millisecond)
		synctest.Wait()
		assert.EqualValues(t, 60, pluginPinged.Load(), "the host pings every interval")
		assert.Zero(t, hostPinged.Load(), "the plugin, pinged, sends none of its own")
		assert.NoError(t, host.Err())
		assert.NoError(t, plug.Err())

		// The host stops pinging: the plugin's intervals fall silent and
		// it pings for itself.
		hhb.Stop()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.InDelta(t, 9, hostPinged.Load(), 1)
		assert.NoError(t, plug.Err())

		phb.Stop()
		host.Close()
		<-host.Done()
		<-plug.Done()
	})
}

// TestFollowHeartbeatFindsAVanishedPeer: a host whose machine is gone
// (half-open TCP) neither pings nor answers; the plugin finds out within
// about an interval and a half more than StartHeartbeat's side would.
func TestFollowHeartbeatFindsAVanishedPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ours, theirs := net.Pipe()
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, theirs); close(drained) }()
		c := envelope.NewConn(ours, envelope.ConnOptions{Logger: quiet})
		c.Start()
		start := time.Now()
		hb := envelope.FollowHeartbeat(c, time.Second, 3)
		<-c.Done()
		// A silent interval (1.5 s), a ping, then three missed intervals.
		assert.Equal(t, 4500*time.Millisecond, time.Since(start))
		assert.ErrorIs(t, c.Err(), envelope.ErrUnresponsive)
		hb.Stop()
		theirs.Close()
		<-drained
	})
}

// TestHeartbeatsShareAClock runs many heartbeats on the real clock, where
// they share one timer, over loopback TCP: every live peer is pinged and
// kept, every silent one closed, and Stop takes each off the clock.
func TestHeartbeatsShareAClock(t *testing.T) {
	const n = 40
	var pings atomic.Int64
	type end struct {
		c  *envelope.Conn
		hb *envelope.Heartbeat
	}
	var live, silent []end
	for i := range 2 * n {
		theirs, ours := tcpPair(t)
		if i%2 == 0 {
			hbStart(t, theirs, envelope.ConnOptions{Handler: pingCounter(&pings)})
		} else {
			go func() { _, _ = io.Copy(io.Discard, theirs) }()
		}
		c := hbStart(t, ours, envelope.ConnOptions{})
		// Ten misses: a loaded machine under -race may take a while to
		// answer, and a silent peer is found out all the same.
		e := end{c, envelope.StartHeartbeat(c, 10*time.Millisecond, 10)}
		if i%2 == 0 {
			live = append(live, e)
		} else {
			silent = append(silent, e)
		}
	}
	for _, e := range silent {
		select {
		case <-e.c.Done():
		case <-time.After(waitLimit):
			t.Fatal("a silent peer was not found out")
		}
		assert.ErrorIs(t, e.c.Err(), envelope.ErrUnresponsive)
	}
	require.Eventually(t, func() bool { return pings.Load() >= 5*n }, waitLimit, time.Millisecond)
	for _, e := range live {
		assert.NoError(t, e.c.Err())
		e.hb.Stop()
	}
	for _, e := range silent {
		e.hb.Stop()
	}
	assert.Zero(t, envelope.HeartbeatsQueued())
}
