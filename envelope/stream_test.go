package envelope_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// streamCallee serves stream requests the way the plugin package does:
// it reads the metadata and accepts the stream on the read loop, and runs
// fn on a goroutine of its own, answering once fn returns.
func streamCallee(wg *sync.WaitGroup, window int, fn func(ctx context.Context, s *envelope.Stream) error) func(c *envelope.Conn, m *envelope.Envelope) {
	return func(c *envelope.Conn, m *envelope.Envelope) {
		if !m.IsRequest() {
			return
		}
		ctx, cancel, err := c.RequestContext(context.Background(), m)
		if err != nil {
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "%v", err))
			return
		}
		ctx, cancelCall := context.WithCancel(ctx)
		s, err := c.AcceptStream(m, window, cancelCall)
		if err != nil {
			cancel()
			cancelCall()
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "%v", err))
			return
		}
		wg.Go(func() {
			defer cancel()
			defer cancelCall()
			err := fn(ctx, s)
			s.Finish()
			if err != nil {
				_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodError, "%v", err))
				return
			}
			_ = c.Reply(m.ID, nil)
		})
	}
}

func protocol2Pair(t testing.TB, tr transport, handler func(c *envelope.Conn, m *envelope.Envelope)) (srv, cli *envelope.Conn) {
	srv, cli = startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
	srv.SetProtocol(envelope.Protocol2)
	cli.SetProtocol(envelope.Protocol2)
	return srv, cli
}

// A processor doubles what it receives; the opener sends, reads the
// answers, acknowledges them, and sees its own items acknowledged.
func TestStreamProcessor(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		var wg sync.WaitGroup
		defer wg.Wait()
		_, cli := protocol2Pair(t, tr, streamCallee(&wg, 8, func(ctx context.Context, s *envelope.Stream) error {
			for {
				it, err := s.Recv(ctx)
				if err == io.EOF {
					return s.Drain(ctx)
				}
				if err != nil {
					return err
				}
				var n int
				if err := it.Decode(&n); err != nil {
					return err
				}
				if _, err := s.SendAt(ctx, fmt.Sprintf("p%d", it.Seq), 2*n); err != nil {
					return err
				}
				if err := s.Ack(it.Seq); err != nil {
					return err
				}
			}
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := cli.OpenStream(ctx, "Double", map[string]any{}, 4)
		require.NoError(t, err)
		const n = 1000
		sendErr := make(chan error, 1)
		go func() {
			for i := 1; i <= n; i++ {
				if _, err := st.Send(ctx, i); err != nil {
					sendErr <- err
					return
				}
			}
			sendErr <- st.CloseSend()
		}()
		for i := 1; i <= n; i++ {
			it, err := st.Recv(ctx)
			require.NoError(t, err)
			var v int
			require.NoError(t, it.Decode(&v))
			require.Equal(t, 2*i, v)
			require.Equal(t, uint64(i), it.Seq)
			require.JSONEq(t, fmt.Sprintf(`"p%d"`, i), string(it.Position))
			require.NoError(t, st.Ack(it.Seq))
		}
		require.NoError(t, <-sendErr)
		_, err = st.Recv(ctx)
		require.ErrorIs(t, err, io.EOF)
		<-st.Done()
		require.NoError(t, st.Err())
		assert.Empty(t, st.Unacked())
		stats := st.Stats()
		assert.Equal(t, uint64(n), stats.Sent)
		assert.Equal(t, uint64(n), stats.Acked)
		assert.Equal(t, uint64(n), stats.Received)
	})
}

// A receiver that stops reading holds the sender at its window, and
// nothing more is sent, while calls on the same connection go on.
func TestStreamWindowHoldsTheSender(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	release := make(chan struct{})
	got := make(chan int, 100)
	handler := streamCallee(&wg, 5, func(ctx context.Context, s *envelope.Stream) error {
		<-release
		for {
			it, err := s.Recv(ctx)
			if err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			var v int
			_ = it.Decode(&v)
			got <- v
			_ = s.Ack(it.Seq)
		}
	})
	calls := func(c *envelope.Conn, m *envelope.Envelope) {
		if m.Method == "Ping2" {
			_ = c.Reply(m.ID, "pong")
			return
		}
		handler(c, m)
	}
	_, cli := protocol2Pair(t, transports[0], calls)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cli.OpenStream(ctx, "Sink", nil, 0)
	require.NoError(t, err)
	for i := 1; i <= 5; i++ {
		_, err := st.Send(ctx, i)
		require.NoError(t, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = st.Send(short, 6)
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a sixth item went out past a window of five")
	assert.Equal(t, int64(0), st.Stats().Credit)
	var pong string
	require.NoError(t, cli.Call(ctx, "Ping2", nil, &pong), "a call waited behind a stalled stream")
	assert.Equal(t, "pong", pong)
	close(release)
	_, err = st.Send(ctx, 6)
	require.NoError(t, err)
	require.NoError(t, st.CloseSend())
	for i := 1; i <= 6; i++ {
		assert.Equal(t, i, <-got)
	}
	<-st.Done()
	require.NoError(t, st.Err())
	require.NoError(t, st.Drain(ctx))
}

// Acks and rejections reach the sender as they come; what is left
// unsettled when the stream is cancelled is reported.
func TestStreamAcksRejectsAndUnacked(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	settled := make(chan struct{})
	_, cli := protocol2Pair(t, transports[0], streamCallee(&wg, 16, func(ctx context.Context, s *envelope.Stream) error {
		for i := 1; i <= 10; i++ {
			it, err := s.Recv(ctx)
			if err != nil {
				return err
			}
			switch {
			case it.Seq == 3:
				_ = s.Reject(it.Seq, "malformed record")
			case it.Seq <= 6:
				_ = s.Ack(it.Seq)
			case it.Seq == 9:
				_ = s.Ack(it.Seq)
			}
		}
		close(settled)
		<-ctx.Done()
		return ctx.Err()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cli.OpenStream(ctx, "Sink", nil, 0)
	require.NoError(t, err)
	for i := 1; i <= 10; i++ {
		_, err := st.SendAt(ctx, i*100, i)
		require.NoError(t, err)
	}
	var acks []envelope.Ack
	for len(acks) < 7 {
		a, err := st.Acked(ctx)
		require.NoError(t, err)
		acks = append(acks, a)
	}
	<-settled
	st.Cancel("enough")
	<-st.Done()
	require.ErrorIs(t, st.Err(), envelope.ErrStreamCancelled)
	var seqs []uint64
	for _, a := range acks {
		seqs = append(seqs, a.Seq)
		if a.Seq == 3 {
			assert.True(t, a.Rejected)
			assert.Equal(t, "malformed record", a.Reason)
			assert.JSONEq(t, "300", string(a.Position))
		} else {
			assert.False(t, a.Rejected, "item %d", a.Seq)
		}
	}
	assert.ElementsMatch(t, []uint64{1, 2, 3, 4, 5, 6, 9}, seqs)
	var left []uint64
	for _, p := range st.Unacked() {
		left = append(left, p.Seq)
	}
	assert.Equal(t, []uint64{7, 8, 10}, left)
	_, err = st.Acked(ctx)
	assert.ErrorIs(t, err, io.EOF)
}

// A lost connection ends every stream on it, and each keeps what it did
// not get acknowledged.
func TestStreamConnectionLost(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	srv, cli := protocol2Pair(t, transports[0], streamCallee(&wg, 16, func(ctx context.Context, s *envelope.Stream) error {
		it, err := s.Recv(ctx)
		if err != nil {
			return err
		}
		_ = s.Ack(it.Seq)
		<-ctx.Done()
		return ctx.Err()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cli.OpenStream(ctx, "Sink", nil, 0)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		_, err := st.Send(ctx, i)
		require.NoError(t, err)
	}
	a, err := st.Acked(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), a.Seq)
	srv.Close()
	<-st.Done()
	require.ErrorIs(t, st.Err(), envelope.ErrShutdown)
	assert.Equal(t, []envelope.Pending{{Seq: 2}, {Seq: 3}}, st.Unacked())
	_, err = st.Send(ctx, 4)
	assert.ErrorIs(t, err, envelope.ErrShutdown)
}

// The callee's error reaches the opener as the stream's end; the items
// sent before it are still delivered.
func TestStreamFailsWithTheMethodsError(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	_, cli := protocol2Pair(t, transports[0], streamCallee(&wg, 16, func(ctx context.Context, s *envelope.Stream) error {
		for i := 1; i <= 3; i++ {
			if _, err := s.Send(ctx, i); err != nil {
				return err
			}
		}
		return errors.New("disk full")
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cli.OpenStream(ctx, "Source", nil, 0)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		it, err := st.Recv(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint64(i), it.Seq)
	}
	_, err = st.Recv(ctx)
	var e *envelope.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "disk full", e.Message)
}

// The opener's context ending cancels the stream on both sides.
func TestStreamContextCancelsBothSides(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	ended := make(chan error, 1)
	_, cli := protocol2Pair(t, transports[0], streamCallee(&wg, 16, func(ctx context.Context, s *envelope.Stream) error {
		_, err := s.Recv(ctx)
		ended <- err
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := cli.OpenStream(ctx, "Sink", nil, 0)
	require.NoError(t, err)
	cancel()
	<-st.Done()
	require.ErrorIs(t, st.Err(), envelope.ErrStreamCancelled)
	select {
	case err := <-ended:
		require.Error(t, err)
		assert.True(t, errors.Is(err, envelope.ErrStreamCancelled) || errors.Is(err, context.Canceled), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the callee's method was not cancelled")
	}
}

// An item over the frame limit is refused by Send, and takes no sequence
// number: the stream goes on with the next item, which the peer gets as
// the one after the last it had.
func TestStreamItemOverTheLimit(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	got := make(chan uint64, 4)
	_, cli := protocol2Pair(t, transports[0], streamCallee(&wg, 8, func(ctx context.Context, s *envelope.Stream) error {
		for {
			it, err := s.Recv(ctx)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			got <- it.Seq
			if err := s.Ack(it.Seq); err != nil {
				return err
			}
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cli.OpenStream(ctx, "Sink", map[string]any{}, 4)
	require.NoError(t, err)
	_, err = st.Send(ctx, strings.Repeat("x", envelope.DefaultMaxFrameSize))
	require.ErrorIs(t, err, envelope.ErrFrameTooLarge)
	assert.ErrorContains(t, err, fmt.Sprintf("exceeds the limit of %d bytes", envelope.DefaultMaxFrameSize))
	seq, err := st.Send(ctx, "small")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), seq)
	assert.Equal(t, uint64(1), recvT(t, got))
	require.NoError(t, st.CloseSend())
	<-st.Done()
	require.NoError(t, st.Err())
	assert.Empty(t, st.Unacked())
}

func recvT[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
		panic("unreachable")
	}
}
