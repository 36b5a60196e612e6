package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/internal/exampletest"
	"github.com/plugsock/plugsock/examples/kapacitor/kapacitor"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// point is the i-th point the test sends: two series, and a keepalive
// every 25th.
func point(i int) kapacitor.Point {
	if i%25 == 24 {
		return kapacitor.Point{Time: int64(i), Keepalive: true}
	}
	name := "cpu"
	if i%2 == 0 {
		name = "mem"
	}
	return kapacitor.Point{Name: name, Time: int64(i), Value: float64(i % 7)}
}

// The program, launched as a process, against a host that reads one point
// per tick: the processor is held at the host's window the whole time,
// and the host's sender at the processor's, while calls go on.
func TestProcessorStaysWithinItsWindowWhenTheHostReadsSlowly(t *testing.T) {
	const (
		window = 16 // what the host lets the processor have unsettled
		size   = 3  // points averaged
		n      = 400
		tick   = 2 * time.Millisecond
	)
	logs := new(exampletest.Output)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), StreamWindow: window})
	t.Cleanup(func() { _ = s.Shutdown("") })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	name, err := s.Launch(ctx, exec.Command(exampletest.Build(t, ".")))
	require.NoError(t, err, "log:\n%s", logs)
	require.Equal(t, kapacitor.Name, name)
	assert.Equal(t, "processor", s.PluginInfo(name).Functions["Process"].Stream.Shape())

	st, err := s.OpenStream(ctx, name, "Process", kapacitor.Options{Size: size})
	require.NoError(t, err)
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := st.Send(ctx, point(i)); err != nil {
				sent <- fmt.Errorf("point %d: %w", i, err)
				return
			}
		}
		sent <- st.CloseSend()
	}()

	counts := func() kapacitor.Counts {
		t.Helper()
		var c kapacitor.Counts
		require.NoError(t, s.CallContext(ctx, name, "Counts", nil, &c), "a call, while the stream is held up")
		return c
	}
	var maxAhead, maxHeld, maxQueued uint64
	// bounded checks the counts against the windows, with read points
	// read and settled. The processor's counts come first: the host's
	// only grow, and only here.
	bounded := func(read int) {
		t.Helper()
		c := counts()
		hs := st.Stats()
		require.Equal(t, uint64(read), hs.Settled)
		require.LessOrEqual(t, c.Sent, hs.Settled+window, "after %d read: the processor sent past the host's window", read)
		require.LessOrEqual(t, hs.Received-hs.Settled, uint64(window), "the host holds at most its window")
		require.LessOrEqual(t, hs.Window+int64(hs.Received-hs.Settled), int64(window), "the host grants no more than its window")
		require.LessOrEqual(t, hs.Sent-hs.Acked-hs.Rejected, uint64(envelope.DefaultStreamWindow), "the host's points not yet answered are bounded by the processor's window")
		require.LessOrEqual(t, c.Received, hs.Sent)
		maxAhead = max(maxAhead, c.Sent-hs.Settled)
		maxHeld = max(maxHeld, hs.Received-hs.Settled)
		maxQueued = max(maxQueued, hs.Sent-hs.Acked)
	}

	// The processor fills the host's window, and then sends nothing more
	// while the host, pacing itself, reads nothing for a few ticks.
	require.Eventually(t, func() bool {
		var c kapacitor.Counts
		err := s.CallContext(ctx, name, "Counts", nil, &c)
		return err == nil && c.Sent == window && st.Stats().Received == window
	}, 20*time.Second, time.Millisecond, "the processor fills the host's window")
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for range 10 {
		<-ticker.C
		bounded(0)
		require.Equal(t, uint64(window), counts().Sent, "held at the window")
	}
	select {
	case err := <-sent:
		require.FailNow(t, "the host sent every point to a processor that cannot send", "%v", err)
	default:
	}

	began := time.Now()
	means := map[string][]float64{}
	for i := range n {
		<-ticker.C
		it, err := st.Recv(ctx)
		require.NoError(t, err)
		var got kapacitor.Point
		require.NoError(t, it.Decode(&got))
		in := point(i)
		want := kapacitor.Point{Name: in.Name, Time: in.Time, Keepalive: in.Keepalive}
		if !in.Keepalive {
			v := append(means[in.Name], in.Value)
			if len(v) > size {
				v = v[1:]
			}
			means[in.Name] = v
			for _, x := range v {
				want.Value += x
			}
			want.Value /= float64(len(v))
		}
		require.InDelta(t, want.Value, got.Value, 1e-9, "point %d", i)
		want.Value = got.Value
		require.Equal(t, want, got, "point %d", i)
		require.NoError(t, st.Ack(it.Seq))
		bounded(i + 1)
	}
	elapsed := time.Since(began)
	require.NoError(t, <-sent)
	_, err = st.Recv(ctx)
	require.ErrorIs(t, err, io.EOF)
	<-st.Done()
	require.NoError(t, st.Err())
	assert.Empty(t, st.Unacked(), "the processor acknowledged every point")
	c := counts()
	assert.Equal(t, kapacitor.Counts{Received: n, Sent: n}, c)
	t.Logf("%d points read one per %v tick in %v; at most %d sent ahead of the host's settling (window %d), %d held by the host, %d of the host's points unanswered (the processor's window %d)",
		n, tick, elapsed.Round(time.Millisecond), maxAhead, window, maxHeld, maxQueued, envelope.DefaultStreamWindow)
	require.NoError(t, s.Shutdown(""))
}
