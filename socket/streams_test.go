package socket_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

// Point is a Kapacitor-shaped point.
type Point struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Record is a Conduit-shaped record.
type Record struct {
	Key     string `json:"key"`
	Payload string `json:"payload"`
}

type ScaleIn struct {
	Factor float64 `json:"factor"`
}

type CountIn struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Streamer has one stream of each shape, and a plain function.
type Streamer struct {
	sent     atomic.Int64  // items Count has sent
	stored   chan Record   // what Store received
	holdSink chan struct{} // Store waits on it before reading, when not nil
	ended    chan error    // what each stream method returned
}

func newStreamer() *Streamer {
	return &Streamer{stored: make(chan Record, 1024), ended: make(chan error, 16)}
}

// Scale is a processor: every point back, scaled.
func (p *Streamer) Scale(ctx context.Context, in ScaleIn, s *plugin.Stream[Point, Point]) error {
	err := func() error {
		for {
			it, err := s.Recv(ctx)
			if err == io.EOF {
				return s.Drain(ctx)
			}
			if err != nil {
				return err
			}
			if _, err := s.Send(ctx, Point{Name: it.Value.Name, Value: it.Value.Value * in.Factor}); err != nil {
				return err
			}
			if err := s.Ack(it.Seq); err != nil {
				return err
			}
		}
	}()
	p.ended <- err
	return err
}

// Count is a source: records From to To-1, each at its own position.
func (p *Streamer) Count(ctx context.Context, in CountIn, out *plugin.Source[Record]) error {
	err := func() error {
		for i := in.From; i < in.To; i++ {
			select {
			case <-plugin.Stopping(ctx):
				// The host is unplugging the plugin: finish, acknowledged.
				return out.Drain(ctx)
			default:
			}
			if _, err := out.SendAt(ctx, i, Record{Key: fmt.Sprint(i), Payload: "r"}); err != nil {
				return err
			}
			p.sent.Add(1)
		}
		return out.Drain(ctx)
	}()
	p.ended <- err
	return err
}

// Store is a sink: it acknowledges every record, rejecting those without
// a key.
func (p *Streamer) Store(ctx context.Context, in *plugin.Sink[Record]) error {
	if p.holdSink != nil {
		select {
		case <-p.holdSink:
		case <-ctx.Done():
			p.ended <- ctx.Err()
			return ctx.Err()
		}
	}
	err := func() error {
		for {
			it, err := in.Recv(ctx)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if it.Value.Key == "" {
				_ = in.Reject(it.Seq, "no key")
				continue
			}
			p.stored <- it.Value
			_ = in.Ack(it.Seq)
		}
	}()
	p.ended <- err
	return err
}

func (p *Streamer) Ping(ctx context.Context, _ struct{}) (string, error) { return "pong", nil }

// streamHost is a host with a Streamer connected over tr: tcp, unix,
// attach or tls.
func streamHost(t *testing.T, tr string, v *Streamer, opts ...socket.Options) (*socket.Socket, string) {
	t.Helper()
	if tr != "tls" {
		h := newHost(t, tr, opts...)
		return h.s, h.plugVia(tr, v, "streamer")
	}
	ca := newCerts(t, "streams")
	s, addr, _ := tlsHost(t, &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS13}, opts...)
	conn, err := plugin.Dial(context.Background(), "tcp", addr, &tls.Config{RootCAs: ca.pool})
	require.NoError(t, err)
	connected := make(chan string, 1)
	p := &plugin.Plugin{Logger: quiet, OnConnect: func(n string) { connected <- n }}
	errc := make(chan error, 1)
	go func() { errc <- p.Start(v, &envelope.PluginInfo{Name: "streamer"}, conn, nil) }()
	t.Cleanup(func() { _ = s.Shutdown(""); <-errc })
	return s, recv(t, connected, "the plugin to connect over TLS")
}

func TestStreamShapesAreDescribed(t *testing.T) {
	s, name := streamHost(t, "tcp", newStreamer())
	fns := s.PluginInfo(name).Functions
	assert.Equal(t, typedesc.ShapeProcessor, fns["Scale"].Stream.Shape())
	assert.Equal(t, typedesc.ShapeSource, fns["Count"].Stream.Shape())
	assert.Equal(t, typedesc.ShapeSink, fns["Store"].Stream.Shape())
	assert.Nil(t, fns["Ping"].Stream)
	assert.JSONEq(t, `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":true,"properties":{"key":{"type":"string"},"payload":{"type":"string"}},"required":["key","payload"]}`, string(fns["Count"].Stream.OutSchema))
	assert.Nil(t, fns["Store"].Input, "Store takes no input")
	assert.Nil(t, fns["Count"].Output, "a stream has no output")

	_, err := s.OpenStream(context.Background(), name, "Ping", nil)
	assert.ErrorIs(t, err, socket.ErrNotStream)
	err = s.CallContext(context.Background(), name, "Count", CountIn{}, nil)
	assert.ErrorIs(t, err, socket.ErrNotStream)
	_, err = s.OpenStream(context.Background(), name, "Nope", nil)
	assert.ErrorIs(t, err, socket.ErrMethodNotFound)
}

// Every shape, over every transport: the items arrive in order, each
// acknowledged, and the stream ends cleanly.
func TestStreamsOverEveryTransport(t *testing.T) {
	for _, tr := range append(append([]string(nil), transports...), "tls") {
		t.Run(tr, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
			v := newStreamer()
			s, name := streamHost(t, tr, v, socket.Config{StreamWindow: 16})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			// A processor.
			st, err := s.OpenStream(ctx, name, "Scale", ScaleIn{Factor: 2})
			require.NoError(t, err)
			const n = 500
			sent := make(chan error, 1)
			go func() {
				for i := range n {
					if _, err := st.Send(ctx, Point{Name: "cpu", Value: float64(i)}); err != nil {
						sent <- err
						return
					}
				}
				sent <- st.CloseSend()
			}()
			for i := range n {
				it, err := st.Recv(ctx)
				require.NoError(t, err)
				var p Point
				require.NoError(t, it.Decode(&p))
				require.Equal(t, Point{Name: "cpu", Value: float64(2 * i)}, p)
				require.NoError(t, st.Ack(it.Seq))
			}
			require.NoError(t, <-sent)
			_, err = st.Recv(ctx)
			require.ErrorIs(t, err, io.EOF)
			require.NoError(t, recv(t, v.ended, "Scale to return"))
			<-st.Done()
			require.NoError(t, st.Err())
			assert.Empty(t, st.Unacked(), "every point the host sent was acknowledged")

			// A source, acknowledged cumulatively.
			src, err := s.OpenStream(ctx, name, "Count", CountIn{From: 10, To: 10 + n})
			require.NoError(t, err)
			for i := range n {
				it, err := src.Recv(ctx)
				require.NoError(t, err)
				require.JSONEq(t, fmt.Sprint(10+i), string(it.Position))
				if it.Seq%8 == 0 || i == n-1 {
					require.NoError(t, src.AckThrough(it.Seq))
				}
			}
			require.NoError(t, recv(t, v.ended, "Count to return"))
			_, err = src.Recv(ctx)
			require.ErrorIs(t, err, io.EOF)

			// A sink, with a rejection.
			sink, err := s.OpenStream(ctx, name, "Store", nil)
			require.NoError(t, err)
			for i := range 20 {
				key := fmt.Sprint(i)
				if i == 7 {
					key = ""
				}
				_, err := sink.SendAt(ctx, i, Record{Key: key})
				require.NoError(t, err)
			}
			require.NoError(t, sink.CloseSend())
			var rejected []envelope.Ack
			for range 20 {
				a, err := sink.Acked(ctx)
				require.NoError(t, err)
				if a.Rejected {
					rejected = append(rejected, a)
				}
			}
			require.NoError(t, recv(t, v.ended, "Store to return"))
			<-sink.Done()
			require.NoError(t, sink.Err())
			require.Len(t, rejected, 1)
			assert.Equal(t, uint64(8), rejected[0].Seq)
			assert.Equal(t, "no key", rejected[0].Reason)
			assert.JSONEq(t, "7", string(rejected[0].Position))
			assert.Len(t, v.stored, 19)
		})
	}
}

// A source whose host stops reading is held at the window: it sends no
// more, the host holds no more, and calls and other streams on the same
// connection go on meanwhile.
func TestStalledStreamHoldsUpNothingElse(t *testing.T) {
	v := newStreamer()
	s, name := streamHost(t, "tcp", v, socket.Config{StreamWindow: 8})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stalled, err := s.OpenStream(ctx, name, "Count", CountIn{From: 0, To: 1 << 30})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return v.sent.Load() == 8 }, 10*time.Second, time.Millisecond, "the source fills its window")

	var pong string
	require.NoError(t, s.CallContext(ctx, name, "Ping", nil, &pong))
	assert.Equal(t, "pong", pong)
	other, err := s.OpenStream(ctx, name, "Count", CountIn{From: 0, To: 100})
	require.NoError(t, err)
	for i := range 100 {
		it, err := other.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(i+1), it.Seq)
		require.NoError(t, other.Ack(it.Seq))
	}
	require.NoError(t, recv(t, v.ended, "the second Count to return"))

	assert.Equal(t, int64(8+100), v.sent.Load(), "the stalled source sent nothing past its window")
	st := stalled.Stats()
	assert.Equal(t, uint64(8), st.Received)
	assert.Equal(t, int64(0), st.Window)

	// Reading and settling lets it go on.
	for range 20 {
		it, err := stalled.Recv(ctx)
		require.NoError(t, err)
		require.NoError(t, stalled.Ack(it.Seq))
	}
	// 20 settled, and the window of 8 open again but for a grant of less
	// than a quarter of it, which waits for more to be settled.
	require.Eventually(t, func() bool { return v.sent.Load() >= 100+20+8-1 }, 10*time.Second, time.Millisecond)
	stalled.Cancel("done with it")
	err = recv(t, v.ended, "the stalled Count to end")
	assert.True(t, errors.Is(err, envelope.ErrStreamCancelled) || errors.Is(err, context.Canceled), "%v", err)
}

// Unplug lets a sink drain: the host's half closes, the plugin settles
// what it has, and nothing is left unacknowledged.
func TestUnplugDrainsStreams(t *testing.T) {
	v := newStreamer()
	v.holdSink = make(chan struct{})
	h := newHost(t, "tcp")
	name := h.plug(v, "streamer").name
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.s.OpenStream(ctx, name, "Store", nil)
	require.NoError(t, err)
	for i := range 10 {
		_, err := st.Send(ctx, Record{Key: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	unplugged := make(chan struct{})
	go func() { h.s.Unplug("", name); close(unplugged) }()
	close(v.holdSink)
	<-unplugged
	<-st.Done()
	require.NoError(t, st.Err())
	assert.Empty(t, st.Unacked())
	assert.Len(t, v.stored, 10)
	require.NoError(t, recv(t, v.ended, "Store to return"))
}

// A stream that does not finish by the shutdown timeout is cancelled, and
// the host knows which of its items were never acknowledged.
func TestUnplugCancelsStreamsAtTheDeadline(t *testing.T) {
	v := newStreamer()
	v.holdSink = make(chan struct{}) // never closed: Store reads nothing
	h := newHost(t, "tcp", socket.Config{ShutdownTimeout: 300 * time.Millisecond})
	name := h.plug(v, "streamer").name
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.s.OpenStream(ctx, name, "Store", nil)
	require.NoError(t, err)
	for i := range 5 {
		_, err := st.SendAt(ctx, i, Record{Key: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	h.s.Unplug("", name)
	<-st.Done()
	require.ErrorIs(t, st.Err(), envelope.ErrStreamCancelled)
	assert.Contains(t, st.Err().Error(), "unplugged")
	left := st.Unacked()
	require.Len(t, left, 5)
	for i, p := range left {
		assert.Equal(t, uint64(i+1), p.Seq)
		assert.JSONEq(t, fmt.Sprint(i), string(p.Position))
	}
}

// Many streams at once on one connection, each its own order.
func TestManyStreamsShareAConnection(t *testing.T) {
	v := newStreamer()
	s, name := streamHost(t, "unix", v, socket.Config{StreamWindow: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for k := range 16 {
		wg.Go(func() {
			st, err := s.OpenStream(ctx, name, "Count", CountIn{From: k * 1000, To: k*1000 + 200})
			if err != nil {
				errs <- err
				return
			}
			for i := range 200 {
				it, err := st.Recv(ctx)
				if err != nil {
					errs <- err
					return
				}
				var r Record
				if err := it.Decode(&r); err != nil || r.Key != fmt.Sprint(k*1000+i) {
					errs <- fmt.Errorf("stream %d item %d: %+v, %v", k, i, r, err)
					return
				}
				_ = st.Ack(it.Seq)
			}
			if _, err := st.Recv(ctx); err != io.EOF {
				errs <- fmt.Errorf("stream %d: want EOF, got %v", k, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Unplug tells a source to stop (plugin.Stopping): it finishes with what
// it sent acknowledged, well before the shutdown timeout.
func TestUnplugStopsSources(t *testing.T) {
	v := newStreamer()
	h := newHost(t, "tcp", socket.Config{ShutdownTimeout: 20 * time.Second})
	name := h.plug(v, "streamer").name
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.s.OpenStream(ctx, name, "Count", CountIn{From: 0, To: 1 << 30})
	require.NoError(t, err)
	var got atomic.Int64
	reading := make(chan error, 1)
	go func() {
		for {
			it, err := st.Recv(ctx)
			if err != nil {
				reading <- err
				return
			}
			got.Add(1)
			_ = st.Ack(it.Seq)
		}
	}()
	require.Eventually(t, func() bool { return got.Load() >= 100 }, 10*time.Second, time.Millisecond)
	start := time.Now()
	h.s.Unplug("", name)
	assert.Less(t, time.Since(start), 5*time.Second, "the source stopped when told, not at the shutdown timeout")
	require.ErrorIs(t, <-reading, io.EOF)
	require.NoError(t, recv(t, v.ended, "Count to return"))
	require.NoError(t, st.Err())
	assert.Equal(t, v.sent.Load(), got.Load(), "the host has every record the source sent")
}

// plugsock_stream_items_total counts a stream's items each way, while it
// is open and after, never going back.
func TestMetricsStreamItems(t *testing.T) {
	v := newStreamer()
	s, name := streamHost(t, "tcp", v)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := s.OpenStream(ctx, name, "Scale", ScaleIn{Factor: 1})
	require.NoError(t, err)
	for i := range 30 {
		_, err := st.Send(ctx, Point{Value: float64(i)})
		require.NoError(t, err)
	}
	for range 30 {
		it, err := st.Recv(ctx)
		require.NoError(t, err)
		require.NoError(t, st.Ack(it.Seq))
	}
	mfs := gather(t, s)
	assert.Equal(t, 30.0, counterValue(mfs, "plugsock_stream_items_total", "plugin", "streamer", "method", "Scale", "direction", "in"))
	assert.Equal(t, 30.0, counterValue(mfs, "plugsock_stream_items_total", "plugin", "streamer", "method", "Scale", "direction", "out"))
	require.NoError(t, st.CloseSend())
	require.NoError(t, recv(t, v.ended, "Scale to return"))
	<-st.Done()
	require.Eventually(t, func() bool {
		mfs := gather(t, s)
		return counterValue(mfs, "plugsock_stream_items_total", "plugin", "streamer", "method", "Scale", "direction", "in") == 30 &&
			counterValue(mfs, "plugsock_stream_items_total", "plugin", "streamer", "method", "Scale", "direction", "out") == 30
	}, 5*time.Second, 5*time.Millisecond, "the counts stay once the stream has ended")
}
