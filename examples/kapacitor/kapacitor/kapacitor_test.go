package kapacitor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/kapacitor/kapacitor"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// attach runs a UDF inside a socket with cfg's settings (its
// StreamWindow is how many unsettled points the UDF may send).
func attach(t *testing.T, cfg socket.Config) (*socket.Socket, string, *kapacitor.UDF) {
	t.Helper()
	s := new(socket.Socket)
	cfg.Logger = slog.New(slog.DiscardHandler)
	s.Serve(newNobody(), cfg)
	t.Cleanup(func() { _ = s.Shutdown("") })
	u := new(kapacitor.UDF)
	name, err := s.Attach(u, &envelope.PluginInfo{Name: kapacitor.Name, Version: kapacitor.Version})
	require.NoError(t, err)
	return s, name, u
}

// reference is the moving average computed the plain way, to check the
// processor's against.
type reference struct {
	size   int
	values map[string][]float64
}

func (r *reference) add(p kapacitor.Point) float64 {
	v := append(r.values[p.Name], p.Value)
	if len(v) > r.size {
		v = v[1:]
	}
	r.values[p.Name] = v
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// input is the i-th point the tests send: two series interleaved, and a
// keepalive every 50th.
func input(i int) kapacitor.Point {
	if i%50 == 49 {
		return kapacitor.Point{Time: int64(i), Keepalive: true}
	}
	name := "cpu"
	if i%3 == 0 {
		name = "mem"
	}
	return kapacitor.Point{Name: name, Time: int64(i), Value: float64(i%17) * 1.5}
}

// check compares what the processor sent for input i with the reference.
func check(t *testing.T, ref *reference, as string, i int, it envelope.Item) {
	t.Helper()
	var got kapacitor.Point
	require.NoError(t, it.Decode(&got))
	in := input(i)
	if in.Keepalive {
		require.Equal(t, kapacitor.Point{Time: in.Time, Keepalive: true}, got, "point %d: the keepalive comes back in its place", i)
		return
	}
	want := kapacitor.Point{Name: in.Name, Time: in.Time}
	if as != "" {
		want.Name = as
	}
	mean := ref.add(in)
	require.InDelta(t, mean, got.Value, 1e-9, "point %d", i)
	got.Value = 0
	require.Equal(t, want, got, "point %d", i)
}

// send sends the first n inputs on st and closes the host's half; it
// reports the outcome on the channel it returns.
func send(ctx context.Context, st *envelope.Stream, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := st.Send(ctx, input(i)); err != nil {
				done <- fmt.Errorf("point %d: %w", i, err)
				return
			}
		}
		done <- st.CloseSend()
	}()
	return done
}

func TestMovingAverageOverAttach(t *testing.T) {
	s, name, _ := attach(t, socket.Config{StreamWindow: 16})
	ctx := t.Context()
	st, err := s.OpenStream(ctx, name, "Process", kapacitor.Options{Size: 4, As: "avg"})
	require.NoError(t, err)
	const n = 2000
	sent := send(ctx, st, n)
	ref := &reference{size: 4, values: map[string][]float64{}}
	for i := range n {
		it, err := st.Recv(ctx)
		require.NoError(t, err)
		check(t, ref, "avg", i, it)
		require.NoError(t, st.Ack(it.Seq))
	}
	require.NoError(t, <-sent)
	_, err = st.Recv(ctx)
	require.ErrorIs(t, err, io.EOF)
	<-st.Done()
	require.NoError(t, st.Err())
	assert.Empty(t, st.Unacked(), "the processor acknowledged every point")
	stats := st.Stats()
	assert.Equal(t, uint64(n), stats.Sent)
	assert.Equal(t, uint64(n), stats.Acked)
	assert.Equal(t, uint64(n), stats.Received)

	var counts kapacitor.Counts
	require.NoError(t, s.CallContext(ctx, name, "Counts", nil, &counts))
	assert.Equal(t, kapacitor.Counts{Received: n, Sent: n}, counts)
}

func TestOptionsAreChecked(t *testing.T) {
	ctx := t.Context()
	// A host that validates payloads refuses what the input's schema
	// rules out...
	s, name, _ := attach(t, socket.Config{Validation: true})
	_, err := s.OpenStream(ctx, name, "Process", kapacitor.Options{Size: kapacitor.MaxSize + 1})
	require.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.Contains(t, err.Error(), "/size")

	// ...and the processor refuses it from one that does not: the stream
	// fails with an invalid-params error, before any point.
	s, name, _ = attach(t, socket.Config{})
	for _, size := range []int{-1, kapacitor.MaxSize + 1} {
		st, err := s.OpenStream(ctx, name, "Process", kapacitor.Options{Size: size})
		require.NoError(t, err)
		_, err = st.Recv(ctx)
		var e *envelope.Error
		require.ErrorAs(t, err, &e, "size %d", size)
		assert.Equal(t, int64(envelope.CodeInvalidParams), e.Code)
		assert.Contains(t, e.Message, fmt.Sprintf("size %d: want 1 to %d", size, kapacitor.MaxSize))
	}
}

func TestTooManySeriesAreRejected(t *testing.T) {
	s, name, _ := attach(t, socket.Config{})
	ctx := t.Context()
	st, err := s.OpenStream(ctx, name, "Process", kapacitor.Options{Size: 1})
	require.NoError(t, err)
	const n = kapacitor.MaxSeries + 3
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := st.Send(ctx, kapacitor.Point{Name: fmt.Sprint("s", i), Value: float64(i)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- st.CloseSend()
	}()
	for i := range kapacitor.MaxSeries {
		it, err := st.Recv(ctx)
		require.NoError(t, err)
		var p kapacitor.Point
		require.NoError(t, it.Decode(&p))
		require.Equal(t, kapacitor.Point{Name: fmt.Sprint("s", i), Value: float64(i)}, p)
		require.NoError(t, st.Ack(it.Seq))
	}
	require.NoError(t, <-sent)
	var rejected []envelope.Ack
	for {
		a, err := st.Acked(ctx)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if a.Rejected {
			rejected = append(rejected, a)
		}
	}
	require.Len(t, rejected, 3, "the points of the series past the bound")
	assert.Equal(t, uint64(kapacitor.MaxSeries+1), rejected[0].Seq)
	assert.Contains(t, rejected[0].Reason, fmt.Sprintf("series %q", fmt.Sprint("s", kapacitor.MaxSeries)))
	_, err = st.Recv(ctx)
	require.ErrorIs(t, err, io.EOF, "nothing was sent for them")
	require.NoError(t, st.Err())
	var counts kapacitor.Counts
	require.NoError(t, s.CallContext(ctx, name, "Counts", nil, &counts))
	assert.Equal(t, kapacitor.Counts{Received: n, Sent: kapacitor.MaxSeries, Rejected: 3}, counts)
}

// A host that does not read holds the processor at the host's window, and
// the processor, which acknowledges a point only once it has sent its
// answer, holds the host's sender at its own; reading one point at a
// time lets exactly that much more through. On a fake clock
// (testing/synctest), so that "nothing more happens" is observed, not
// waited for.
func TestProcessorStaysWithinItsWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// settle lets the fake clock run for a millisecond, past the
		// moment after which a method keeps the goroutine that read its
		// request and another reads on (envelope.Conn.Detach), and then
		// waits until every goroutine is blocked: nothing more happens
		// until the test acts.
		settle := func() {
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		const window = 8
		s, name, u := attach(t, socket.Config{StreamWindow: window})
		ctx := t.Context()
		st, err := s.OpenStream(ctx, name, "Process", kapacitor.Options{Size: 5})
		require.NoError(t, err)
		const n = 600
		sent := send(ctx, st, n)
		counts := func() kapacitor.Counts {
			c, err := u.Counts(ctx, struct{}{})
			require.NoError(t, err)
			return c
		}
		bounded := func(read int) {
			t.Helper()
			c, hs := counts(), st.Stats()
			require.Equal(t, uint64(read), hs.Settled)
			require.LessOrEqual(t, c.Sent, hs.Settled+window, "after %d read: the processor sent past the host's window", read)
			require.LessOrEqual(t, hs.Received-hs.Settled, uint64(window), "the host holds at most its window")
			require.LessOrEqual(t, hs.Window+int64(hs.Received-hs.Settled), int64(window), "the host grants no more than its window")
			require.LessOrEqual(t, hs.Sent-hs.Acked-hs.Rejected, uint64(envelope.DefaultStreamWindow), "the host's points waiting at the processor are bounded by its window")
			require.LessOrEqual(t, c.Received, hs.Sent)
		}

		settle() // the processor is stuck: the host has read nothing
		c, hs := counts(), st.Stats()
		assert.Equal(t, uint64(window), c.Sent, "the processor sent exactly the host's window")
		assert.Equal(t, uint64(window+1), c.Received, "and waits to send the answer to the next point")
		assert.Equal(t, uint64(window), hs.Received)
		assert.Equal(t, int64(0), hs.Window)
		assert.Equal(t, uint64(window), hs.Acked, "the processor acknowledged the points it answered, and no more")
		assert.Less(t, hs.Sent, uint64(n), "the host's sender waits too")
		select {
		case err := <-sent:
			require.FailNow(t, "the host sent every point to a stuck processor", "%v", err)
		default:
		}
		bounded(0)

		ref := &reference{size: 5, values: map[string][]float64{}}
		for i := range n {
			it, err := st.Recv(ctx)
			require.NoError(t, err)
			check(t, ref, "", i, it)
			require.NoError(t, st.Ack(it.Seq))
			settle()
			bounded(i + 1)
		}
		require.NoError(t, <-sent)
		_, err = st.Recv(ctx)
		require.ErrorIs(t, err, io.EOF)
		require.NoError(t, s.Shutdown(""))
	})
}

// nobody is a listener no plugin dials: the socket has its settings
// from Serve, and its plugins are attached.
type nobody struct {
	once sync.Once
	done chan struct{}
}

func newNobody() *nobody { return &nobody{done: make(chan struct{})} }

func (l *nobody) Accept() (net.Conn, error) { <-l.done; return nil, net.ErrClosed }
func (l *nobody) Close() error              { l.once.Do(func() { close(l.done) }); return nil }
func (l *nobody) Addr() net.Addr            { return &net.UnixAddr{Name: "nobody", Net: "unix"} }
