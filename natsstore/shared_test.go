package natsstore

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// sharedHost is a socket on a store that another host shares.
func sharedHost(t *testing.T, st eventlog.Store) (*socket.Socket, string) {
	t.Helper()
	s := new(socket.Socket)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: slog.New(slog.DiscardHandler), Store: st, EventPoll: 20 * time.Millisecond})
	t.Cleanup(func() { _ = s.Shutdown("") })
	return s, l.Addr().String()
}

// plugInto connects the subscriber to the host at addr, and returns a
// func that unplugs it.
func plugInto(t *testing.T, s *socket.Socket, addr string, sink *measureSink) func() {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	done := make(chan error, 1)
	p := &plugin.Plugin{Logger: slog.New(slog.DiscardHandler)}
	go func() { done <- p.Start(sink, &envelope.PluginInfo{Name: "measure"}, conn, nil) }()
	require.True(t, s.WaitFor("measure", 10*time.Second))
	return func() {
		s.Unplug("", "measure")
		<-done
	}
}

// committed waits until the host's subscription has committed through
// offset n of topic m.
func committed(t *testing.T, s *socket.Socket, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		subs, err := s.Subscriptions(context.Background())
		if err != nil || len(subs) != 1 || len(subs[0].Topics) != 1 {
			return false
		}
		return subs[0].Topics[0].Committed >= n
	}, 10*time.Second, 5*time.Millisecond, "committed through %d", n)
}

func offsets(t *testing.T, sink *measureSink, n int) []uint64 {
	t.Helper()
	var got []uint64
	for range n {
		select {
		case e := <-sink.seen:
			got = append(got, e.Offset)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d events delivered: %v", len(got), n, got)
		}
	}
	return got
}

// Two hosts share one JetStream: events published through either reach a
// subscriber on the other, and a subscriber that moves from host to host
// resumes where the subscription was committed, not where the host it
// comes back to last was.
func TestHostsShareTheLogAndSubscriptions(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{maxPayload: bigPayload})
	prefix := newPrefix()
	a, addrA := sharedHost(t, openStore(t, ts.connect(t), Config{Prefix: prefix}))
	b, addrB := sharedHost(t, openStore(t, ts.connect(t), Config{Prefix: prefix}))
	ctx := context.Background()
	sink := &measureSink{seen: make(chan eventlog.Event, 100)}

	unplug := plugInto(t, b, addrB, sink)
	for range 5 {
		_, err := a.Publish(ctx, "m", eventlog.Event{Type: "t"})
		require.NoError(t, err)
	}
	assert.Equal(t, []uint64{1, 2, 3, 4, 5}, offsets(t, sink, 5), "published through A, delivered through B")
	committed(t, b, 5)
	unplug()

	unplug = plugInto(t, a, addrA, sink)
	for range 3 {
		_, err := a.Publish(ctx, "m", eventlog.Event{Type: "t"})
		require.NoError(t, err)
	}
	assert.Equal(t, []uint64{6, 7, 8}, offsets(t, sink, 3), "A resumes from what B committed")
	committed(t, a, 8)
	unplug()

	unplug = plugInto(t, b, addrB, sink)
	defer unplug()
	for range 2 {
		_, err := b.Publish(ctx, "m", eventlog.Event{Type: "t"})
		require.NoError(t, err)
	}
	assert.Equal(t, []uint64{9, 10}, offsets(t, sink, 2), "B, back, resumes from what A committed")
	select {
	case e := <-sink.seen:
		t.Errorf("event %d delivered again", e.Offset)
	default:
	}
}
