package socket_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// These tests run the socket on a fake clock (testing/synctest) so that
// the async policy's one-second wait can be observed exactly. The plugins
// are raw peers on an in-memory listener, each writing from one goroutine.

type asyncBench struct {
	t *testing.T
	s *socket.Socket
	l *pipeListener
}

func newAsyncBench(t *testing.T, opts ...socket.Options) *asyncBench {
	t.Helper()
	b := &asyncBench{t: t, s: new(socket.Socket), l: newPipeListener()}
	// No heartbeat: the raw peers read nothing after their handshake.
	b.s.Serve(b.l, append([]socket.Options{socket.Config{Logger: quiet, HeartbeatInterval: -1}}, opts...)...)
	return b
}

// peer connects a raw plugin called name and returns a function that
// sends payloads as $/async notifications. A send returns once the socket
// has read the last frame; it may wait on the fake clock meanwhile.
func (b *asyncBench) peer(name string) (send func(payloads ...any)) {
	c := b.l.dial(b.t)
	require.Nil(b.t, c.handshake(b.t, `1`, name).Error)
	require.NoError(b.t, c.nc.SetWriteDeadline(time.Time{}))
	return func(payloads ...any) {
		for _, p := range payloads {
			raw, err := json.Marshal(p)
			require.NoError(b.t, err)
			body, err := json.Marshal(rawMsg{JSONRPC: "2.0", Method: envelope.MethodAsync, Params: raw})
			require.NoError(b.t, err)
			_, err = c.nc.Write(envelope.AppendFrame(nil, body))
			require.NoError(b.t, err)
		}
	}
}

// events reads n connect events, which makes the host a reader of Async.
func (b *asyncBench) events(n int) {
	for range n {
		ev, err := b.s.Async()
		require.NoError(b.t, err)
		require.IsType(b.t, envelope.Connected{}, ev.Payload)
	}
}

func items(prefix string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprint(prefix, i)
	}
	return out
}

// TestAsyncHostThatStopsReadingStallsAPluginOnce: a host that read Async
// and then stopped costs a plugin one wait of DefaultAsyncWait, not one
// per item; once it reads again, nothing is lost again.
func TestAsyncHostThatStopsReadingStallsAPluginOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newAsyncBench(t, socket.Config{AsyncBuffer: 4, ShutdownTimeout: time.Second})
		send := b.peer("p")
		b.events(1)

		start := time.Now()
		send(items("a", 50)...)
		synctest.Wait()
		assert.InDelta(t, socket.DefaultAsyncWait, time.Since(start), float64(2*time.Millisecond), "one wait for the whole burst")
		st := b.s.Stats()
		assert.Equal(t, 4, st.AsyncQueued)
		assert.EqualValues(t, 46, st.AsyncDropped)

		// Reading again: lossless again, in order, and nothing waits.
		got := make(chan any, 100)
		go func() {
			for {
				it, err := b.s.Async()
				if err != nil {
					close(got)
					return
				}
				got <- it.Payload
			}
		}()
		synctest.Wait() // the reader has taken the 4 items and waits for more
		start = time.Now()
		send(items("b", 50)...)
		synctest.Wait()
		require.Len(t, got, 54)
		assert.Less(t, time.Since(start), socket.DefaultAsyncWait, "nothing waited")
		assert.EqualValues(t, 46, b.s.Stats().AsyncDropped, "nothing more dropped")
		var seen []any
		for range 54 {
			seen = append(seen, <-got)
		}
		assert.Equal(t, append(items("a", 50)[46:], items("b", 50)...), seen)

		err := b.s.Shutdown("") // the raw peer never answers $/shutdown
		assert.ErrorContains(t, err, "cut off 1 plugin(s)")
		for range got {
		}
	})
}

// TestAsyncRoomWakesEveryWaitingPlugin: several plugins wait for room in
// a full queue; the host takes as many items, and all of them go on at
// once rather than at their timers.
func TestAsyncRoomWakesEveryWaitingPlugin(t *testing.T) {
	const n = 6
	synctest.Test(t, func(t *testing.T) {
		b := newAsyncBench(t, socket.Config{AsyncBuffer: n, ShutdownTimeout: time.Second})
		var sends []func(...any)
		for i := range n + 1 {
			sends = append(sends, b.peer(fmt.Sprint("p", i)))
			b.events(1)
		}
		start := time.Now()
		sends[0](items("fill", n)...)
		synctest.Wait()
		for i, send := range sends[1:] {
			send(fmt.Sprint("late", i))
		}
		synctest.Wait() // the queue is full and n plugins wait for room
		require.Equal(t, n, b.s.Stats().AsyncQueued)
		for range n {
			_, err := b.s.Async()
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.Equal(t, n, b.s.Stats().AsyncQueued, "every waiting plugin went on")
		assert.Zero(t, time.Since(start), "none waited for its timer")
		assert.Zero(t, b.s.Stats().AsyncDropped)
		assert.ErrorContains(t, b.s.Shutdown(""), "cut off 7 plugin(s)")
	})
}

// TestAsyncBytesBound: besides the count of items, the queue bounds the
// memory they hold, counted as their JSON plus a fixed overhead per
// item; an item larger than the whole budget still gets in when no other
// data is queued. The connect event is never dropped for data.
func TestAsyncBytesBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newAsyncBench(t, socket.Config{AsyncBytes: 10000, ShutdownTimeout: time.Second})
		send := b.peer("p")
		// Nobody reads: after the connect event, 10 items of 3000 bytes of
		// JSON each (2998 characters and the quotes), each counted as
		// 3072 (the size class of its copy) and the overhead.
		var big []any
		for i := range 10 {
			big = append(big, fmt.Sprintf("%03d", i)+strings.Repeat("x", 2995))
		}
		send(big...)
		synctest.Wait()
		st := b.s.Stats()
		assert.Equal(t, 4, st.AsyncQueued, "the connect event and 3 items: over 9000 of 10000 bytes")
		assert.EqualValues(t, 7, st.AsyncDropped, "7 items, and not the connect event")
		assert.Greater(t, st.AsyncBytes, 3*3072)
		assert.LessOrEqual(t, st.AsyncBytes, 10000)

		send(strings.Repeat("y", 20000))
		synctest.Wait()
		st = b.s.Stats()
		assert.Equal(t, 2, st.AsyncQueued, "the connect event and the big item")
		assert.EqualValues(t, 10, st.AsyncDropped)
		it, err := b.s.Async()
		require.NoError(t, err)
		require.IsType(t, envelope.Connected{}, it.Payload)
		it, err = b.s.Async()
		require.NoError(t, err)
		assert.Len(t, it.Payload, 20000)
		assert.ErrorContains(t, b.s.Shutdown(""), "cut off 1 plugin(s)")
	})
}
