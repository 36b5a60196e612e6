package envelope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

type addArgs struct {
	A, B int
}

type addResult struct {
	Sum   int
	Trace string
}

// calcHandler serves a few methods the way a plugin would: each request
// is answered from its own goroutine, never on the read loop.
func calcHandler(wg *sync.WaitGroup) func(c *envelope.Conn, m *envelope.Envelope) {
	return func(c *envelope.Conn, m *envelope.Envelope) {
		if !m.IsRequest() {
			return
		}
		wg.Go(func() {
			switch m.Method {
			case "Add":
				var in addArgs
				if err := envelope.DecodeParams(m, &in); err != nil {
					_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "invalid params for Add: %v", err))
					return
				}
				_ = c.Reply(m.ID, addResult{Sum: in.A + in.B, Trace: m.Trace()})
			case "Echo":
				_ = c.Reply(m.ID, m.Params)
			case "Nothing":
				_ = c.Reply(m.ID, nil)
			case "Params":
				_ = c.Reply(m.ID, string(m.Params))
			default:
				_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
			}
		})
	}
}

func TestConnCallReply(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		wg := newWorkers(t)
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: calcHandler(wg)}, envelope.ConnOptions{})
		ctx := context.Background()

		var sum addResult
		require.NoError(t, cli.Call(envelope.WithTrace(ctx, "trace-123"), "Add", addArgs{A: 2, B: 3}, &sum))
		assert.Equal(t, addResult{Sum: 5, Trace: "trace-123"}, sum)

		sum = addResult{}
		require.NoError(t, cli.Call(ctx, "Add", &addArgs{A: -1, B: 1}, &sum))
		assert.Equal(t, addResult{Sum: 0, Trace: ""}, sum, "no trace in ctx, none on the wire")

		assert.NoError(t, cli.Call(ctx, "Add", addArgs{A: 1}, nil), "a nil result discards the answer")

		var params string
		require.NoError(t, cli.Call(ctx, "Params", nil, &params))
		assert.Equal(t, "", params, "nil params are left out of the request")

		// A null result leaves the target as it was, as JSON null does.
		kept := addResult{Sum: 7}
		require.NoError(t, cli.Call(ctx, "Nothing", nil, &kept))
		assert.Equal(t, addResult{Sum: 7}, kept)

		var anyResult any
		require.NoError(t, cli.Call(ctx, "Echo", map[string]any{"k": []int{1, 2}}, &anyResult))
		assert.Equal(t, map[string]any{"k": []any{1.0, 2.0}}, anyResult)

		// An answer that does not fit the result is the caller's decoding
		// problem, not an error from the peer.
		var wrong int
		err := cli.Call(ctx, "Echo", "text", &wrong)
		require.Error(t, err)
		var rpcErr *envelope.Error
		assert.False(t, errors.As(err, &rpcErr))
		assert.Contains(t, err.Error(), "decoding result")

		assert.NoError(t, cli.Err(), "the connection is still open")
	})
}

func TestConnErrorAnswers(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		type errArgs struct {
			Code    int64
			Message string
		}
		wg := newWorkers(t)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			wg.Go(func() {
				var in errArgs
				_ = envelope.DecodeParams(m, &in)
				_ = c.ReplyError(m.ID, &envelope.Error{Code: in.Code, Message: in.Message, Data: json.RawMessage(`{"hint":1}`)})
			})
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})

		tests := []struct {
			code int64
			is   error
		}{
			{envelope.CodeMethodNotFound, envelope.ErrMethodNotFound},
			{envelope.CodeInvalidParams, envelope.ErrInvalidParams},
			{envelope.CodeShuttingDown, envelope.ErrShutdown},
			{envelope.CodeNameTaken, envelope.ErrNameTaken},
			{envelope.CodeUnauthorized, envelope.ErrUnauthorized},
			{envelope.CodeRequestCancelled, envelope.ErrCancelled},
			{envelope.CodeMethodError, nil},
			{envelope.CodeInternalError, nil},
		}
		for _, tt := range tests {
			msg := fmt.Sprintf("it broke: \"%d\" ü\n\ttab", tt.code)
			err := cli.Call(context.Background(), "Fail", errArgs{tt.code, msg}, nil)
			var e *envelope.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.code, e.Code)
			assert.Equal(t, msg, e.Message, "a method's own message arrives unchanged")
			assert.Equal(t, msg, err.Error())
			assert.JSONEq(t, `{"hint":1}`, string(e.Data))
			for _, sentinel := range []error{envelope.ErrMethodNotFound, envelope.ErrInvalidParams, envelope.ErrShutdown,
				envelope.ErrNameTaken, envelope.ErrUnauthorized, envelope.ErrCancelled, envelope.ErrProtocol} {
				assert.Equal(t, sentinel == tt.is, errors.Is(err, sentinel), "code %d vs %v", tt.code, sentinel)
			}
		}
	})
}

func TestConnDefaultHandler(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, cli := startPair(t, tr, envelope.ConnOptions{}, envelope.ConnOptions{})
		err := cli.Call(context.Background(), "Missing", nil, nil)
		assert.ErrorIs(t, err, envelope.ErrMethodNotFound)
		assert.Contains(t, err.Error(), "Missing")
		// Notifications need no answer and must not get one.
		require.NoError(t, cli.Notify("Whatever", 1))
		assert.ErrorIs(t, cli.Call(context.Background(), "Again", nil, nil), envelope.ErrMethodNotFound)
	})
}

// TestConnOutOfOrder answers three calls in the reverse of the order they
// arrived, so each caller can only get the right answer by its id.
func TestConnOutOfOrder(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const n = 3
		wg := newWorkers(t)
		var held []*envelope.Envelope // only the read loop touches it
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			held = append(held, m)
			if len(held) < n {
				return
			}
			batch := held
			held = nil
			wg.Go(func() {
				for _, r := range slices.Backward(batch) {
					_ = c.Reply(r.ID, r.Params)
				}
			})
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})

		results := make(chan error, n)
		for i := range n {
			go func() {
				var got string
				err := cli.Call(context.Background(), "Echo", fmt.Sprint("call-", i), &got)
				if err == nil && got != fmt.Sprint("call-", i) {
					err = fmt.Errorf("call %d got %q", i, got)
				}
				results <- err
			}()
		}
		for range n {
			assert.NoError(t, recv(t, results))
		}
	})
}

// TestConnConcurrentCalls has many goroutines share one connection. The
// server answers whatever has queued up in reverse, so answers come back
// out of order, and it checks that no id is in use twice at once.
func TestConnConcurrentCalls(t *testing.T) {
	const goroutines, calls = 32, 200
	forEachTransport(t, func(t *testing.T, tr transport) {
		type echo struct {
			G, I int
			S    string
		}
		var (
			mu         sync.Mutex
			inFlight   = map[envelope.ID]bool{}
			duplicates int
			handled    int
			inversions atomic.Int64
		)
		queue := make(chan *envelope.Envelope, goroutines)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			mu.Lock()
			if inFlight[m.ID] {
				duplicates++
			}
			inFlight[m.ID] = true
			handled++
			mu.Unlock()
			queue <- m // never blocks: at most one pending call per goroutine
		}
		wg := newWorkers(t)
		srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		wg.Go(func() {
			for {
				var batch []*envelope.Envelope
				select {
				case m := <-queue:
					batch = append(batch, m)
				case <-srv.Done():
					return
				}
			drain:
				for {
					select {
					case m := <-queue:
						batch = append(batch, m)
					default:
						break drain
					}
				}
				if len(batch) > 1 {
					inversions.Add(1)
				}
				for _, m := range slices.Backward(batch) {
					mu.Lock()
					delete(inFlight, m.ID) // before the answer can reach the caller
					mu.Unlock()
					_ = srv.Reply(m.ID, m.Params)
				}
			}
		})

		var failures atomic.Int64
		var callers sync.WaitGroup
		for g := range goroutines {
			callers.Go(func() {
				for i := range calls {
					want := echo{G: g, I: i, S: fmt.Sprintf("g%d/i%d", g, i)}
					var got echo
					err := cli.Call(context.Background(), "Echo", want, &got)
					if !assert.NoError(t, err) || !assert.Equal(t, want, got) {
						failures.Add(1)
						return
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { callers.Wait(); close(done) }()
		recv(t, done)

		assert.Zero(t, failures.Load())
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, goroutines*calls, handled)
		assert.Zero(t, duplicates, "an id was reused while its call was pending")
		assert.Empty(t, inFlight)
		t.Logf("%d batches answered out of order", inversions.Load())
	})
}

// slowHandler answers calcHandler's methods, never answers "Slow" but
// reports its id on started, and reports the id each $/cancelRequest
// names on cancelled. Both channels hold n.
func slowHandler(t *testing.T, n int) (started, cancelled chan envelope.ID, handler func(*envelope.Conn, *envelope.Envelope)) {
	started, cancelled = make(chan envelope.ID, n), make(chan envelope.ID, n)
	add := calcHandler(newWorkers(t))
	return started, cancelled, func(c *envelope.Conn, m *envelope.Envelope) {
		switch m.Method {
		case "Slow":
			started <- m.ID // and never answer it
		case envelope.MethodCancel:
			assert.True(t, m.IsNotification())
			var p envelope.CancelParams
			assert.NoError(t, envelope.DecodeParams(m, &p))
			cancelled <- p.ID
		default:
			add(c, m)
		}
	}
}

func TestConnCancel(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		started, cancelled, handler := slowHandler(t, 1)
		srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- cli.Call(ctx, "Slow", nil, nil) }()
		id := recv(t, started)
		cancel()
		assert.ErrorIs(t, recv(t, errc), context.Canceled)
		assert.Equal(t, id, recv(t, cancelled), "the cancel names the request")

		// The same with a deadline, which is how most callers bound a call.
		dctx := newExpiringCtx()
		go func() { errc <- cli.Call(dctx, "Slow", nil, nil) }()
		id2 := recv(t, started)
		assert.NotEqual(t, id, id2)
		dctx.expire()
		assert.ErrorIs(t, recv(t, errc), context.DeadlineExceeded)
		assert.Equal(t, id2, recv(t, cancelled))

		// The plugin may still answer after the cancel; that answer has
		// nobody waiting and must not disturb later calls.
		require.NoError(t, srv.Reply(id, "late"))
		require.NoError(t, srv.ReplyError(id2, envelope.Errorf(envelope.CodeRequestCancelled, "cancelled")))
		var sum addResult
		require.NoError(t, cli.Call(context.Background(), "Add", addArgs{A: 20, B: 22}, &sum))
		assert.Equal(t, 42, sum.Sum)

		// A context that is already done sends nothing at all.
		done, stop := context.WithCancel(context.Background())
		stop()
		assert.ErrorIs(t, cli.Call(done, "Slow", nil, nil), context.Canceled)
		select {
		case id := <-started:
			t.Fatalf("request %v sent with a dead context", id)
		default:
		}
	})
}

// expiringCtx is a context whose deadline passes when the test says so. A
// real timeout could pass before the request is even sent on a loaded
// machine, and then there would be nothing to cancel.
type expiringCtx struct {
	context.Context
	done    chan struct{}
	expired atomic.Bool
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringCtx) Done() <-chan struct{} { return c.done }

func (c *expiringCtx) Err() error {
	if c.expired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *expiringCtx) expire() {
	c.expired.Store(true)
	close(c.done)
}

func TestConnPeerClosesMidCall(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const pending = 5
		started := make(chan struct{}, pending)
		handler := func(c *envelope.Conn, m *envelope.Envelope) { started <- struct{}{} }
		srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})

		errc := make(chan error, pending)
		for range pending {
			go func() { errc <- cli.Call(context.Background(), "Hang", nil, nil) }()
		}
		for range pending {
			recv(t, started)
		}
		require.NoError(t, srv.Close())

		for range pending {
			err := recv(t, errc)
			assert.ErrorIs(t, err, envelope.ErrShutdown)
			var e *envelope.Error
			assert.False(t, errors.As(err, &e), "a lost connection is not an answer: %v", err)
		}
		waitDone(t, cli)
		assert.Equal(t, io.EOF, cli.Err(), "the peer hung up between messages")
		assert.ErrorIs(t, cli.Call(context.Background(), "After", nil, nil), envelope.ErrShutdown)
	})
}

func TestConnCloseThenCall(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		var onClose atomic.Int32
		srv, cli := startPair(t, tr, envelope.ConnOptions{},
			envelope.ConnOptions{OnClose: func(error) { onClose.Add(1) }})
		require.NoError(t, cli.Close())
		waitDone(t, cli)

		assert.Equal(t, envelope.ErrShutdown, cli.Err())
		err := cli.Call(context.Background(), "Add", addArgs{}, nil)
		assert.Equal(t, envelope.ErrShutdown, err)
		assert.Error(t, cli.Notify("n", nil))
		assert.Error(t, cli.Reply(envelope.NumberID(1), 1))
		assert.NoError(t, cli.Close(), "Close is idempotent")
		cli.CloseWithError(errors.New("later"))
		assert.Equal(t, envelope.ErrShutdown, cli.Err(), "the first reason stays")

		// The other side sees an orderly hang-up.
		waitDone(t, srv)
		assert.Equal(t, io.EOF, srv.Err())
		assert.EqualValues(t, 1, onClose.Load())
	})
}

func TestConnCloseFailsPendingCalls(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const pending = 8
		started := make(chan struct{}, pending)
		handler := func(c *envelope.Conn, m *envelope.Envelope) { started <- struct{}{} }
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		errc := make(chan error, pending)
		for range pending {
			go func() { errc <- cli.Call(context.Background(), "Hang", nil, nil) }()
		}
		for range pending {
			recv(t, started)
		}
		reason := errors.New("operator pulled the plug")
		cli.CloseWithError(reason)
		for range pending {
			err := recv(t, errc)
			assert.ErrorIs(t, err, envelope.ErrShutdown)
			assert.Contains(t, err.Error(), reason.Error())
		}
		waitDone(t, cli)
		assert.Equal(t, reason, cli.Err())
	})
}

// TestConnCallsRacingClose closes a busy connection: every call must end,
// either with its own answer or with ErrShutdown, never with a hang or
// another call's answer.
func TestConnCallsRacingClose(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		wg := newWorkers(t)
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: calcHandler(wg)}, envelope.ConnOptions{})
		var ok, shut atomic.Int64
		var callers sync.WaitGroup
		for g := range 16 {
			callers.Go(func() {
				for i := 0; ; i++ {
					var got addResult
					err := cli.Call(context.Background(), "Add", addArgs{A: g, B: i}, &got)
					if err != nil {
						assert.ErrorIs(t, err, envelope.ErrShutdown)
						shut.Add(1)
						return
					}
					assert.Equal(t, g+i, got.Sum)
					ok.Add(1)
				}
			})
		}
		// Let some calls through before pulling the plug.
		for ok.Load() < 100 {
			var sum addResult
			require.NoError(t, cli.Call(context.Background(), "Add", addArgs{A: 1, B: 1}, &sum))
		}
		cli.Close()
		done := make(chan struct{})
		go func() { callers.Wait(); close(done) }()
		recv(t, done)
		assert.EqualValues(t, 16, shut.Load())
	})
}

func TestConnNotifyOrder(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const senders, perSender = 4, 500
		type note struct{ From, Seq int }
		var (
			got  = make([][]int, senders) // only the read loop writes it
			seen int
			all  = make(chan struct{})
		)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			assert.True(t, m.IsNotification())
			var n note
			assert.NoError(t, envelope.DecodeParams(m, &n))
			got[n.From] = append(got[n.From], n.Seq)
			if seen++; seen == senders*perSender {
				close(all)
			}
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := range perSender {
					assert.NoError(t, cli.Notify("note", note{From: s, Seq: i}))
				}
			})
		}
		wg.Wait()
		recv(t, all)
		want := make([]int, perSender)
		for i := range want {
			want[i] = i
		}
		for s := range senders {
			assert.Equal(t, want, got[s], "notifications from sender %d out of order", s)
		}
	})
}

func TestConnReplyUnencodable(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		replyErrs := make(chan error, 1)
		wg := newWorkers(t)
		add := calcHandler(wg)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			var v any
			switch m.Method {
			case "Chan":
				v = make(chan int)
			case "Inf":
				v = math.Inf(1)
			case "Func":
				v = map[string]any{"f": func() {}}
			default:
				add(c, m)
				return
			}
			wg.Go(func() { replyErrs <- c.Reply(m.ID, v) })
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		for _, method := range []string{"Chan", "Inf", "Func"} {
			var out any
			err := cli.Call(context.Background(), method, nil, &out)
			var e *envelope.Error
			require.ErrorAs(t, err, &e, method)
			assert.EqualValues(t, envelope.CodeInternalError, e.Code, method)
			assert.Contains(t, e.Message, "encoding result", method)
			assert.Error(t, recv(t, replyErrs), "Reply tells its caller too")
		}
		// Nothing half-written reached the wire: the connection still works.
		var sum addResult
		require.NoError(t, cli.Call(context.Background(), "Add", addArgs{A: 1, B: 2}, &sum))
		assert.Equal(t, 3, sum.Sum)
	})
}

func TestConnCallUnencodableParams(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		var requests atomic.Int64
		wg := newWorkers(t)
		add := calcHandler(wg)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			requests.Add(1)
			add(c, m)
		}
		_, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		for _, p := range []any{make(chan int), math.NaN(), json.RawMessage(`{"a":`)} {
			err := cli.Call(context.Background(), "Add", p, nil)
			require.Error(t, err)
			assert.NotErrorIs(t, err, envelope.ErrShutdown, "a bad argument is not a broken connection")
			assert.Contains(t, err.Error(), "Add")
		}
		assert.Error(t, cli.Notify("n", make(chan int)))
		var sum addResult
		require.NoError(t, cli.Call(context.Background(), "Add", addArgs{A: 1, B: 2}, &sum))
		assert.Equal(t, 3, sum.Sum)
		assert.EqualValues(t, 1, requests.Load(), "nothing was sent for the failed calls")
	})
}

func TestConnLateResponseIgnored(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		wg := newWorkers(t)
		srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: calcHandler(wg)}, envelope.ConnOptions{})
		var sum addResult
		require.NoError(t, cli.Call(context.Background(), "Add", addArgs{A: 1, B: 1}, &sum))
		// A second answer to a call already answered looks like the late
		// answer to a cancelled call: ignored.
		require.NoError(t, srv.Reply(envelope.NumberID(1), "late"))
		// In any form that has the value 1.
		for _, late := range []string{`1.0`, `1e0`, `0.1E1`, `10e-1`} {
			require.NoError(t, srv.Reply(idOf(t, late), "late"))
		}
		require.NoError(t, srv.ReplyError(envelope.ID{}, envelope.Errorf(envelope.CodeParseError, "could not read your id")))

		for i := range 3 {
			require.NoError(t, cli.Call(context.Background(), "Add", addArgs{A: i, B: 1}, &sum))
			assert.Equal(t, i+1, sum.Sum)
		}
		assert.NoError(t, cli.Err())
		select {
		case <-cli.Done():
			t.Fatal("a late response closed the connection")
		default:
		}
	})
}

// idOf returns the id with the JSON text s.
func idOf(t *testing.T, s string) envelope.ID {
	t.Helper()
	var id envelope.ID
	require.NoError(t, json.Unmarshal([]byte(s), &id))
	return id
}

// TestConnAnswerMatchedByValue: a peer that reads ids as floats and
// writes 2 back as 2.0 or 2e0 still answers call 2.
func TestConnAnswerMatchedByValue(t *testing.T) {
	a, peer := tcpPair(t)
	cli := startConn(t, a, envelope.ConnOptions{})
	fr := envelope.NewFrameReader(peer, 0)
	for i, form := range []string{`%d`, `%d.0`, `%de0`, `%d00e-2`, `0.%dE1`} {
		errc := make(chan error, 1)
		var got string
		go func() { errc <- cli.Call(context.Background(), "m", nil, &got) }()
		body, err := fr.ReadFrame()
		require.NoError(t, err)
		m, err := envelope.Decode(body)
		require.NoError(t, err)
		assert.Equal(t, envelope.NumberID(int64(i+1)), m.ID)
		answer := fmt.Sprintf(`{"jsonrpc":"2.0","id":`+form+`,"result":"ok"}`, i+1)
		_, err = peer.Write(envelope.AppendFrame(nil, []byte(answer)))
		require.NoError(t, err)
		require.NoError(t, recv(t, errc), answer)
		assert.Equal(t, "ok", got)
	}
}

func TestConnForgedResponseCloses(t *testing.T) {
	forged := []envelope.ID{envelope.NumberID(999), envelope.StringID("1"), envelope.NumberID(0), envelope.NumberID(-1)}
	for _, s := range []string{`1.5`, `2e0`, `123456789012345678901234567890`, `-0`} {
		forged = append(forged, idOf(t, s))
	}
	for _, id := range forged {
		forEachTransport(t, func(t *testing.T, tr transport) {
			wg := newWorkers(t)
			srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: calcHandler(wg)}, envelope.ConnOptions{Logger: quiet})
			_ = srv.Reply(id, "nobody asked")
			select {
			case <-cli.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("an answer to a request never sent did not close the connection")
			}
			assert.ErrorIs(t, cli.Err(), envelope.ErrProtocol)
		})
	}
}

func TestConnBidirectional(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		wg := newWorkers(t)
		named := func(name string) func(c *envelope.Conn, m *envelope.Envelope) {
			return func(c *envelope.Conn, m *envelope.Envelope) {
				wg.Go(func() {
					var n int
					_ = envelope.DecodeParams(m, &n)
					_ = c.Reply(m.ID, fmt.Sprintf("%s:%d", name, n))
				})
			}
		}
		a, b := startPair(t, tr, envelope.ConnOptions{Handler: named("a")}, envelope.ConnOptions{Handler: named("b")})
		var callers sync.WaitGroup
		for _, side := range []struct {
			from *envelope.Conn
			peer string
		}{{a, "b"}, {b, "a"}} {
			for g := range 4 {
				callers.Go(func() {
					for i := range 50 {
						n := g*1000 + i
						var got string
						if !assert.NoError(t, side.from.Call(context.Background(), "Who", n, &got)) {
							return
						}
						assert.Equal(t, fmt.Sprintf("%s:%d", side.peer, n), got)
					}
				})
			}
		}
		done := make(chan struct{})
		go func() { callers.Wait(); close(done) }()
		recv(t, done)
	})
}

// frameChecker is a net.Conn that checks every Write is exactly one whole
// frame: two writers must never interleave, and no frame may be split
// across writes where another writer could slip in between.
type frameChecker struct {
	net.Conn
	writes, bad atomic.Int64
}

func (f *frameChecker) Write(p []byte) (int, error) {
	f.writes.Add(1)
	fr := envelope.NewFrameReader(bytes.NewReader(p), 0)
	body, err := fr.ReadFrame()
	if err == nil {
		_, err = envelope.Decode(body)
	}
	if err == nil {
		if _, err = fr.ReadFrame(); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errors.New("two frames in one write")
		}
	}
	if err != nil {
		f.bad.Add(1)
	}
	return f.Conn.Write(p)
}

func TestConnOneWritePerFrame(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		a, b := tr.pair(t)
		checkA, checkB := &frameChecker{Conn: a}, &frameChecker{Conn: b}
		wg := newWorkers(t)
		startConn(t, checkA, envelope.ConnOptions{Handler: calcHandler(wg)})
		cli := startConn(t, checkB, envelope.ConnOptions{})

		var callers sync.WaitGroup
		for g := range 8 {
			callers.Go(func() {
				for i := range 50 {
					var sum addResult
					assert.NoError(t, cli.Call(context.Background(), "Add", addArgs{A: g, B: i}, &sum))
					assert.NoError(t, cli.Notify("note", strings.Repeat("n", i*100)))
					// Calls that end by cancellation write a notification
					// from the caller's goroutine; they count too.
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					_ = cli.Call(ctx, "Add", addArgs{}, nil)
				}
			})
		}
		done := make(chan struct{})
		go func() { callers.Wait(); close(done) }()
		recv(t, done)
		assert.Positive(t, checkA.writes.Load())
		assert.Positive(t, checkB.writes.Load())
		assert.Zero(t, checkA.bad.Load()+checkB.bad.Load(), "writes that were not one whole frame")
	})
}

// readResponse reads one frame from a raw peer's side and decodes it.
func readResponse(t *testing.T, fr *envelope.FrameReader) *envelope.Envelope {
	t.Helper()
	type res struct {
		m   *envelope.Envelope
		err error
	}
	ch := make(chan res, 1)
	go func() {
		body, err := fr.ReadFrame()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		m, err := envelope.Decode(body)
		ch <- res{m, err}
	}()
	r := recv(t, ch)
	require.NoError(t, r.err)
	return r.m
}

func TestConnProtocolViolations(t *testing.T) {
	frame := func(s string) string { return string(envelope.AppendFrame(nil, []byte(s))) }
	tests := []struct {
		name   string
		stream string
		code   int64
		is     error
	}{
		{"bad Content-Length", "Content-Length: abc\r\n\r\n{}", envelope.CodeParseError, envelope.ErrProtocol},
		{"missing Content-Length", "Content-Type: x\r\n\r\n{}", envelope.CodeParseError, envelope.ErrProtocol},
		{"header without colon", "hello\r\n\r\n", envelope.CodeParseError, envelope.ErrProtocol},
		{"frame declared far too large", "Content-Length: 4611686018427387904\r\n\r\n", envelope.CodeParseError, envelope.ErrFrameTooLarge},
		{"malformed JSON", frame(`{"jsonrpc":"2.0","method":`), envelope.CodeParseError, envelope.ErrProtocol},
		{"not JSON at all", frame(`hello`), envelope.CodeParseError, envelope.ErrProtocol},
		{"malformed batch", frame(`[{"jsonrpc":"2.0",`), envelope.CodeParseError, envelope.ErrProtocol},
		{"batch", frame(`[{"jsonrpc":"2.0","id":1,"method":"a"}]`), envelope.CodeInvalidRequest, envelope.ErrProtocol},
		{"wrong version", frame(`{"jsonrpc":"1.0","id":1,"method":"a"}`), envelope.CodeInvalidRequest, envelope.ErrProtocol},
		{"method and result", frame(`{"jsonrpc":"2.0","id":1,"method":"a","result":1}`), envelope.CodeInvalidRequest, envelope.ErrProtocol},
		{"neither", frame(`{"jsonrpc":"2.0","id":1}`), envelope.CodeInvalidRequest, envelope.ErrProtocol},
		{"wrong type", frame(`{"jsonrpc":"2.0","id":1,"method":7}`), envelope.CodeInvalidRequest, envelope.ErrProtocol},
		{"after a good frame", frame(`{"jsonrpc":"2.0","method":"ok"}`) + frame(`{oops}`), envelope.CodeParseError, envelope.ErrProtocol},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a, peer := tr.pair(t)
				closeErr := make(chan error, 2)
				conn := startConn(t, a, envelope.ConnOptions{
					MaxFrameSize: 100,
					OnClose:      func(err error) { closeErr <- err },
				})

				// net.Pipe writes wait for the reader, so write from
				// aside while this goroutine reads the answer.
				wrote := make(chan error, 1)
				go func() {
					_, err := io.WriteString(peer, tt.stream)
					wrote <- err
				}()

				fr := envelope.NewFrameReader(peer, 0)
				m := readResponse(t, fr)
				require.True(t, m.IsResponse())
				assert.True(t, m.ID.IsZero(), "the offending message's id is unknown")
				require.NotNil(t, m.Error)
				assert.Equal(t, tt.code, m.Error.Code)
				assert.NotEmpty(t, m.Error.Message)

				// Then the connection is closed.
				_, err := fr.ReadFrame()
				assert.ErrorIs(t, err, io.EOF)
				waitDone(t, conn)
				assert.ErrorIs(t, conn.Err(), tt.is)
				assert.ErrorIs(t, recv(t, closeErr), tt.is)
				assert.NoError(t, recv(t, wrote))
				assert.ErrorIs(t, conn.Call(context.Background(), "m", nil, nil), envelope.ErrShutdown)
			})
		}
	})
}

func TestConnViolationFailsPendingCalls(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		a, peer := tr.pair(t)
		conn := startConn(t, a, envelope.ConnOptions{})
		errc := make(chan error, 1)
		go func() { errc <- conn.Call(context.Background(), "m", nil, nil) }()

		fr := envelope.NewFrameReader(peer, 0)
		req := readResponse(t, fr)
		require.True(t, req.IsRequest())
		go func() { _, _ = peer.Write(envelope.AppendFrame(nil, []byte("garbage"))) }()

		// Read the error answer: over net.Pipe the read loop cannot hang
		// up until it has been taken.
		refusal := readResponse(t, fr)
		require.NotNil(t, refusal.Error)
		assert.EqualValues(t, envelope.CodeParseError, refusal.Error.Code)

		err := recv(t, errc)
		assert.ErrorIs(t, err, envelope.ErrShutdown)
		assert.Contains(t, err.Error(), "malformed JSON")
		waitDone(t, conn)
		assert.ErrorIs(t, conn.Err(), envelope.ErrProtocol)
	})
}

// failingWriter delivers a stream but refuses every write, like a peer
// that sent garbage and hung up at once.
type failingWriter struct{ io.Reader }

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
func (failingWriter) Close() error              { return nil }

// TestConnViolationReasonSurvivesFailedReply: the error answer to a
// violation often cannot be written because the peer is gone; Err must
// still name the violation, not the failed write.
func TestConnViolationReasonSurvivesFailedReply(t *testing.T) {
	rwc := failingWriter{strings.NewReader(string(envelope.AppendFrame(nil, []byte("{not json"))))}
	c := envelope.NewConn(rwc, envelope.ConnOptions{Logger: quiet})
	c.Start()
	waitDone(t, c)
	assert.ErrorIs(t, c.Err(), envelope.ErrProtocol)
}

func TestConnOnCloseOnce(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		var calls atomic.Int32
		var got atomic.Value
		// Atomic so the read loop sees the Conn even when nothing else
		// orders it after the assignment (a TCP peer closing, say).
		var self atomic.Pointer[envelope.Conn]
		opts := envelope.ConnOptions{OnClose: func(err error) {
			calls.Add(1)
			got.Store(fmt.Sprint(err))
			select {
			case <-self.Load().Done():
				t.Error("Done closed before OnClose ran")
			default:
			}
		}}
		srv, cli := startPair(t, tr, envelope.ConnOptions{}, opts)
		self.Store(cli)
		// Every way of ending at once: both sides, repeatedly.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _ = cli.Close() })
			wg.Go(func() { _ = srv.Close() })
			wg.Go(func() { cli.CloseWithError(errors.New("x")) })
		}
		wg.Wait()
		waitDone(t, cli)
		assert.EqualValues(t, 1, calls.Load())
		assert.Equal(t, fmt.Sprint(cli.Err()), got.Load())
	})
}

func TestConnWriteTimeoutPipe(t *testing.T) {
	// net.Pipe has no buffer: with nobody reading the other end, the
	// very first write blocks until the deadline cuts it off.
	a, peer := net.Pipe()
	defer peer.Close()
	conn := startConn(t, a, envelope.ConnOptions{WriteTimeout: 50 * time.Millisecond})

	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- conn.Call(context.Background(), "m", nil, nil) }()
	err := recv(t, errc)
	assert.ErrorIs(t, err, envelope.ErrShutdown)
	waitDone(t, conn)
	t.Logf("cut off after %v", time.Since(start))
	assert.ErrorIs(t, conn.Err(), os.ErrDeadlineExceeded)
}

func TestConnWriteTimeoutTCP(t *testing.T) {
	a, peer := tcpPair(t)
	_ = peer // connected, never read
	conn := startConn(t, a, envelope.ConnOptions{WriteTimeout: 50 * time.Millisecond})

	// Kernel buffers take the first megabytes; keep writing until they
	// are full and the deadline fires.
	payload := strings.Repeat("x", 1<<20)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = conn.Notify("flood", payload)
	}
	require.Error(t, err, "writes to a peer that never reads must fail eventually")
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	waitDone(t, conn)
	assert.ErrorIs(t, conn.Err(), os.ErrDeadlineExceeded)
	assert.ErrorIs(t, conn.Call(context.Background(), "m", nil, nil), envelope.ErrShutdown)
}

func TestConnCloseUnblocksWriter(t *testing.T) {
	// Without a WriteTimeout a write to a peer that never reads blocks;
	// Close is the way out and must release the caller.
	a, peer := net.Pipe()
	defer peer.Close()
	conn := startConn(t, a, envelope.ConnOptions{})
	errc := make(chan error, 1)
	go func() { errc <- conn.Call(context.Background(), "m", nil, nil) }()
	require.NoError(t, conn.Close())
	assert.ErrorIs(t, recv(t, errc), envelope.ErrShutdown)
	waitDone(t, conn)
}

// TestConnRawPeer talks to a Conn by hand, as a plugin written in another
// language would: string ids, a notification, an unknown method.
func TestConnRawPeer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		a, peer := tr.pair(t)
		notes := make(chan string, 1)
		wg := newWorkers(t)
		add := calcHandler(wg)
		startConn(t, a, envelope.ConnOptions{Handler: func(c *envelope.Conn, m *envelope.Envelope) {
			if m.IsNotification() {
				notes <- m.Method + string(m.Params)
				return
			}
			add(c, m)
		}})
		fr := envelope.NewFrameReader(peer, 0)
		send := func(s string) {
			go func() { _, _ = peer.Write(envelope.AppendFrame(nil, []byte(s))) }()
		}

		send(`{"jsonrpc":"2.0","id":"req-1","method":"Add","params":{"A":40,"B":2},"meta":{"trace":"abc"}}`)
		m := readResponse(t, fr)
		assert.Equal(t, envelope.StringID("req-1"), m.ID)
		assert.JSONEq(t, `{"Sum":42,"Trace":"abc"}`, string(m.Result))

		send(`{"jsonrpc":"2.0","method":"hello","params":[1]}`)
		assert.Equal(t, "hello[1]", recv(t, notes))

		send(`{"jsonrpc":"2.0","id":77,"method":"Nope"}`)
		m = readResponse(t, fr)
		assert.Equal(t, envelope.NumberID(77), m.ID)
		require.NotNil(t, m.Error)
		assert.EqualValues(t, envelope.CodeMethodNotFound, m.Error.Code)
	})
}

// TestSendWaitsForNoOtherWrite: while a write to a peer that has stopped
// reading is stuck, Send returns at once, and the request goes out after
// it once the peer reads again, in order; Await then has its answer.
func TestSendWaitsForNoOtherWrite(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		a, peer := tr.pair(t)
		const big = 32 << 20 // past what loopback TCP buffers
		cli := startConn(t, a, envelope.ConnOptions{MaxFrameSize: 2 * big})
		stuck := make(chan error, 1)
		go func() { stuck <- cli.Notify("Big", strings.Repeat("x", big)) }()
		require.Eventually(t, func() bool { return stackHas("envelope.(*Conn).writeRaw") }, 10*time.Second, time.Millisecond,
			"the big notification's write is under way")

		sent := make(chan envelope.AsyncCall, 1)
		go func() {
			p, err := cli.Send(context.Background(), "Small", 1)
			assert.NoError(t, err)
			sent <- p
		}()
		var p envelope.AsyncCall
		select {
		case p = <-sent:
		case <-time.After(5 * time.Second):
			t.Fatal("Send waited for a write that was not its own")
		}

		fr := envelope.NewFrameReader(peer, 4*big)
		first, err := fr.ReadFrame()
		require.NoError(t, err)
		require.Greater(t, len(first), big, "the notification comes first")
		m := readResponse(t, fr)
		require.Equal(t, "Small", m.Method)
		_, err = peer.Write(envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","id":`+m.ID.String()+`,"result":"done"}`)))
		require.NoError(t, err)
		require.NoError(t, recv(t, stuck))
		var got string
		require.NoError(t, p.Await(context.Background(), &got))
		assert.Equal(t, "done", got)

		var zero envelope.AsyncCall
		assert.ErrorIs(t, zero.Await(context.Background(), nil), envelope.ErrShutdown)
	})
}

// stackHas reports whether some goroutine's stack names fn.
func stackHas(fn string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
}

// TestConnWriteTimeoutGivesEachWriteMostOfIt: the write deadline moves
// only once a quarter of the timeout has passed since it last did, so a
// write that sticks is cut off after at least three quarters of the
// timeout and at most all of it (in synctest's time, exactly).
func TestConnWriteTimeoutGivesEachWriteMostOfIt(t *testing.T) {
	const wto = 400 * time.Millisecond
	for _, tc := range []struct {
		gap, cut time.Duration // the second write starts gap after the first, and sticks for cut
	}{
		{50 * time.Millisecond, wto - 50*time.Millisecond}, // the first write's deadline still holds
		{150 * time.Millisecond, wto},                      // moved
	} {
		t.Run(tc.gap.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, peer := net.Pipe()
				defer peer.Close()
				conn := envelope.NewConn(a, envelope.ConnOptions{WriteTimeout: wto, Logger: quiet})
				conn.Start()
				read := make(chan error, 1)
				go func() {
					_, err := envelope.NewFrameReader(peer, 0).ReadFrame()
					read <- err // and reads nothing more
				}()
				require.NoError(t, conn.Notify("one", nil))
				require.NoError(t, <-read)
				time.Sleep(tc.gap)
				start := time.Now()
				err := conn.Notify("two", nil)
				assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
				assert.Equal(t, tc.cut, time.Since(start))
				conn.Wait()
			})
		})
	}
}

// TestSendNotifyInArrivalOrder: SendNotify's calls are announced in the
// order their answers come, and a call the connection's end fails is
// announced too.
func TestSendNotifyInArrivalOrder(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		a, peer := tr.pair(t)
		cli := startConn(t, a, envelope.ConnOptions{Logger: quiet})
		fr := envelope.NewFrameReader(peer, 0)
		done := make(chan int, 3)
		ctx := context.Background()
		var calls [3]envelope.AsyncCall
		ids := make([]envelope.ID, 2)
		for i := range 2 {
			sent := make(chan envelope.AsyncCall, 1)
			go func() {
				p, err := cli.SendNotify(ctx, "M", i, done, i)
				assert.NoError(t, err)
				sent <- p
			}()
			ids[i] = readResponse(t, fr).ID // net.Pipe: read for Send to return
			calls[i] = recv(t, sent)
		}
		answer := func(id envelope.ID, v string) {
			_, err := peer.Write(envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","id":`+id.String()+`,"result":"`+v+`"}`)))
			require.NoError(t, err)
		}
		answer(ids[1], "second")
		assert.Equal(t, 1, recv(t, done), "the second answered first")
		answer(ids[0], "first")
		assert.Equal(t, 0, recv(t, done))
		for i, want := range []string{"first", "second"} {
			var got string
			require.NoError(t, calls[i].Await(ctx, &got))
			assert.Equal(t, want, got)
		}

		sent := make(chan envelope.AsyncCall, 1)
		go func() {
			p, err := cli.SendNotify(ctx, "M", 2, done, 2)
			assert.NoError(t, err)
			sent <- p
		}()
		readResponse(t, fr)
		calls[2] = recv(t, sent)
		require.NoError(t, peer.Close())
		assert.Equal(t, 2, recv(t, done), "the connection's end announces the call it fails")
		assert.ErrorIs(t, calls[2].Await(ctx, nil), envelope.ErrShutdown)
	})
}
