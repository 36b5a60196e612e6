package socket_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// Turnstile is a plugin whose Hold records the order its calls arrive in and
// holds each until a token comes on release.
type Turnstile struct {
	entered chan int
	release chan struct{}

	mu    sync.Mutex
	order []int
}

func newTurnstile() *Turnstile {
	return &Turnstile{entered: make(chan int, 4096), release: make(chan struct{})}
}

// Hold records n and returns it once released.
func (g *Turnstile) Hold(ctx context.Context, n int) (int, error) {
	g.mu.Lock()
	g.order = append(g.order, n)
	g.mu.Unlock()
	g.entered <- n
	select {
	case <-g.release:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (g *Turnstile) seen() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.order...)
}

// queued counts the calls parked waiting for room under MaxInFlight. A
// goroutine shown parked in the select is already in the channel's queue
// of senders, so the count is exact, not a guess about scheduling.
func queued() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "socket.(*inFlight).take") {
			count++
		}
	}
	return count
}

// waitQueued waits until n calls are waiting for room.
func waitQueued(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return queued() == n }, 10*time.Second, time.Millisecond,
		"%d calls waiting for room", n)
}

type holdResult struct {
	n   int
	got int
	err error
}

// TestMaxInFlightQueuesInOrder: past the limit, calls wait in the order
// they came for room; one whose context ends while it waits leaves with
// an error matching both its context's and ErrOverloaded, and every other
// keeps its place and succeeds once released.
func TestMaxInFlightQueuesInOrder(t *testing.T) {
	for _, transport := range []string{"tcp", "attach"} {
		t.Run(transport, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			h := newHost(t, "tcp", socket.Config{MaxInFlight: 2})
			g := newTurnstile()
			name := h.plugVia(transport, g, "gate")

			results := make(chan holdResult, 16)
			call := func(ctx context.Context, n int) {
				var got int
				err := h.s.CallContext(ctx, name, "Hold", n, &got)
				results <- holdResult{n, got, err}
			}
			var callers sync.WaitGroup
			for n := range 2 {
				callers.Go(func() { call(context.Background(), n) })
			}
			recv(t, g.entered, "the first Hold")
			recv(t, g.entered, "the second Hold")

			// Five more, each queued before the next starts, so that the
			// order they wait in is known; the third has a short deadline.
			short := newExpiring()
			waiters := []int{10, 11, 12, 13, 14}
			for i, n := range waiters {
				ctx := context.Background()
				if n == 12 {
					ctx = short
				}
				callers.Go(func() { call(ctx, n) })
				waitQueued(t, i+1)
			}
			assert.Empty(t, results, "no call past the limit has returned")
			assert.Equal(t, []int{0, 1}, sortedCopy(g.seen()), "only the first two reached the plugin")

			// The one in the middle gives up; the others keep their places.
			short.expire()
			r := recv(t, results, "the call that gave up")
			assert.Equal(t, 12, r.n)
			require.ErrorIs(t, r.err, context.DeadlineExceeded)
			require.ErrorIs(t, r.err, socket.ErrOverloaded)
			assert.ErrorContains(t, r.err, "gate.Hold: 2 calls in flight, the limit (Config.MaxInFlight), and the context ended before one ended")
			waitQueued(t, 4)

			// One at a time: each token ends one call, whose room goes to
			// the first still waiting.
			want := []int{10, 11, 13, 14}
			for _, n := range want {
				g.release <- struct{}{}
				assert.Equal(t, n, recv(t, g.entered, "the next waiting call"))
			}
			close(g.release)
			for range 2 + len(want) {
				r := recv(t, results, "a Hold")
				require.NoError(t, r.err, "call %d", r.n)
				assert.Equal(t, r.n, r.got)
			}
			assert.Equal(t, []int{0, 1, 10, 11, 13, 14}, append(sortedCopy(g.seen()[:2]), g.seen()[2:]...),
				"the plugin saw the waiting calls in the order they came")
			callers.Wait()
			require.NoError(t, h.s.Shutdown(""))
			h.wg.Wait()
			goleak.VerifyNone(t, ignore)
		})
	}
}

// TestMaxInFlightWaitDeadline: a call that waits for room past its
// deadline fails with an error matching context.DeadlineExceeded and
// ErrOverloaded, without reaching the plugin, and the call timeout bounds
// the wait of a call whose context has no deadline.
func TestMaxInFlightWaitDeadline(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{MaxInFlight: 1, CallTimeout: 100 * time.Millisecond})
	g := newTurnstile()
	h.plug(g, "gate")
	held := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		held <- h.s.CallContext(ctx, "gate", "Hold", 1, nil)
	}()
	recv(t, g.entered, "the first Hold")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := h.s.CallContext(ctx, "gate", "Hold", 2, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, socket.ErrOverloaded)

	_, err = h.s.Call("", "gate", "Hold", 3)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, socket.ErrOverloaded)
	assert.ErrorContains(t, err, "the call timeout of 100ms (Config.CallTimeout) passed before one ended")

	// Broadcast waits too, within its own deadline, and a plugin with
	// room answers it meanwhile.
	open := newTurnstile()
	close(open.release)
	h.plug(open, "open")
	bctx, bcancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer bcancel()
	res, errs := h.s.BroadcastContext(bctx, "Hold", 4)
	require.ErrorIs(t, errs["gate"], socket.ErrOverloaded)
	require.ErrorIs(t, errs["gate"], context.DeadlineExceeded)
	assert.Equal(t, map[string]any{"open": float64(4)}, res)
	assert.Len(t, errs, 1)

	close(g.release)
	require.NoError(t, recv(t, held, "the held call"))
	assert.Equal(t, []int{1}, g.seen(), "no call that gave up reached the plugin")
	var got int
	require.NoError(t, h.s.CallContext(context.Background(), "gate", "Hold", 5, &got), "room again")
	assert.Equal(t, 5, got)
}

// TestMaxInFlightDefaultAndOff: zero means DefaultMaxInFlight, past which
// a call waits; a negative limit lets every call through at once.
func TestMaxInFlightDefaultAndOff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		calls  int
		queued int
	}{
		{"default", 0, socket.DefaultMaxInFlight + 1, 1},
		{"off", -1, 64, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, "tcp", socket.Config{MaxInFlight: tc.limit})
			g := newTurnstile()
			h.plug(g, "gate")
			errs := make(chan error, tc.calls)
			for n := range tc.calls {
				go func() { errs <- h.s.CallContext(context.Background(), "gate", "Hold", n, nil) }()
			}
			for range tc.calls - tc.queued {
				recv(t, g.entered, "a Hold")
			}
			waitQueued(t, tc.queued)
			assert.Len(t, g.seen(), tc.calls-tc.queued)
			close(g.release)
			for range tc.calls {
				require.NoError(t, recv(t, errs, "a Hold"))
			}
			assert.Len(t, g.seen(), tc.calls, "the waiting call got through")
		})
	}
}

// expiring is a context whose deadline passes when expire is called: a
// waiting call's deadline that passes exactly when the test says.
type expiring struct {
	context.Context
	done chan struct{}
}

func newExpiring() *expiring {
	return &expiring{Context: context.Background(), done: make(chan struct{})}
}

func (e *expiring) expire() { close(e.done) }

func (e *expiring) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }
func (e *expiring) Done() <-chan struct{}       { return e.done }
func (e *expiring) Err() error {
	select {
	case <-e.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func sortedCopy(s []int) []int {
	out := append([]int(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestBroadcastEndsEachCallAtItsAnswer: a broadcast's call to a plugin
// that answers ends then, counted and observed, while another plugin
// still holds its own call; it does not wait for the slower one.
func TestBroadcastEndsEachCallAtItsAnswer(t *testing.T) {
	ended := make(chan string, 16)
	h := newHost(t, "tcp", socket.Config{Observer: func(ctx context.Context, c envelope.ObservedCall) (context.Context, func(error)) {
		return ctx, func(error) { ended <- c.Plugin }
	}})
	gate := newTurnstile()
	h.plug(gate, "gate")
	const open = 8
	for i := range open {
		g := newTurnstile()
		close(g.release)
		h.plug(g, fmt.Sprintf("open-%d", i))
	}
	done := make(chan map[string]any, 1)
	go func() {
		res, _ := h.s.Broadcast("", "Hold", 3)
		done <- res
	}()
	recv(t, gate.entered, "the gate's call")
	for range open {
		assert.NotEqual(t, "gate", recv(t, ended, "an open plugin's call ending"))
	}
	close(gate.release)
	assert.Equal(t, "gate", recv(t, ended, "the gate's call ending"))
	assert.Len(t, recv(t, done, "the broadcast"), open+1)
}
