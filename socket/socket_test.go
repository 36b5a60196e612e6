package socket_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/socket"
)

func TestCallOverEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			h := newHost(t, tr)
			name := h.plugVia(tr, newCalc(), "calc")

			got, err := h.s.Call("", name, "Add", testplugins.Args{A: 2, B: 3})
			require.NoError(t, err)
			assert.Equal(t, float64(5), got, "Call decodes like encoding/json into any")

			var sum int
			require.NoError(t, h.s.CallContext(context.Background(), name, "Add", map[string]int{"a": 40, "b": 2}, &sum))
			assert.Equal(t, 42, sum)

			var echo string
			require.NoError(t, h.s.CallContext(context.Background(), name, "Echo", "héllo \"wörld\"\n", &echo))
			assert.Equal(t, "héllo \"wörld\"\n", echo)

			require.NoError(t, h.s.CallContext(context.Background(), name, "Add", testplugins.Args{}, nil), "nil result discards")
		})
	}
}

func TestErrors(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")

	_, err := h.s.Call("", "calc", "Div", testplugins.Args{A: 1})
	require.Error(t, err)
	assert.Equal(t, "division by zero", err.Error(), "a method's error reaches the caller unchanged")
	var e *envelope.Error
	require.ErrorAs(t, err, &e)
	assert.EqualValues(t, envelope.CodeMethodError, e.Code)

	_, err = h.s.Call("", "calc", "Nope", nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound)
	assert.ErrorIs(t, err, socket.ErrMethodNotFound)

	_, err = h.s.Call("", "calc", "Add", "not an object")
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.Contains(t, err.Error(), "Add")

	_, err = h.s.Call("", "ghost", "Add", nil)
	assert.ErrorIs(t, err, socket.ErrNoPlugin)
	assert.Contains(t, err.Error(), `"ghost"`)

	_, err = h.s.Call("", "calc", "Panic", nil)
	require.ErrorAs(t, err, &e)
	assert.EqualValues(t, envelope.CodeInternalError, e.Code)
	assert.Contains(t, e.Message, "boom")
	got, err := h.s.Call("", "calc", "Add", testplugins.Args{A: 1, B: 1})
	require.NoError(t, err, "the plugin keeps serving after a panic")
	assert.Equal(t, float64(2), got)

	_, err = h.s.Call("", "calc", "Add", make(chan int))
	assert.ErrorContains(t, err, "encoding params", "an unencodable payload never leaves the host")
}

func TestTraceIDs(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")

	got, err := h.s.Call("trace-123", "calc", "Trace", nil)
	require.NoError(t, err)
	assert.Equal(t, []any{"trace-123", "trace-123"}, got, "TraceFrom and ctxKey both see the id")

	var ids []string
	require.NoError(t, h.s.CallContext(envelope.WithTrace(context.Background(), "ctx-id"), "calc", "Trace", nil, &ids))
	assert.Equal(t, []string{"ctx-id", "ctx-id"}, ids)

	require.NoError(t, h.s.CallContext(context.Background(), "calc", "Trace", nil, &ids))
	_, err = uuid.Parse(ids[0])
	assert.NoError(t, err, "an empty id becomes a UUID, got %q", ids[0])
	assert.Equal(t, ids[0], ids[1])
}

func TestCancellationReachesThePlugin(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			h := newHost(t, tr)
			c := newCalc()
			name := h.plugVia(tr, c, "calc")

			ctx, cancel := context.WithCancel(envelope.WithTrace(context.Background(), "cancel-me"))
			done := make(chan error, 1)
			go func() { done <- h.s.CallContext(ctx, name, "Block", 1, nil) }()
			assert.Equal(t, "cancel-me", recv(t, c.Entered, "Block to start"))
			cancel()
			err := recv(t, done, "CallContext to return")
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, "cancel-me", recv(t, c.CtxDone, "the method's context to end"))

			ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err = h.s.CallContext(ctx, name, "Block", 2, nil)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			recv(t, c.CtxDone, "the method's context to end at the deadline")

			got, err := h.s.Call("", name, "Add", testplugins.Args{A: 1, B: 2})
			require.NoError(t, err, "the connection survives cancellations")
			assert.Equal(t, float64(3), got)
		})
	}
}

func TestBroadcast(t *testing.T) {
	h := newHost(t, "tcp")
	for _, n := range []string{"a", "b", "c"} {
		h.plug(newCalc(), n)
	}
	results, errs := h.s.Broadcast("b-1", "Add", testplugins.Args{A: 1, B: 2})
	assert.Empty(t, errs)
	assert.Equal(t, map[string]any{"a": float64(3), "b": float64(3), "c": float64(3)}, results)

	results, errs = h.s.Broadcast("", "Div", testplugins.Args{A: 1})
	assert.Empty(t, results)
	require.Len(t, errs, 3)
	for name, err := range errs {
		assert.Equal(t, "division by zero", err.Error(), name)
	}

	results, errs = h.s.Broadcast("", "Trace", nil)
	require.Empty(t, errs)
	var first string
	for _, r := range results {
		id := r.([]any)[0].(string)
		if first == "" {
			first = id
		}
		assert.Equal(t, first, id, "one trace id for the whole broadcast")
	}
	_, err := uuid.Parse(first)
	assert.NoError(t, err)
}

func TestAsyncInOrderWithLifecycleEvents(t *testing.T) {
	h := newHost(t, "tcp")
	st := h.plug(newCalc(), "calc")

	ev, err := h.s.Async()
	require.NoError(t, err)
	assert.Equal(t, "calc", ev.Name)
	conn, ok := ev.Payload.(envelope.Connected)
	require.True(t, ok, "first item is the connect event, got %T", ev.Payload)
	assert.Equal(t, "1.0.0", conn.Info.Version)

	var items []string
	for i := range 200 {
		items = append(items, fmt.Sprint("item-", i))
	}
	_, err = h.s.Call("", "calc", "Emit", items)
	require.NoError(t, err)
	for i := range items {
		it, err := h.s.Async()
		require.NoError(t, err)
		assert.Equal(t, "calc", it.Name)
		require.Equal(t, items[i], it.Payload, "item %d out of order", i)
	}

	require.NoError(t, st.p.Close())
	ev, err = h.s.Async()
	require.NoError(t, err)
	assert.Equal(t, envelope.Disconnected{Info: &envelope.PluginInfo{Name: "calc", Version: "1.0.0"}, Graceful: true}, ev.Payload)
	assert.NoError(t, recv(t, st.err, "Start to return"), "Close is an orderly exit")

	require.NoError(t, h.s.Shutdown(""))
	_, err = h.s.Async()
	assert.ErrorIs(t, err, socket.ErrShutdown, "Async ends once shut down and drained")
}

func TestAsyncNeverStallsAHostThatDoesNotRead(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{AsyncBuffer: 8})
	h.plug(newCalc(), "calc")
	items := make([]string, 100)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	for range 3 {
		_, err := h.s.Call("", "calc", "Emit", items)
		require.NoError(t, err)
	}
	// Answers may overtake async items on the wire, so wait until the
	// queue has seen all 301 items (300 plus the connect event).
	require.Eventually(t, func() bool {
		st := h.s.Stats()
		return uint64(st.AsyncQueued)+st.AsyncDropped == 301
	}, 10*time.Second, time.Millisecond)
	st := h.s.Stats()
	assert.Equal(t, 8, st.AsyncQueued)
	assert.EqualValues(t, 301-8, st.AsyncDropped)
	// Issue 9 (A4): the connect event is never dropped for data; the
	// newest data items are kept beside it.
	it, err := h.s.Async()
	require.NoError(t, err)
	require.IsType(t, envelope.Connected{}, it.Payload, "the connect event is kept")
	it, err = h.s.Async()
	require.NoError(t, err)
	assert.Equal(t, "93", it.Payload, "the newest items are kept")
}

func TestAsyncLosesNothingWhileTheHostReads(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{AsyncBuffer: 4})
	h.plug(newCalc(), "calc")
	_, err := h.s.Async() // the connect event; from now on the host reads
	require.NoError(t, err)

	items := make([]string, 500)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	got := make(chan []string, 1)
	go func() {
		var seen []string
		for len(seen) < len(items) {
			it, err := h.s.Async()
			if err != nil {
				break
			}
			seen = append(seen, it.Payload.(string))
		}
		got <- seen
	}()
	_, err = h.s.Call("", "calc", "Emit", items)
	require.NoError(t, err)
	assert.Equal(t, items, recv(t, got, "every item"))
	assert.Zero(t, h.s.Stats().AsyncDropped)
}

func TestWaitFor(t *testing.T) {
	h := newHost(t, "tcp")
	assert.False(t, h.s.WaitFor("late", 20*time.Millisecond))

	var wg sync.WaitGroup
	results := make(chan bool, 8)
	for range 8 {
		wg.Go(func() { results <- h.s.WaitFor("late", 10*time.Second) })
	}
	h.plug(newCalc(), "late")
	wg.Wait()
	close(results)
	for ok := range results {
		assert.True(t, ok)
	}
	assert.True(t, h.s.WaitFor("late", 0), "true at once when already connected")
}

func TestConnectedAndPluginInfo(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")

	all := h.s.Connected(false)
	require.Contains(t, all, "calc")
	assert.Nil(t, all["calc"].Functions, "full=false leaves out functions")
	full := h.s.Connected(true)
	require.Contains(t, full["calc"].Functions, "Add")
	assert.NotContains(t, full["calc"].Functions, "UseAsyncHook")

	info := h.s.PluginInfo("calc")
	require.NotNil(t, info)
	add := info.Functions["Add"]
	require.NotNil(t, add.Input)
	assert.Equal(t, "a", add.Input.Fields[0].Name)

	// Copies: changing them changes nothing in the socket.
	info.Name = "mutated"
	add.Input.Fields[0].Name = "mutated"
	again := h.s.PluginInfo("calc")
	assert.Equal(t, "calc", again.Name)
	assert.Equal(t, "a", again.Functions["Add"].Input.Fields[0].Name)
	assert.Nil(t, h.s.PluginInfo("ghost"))
}

// Plugins with the same description share one copy of it within a
// Connected(true) result, and nothing with the socket or another result.
func TestConnectedCopiesEachDescriptionOnce(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc-1")
	h.plug(newCalc(), "calc-2")

	first := h.s.Connected(true)
	require.Len(t, first, 2)
	a, b := first["calc-1"].Functions, first["calc-2"].Functions
	require.Contains(t, a, "Add")
	assert.Equal(t, reflect.ValueOf(a).UnsafePointer(), reflect.ValueOf(b).UnsafePointer(),
		"one copy for the two plugins of one description")

	add := a["Add"]
	add.Input.Fields[0].Name = "mutated"
	add.InputSchema[0] = ' '
	delete(a, "Div")

	for _, info := range []*envelope.PluginInfo{h.s.Connected(true)["calc-2"], h.s.PluginInfo("calc-1")} {
		got := info.Functions["Add"]
		assert.Equal(t, "a", got.Input.Fields[0].Name, "the socket's description is unchanged")
		assert.Equal(t, byte('{'), got.InputSchema[0])
		assert.Contains(t, info.Functions, "Div")
	}
	again := h.s.Connected(true)
	assert.NotEqual(t, reflect.ValueOf(a).UnsafePointer(), reflect.ValueOf(again["calc-1"].Functions).UnsafePointer(),
		"each result has copies of its own")
}

// A poll of many plugins of one description allocates per plugin, not
// per function: a copy of every function of 20,000 plugins ten times a
// second kept the collector busy enough to delay every call.
func TestConnectedAllocatesPerPlugin(t *testing.T) {
	h := newHost(t, "tcp")
	const n = 40
	for i := range n {
		h.plug(newCalc(), fmt.Sprintf("calc-%d", i))
	}
	perFunction := testing.AllocsPerRun(5, func() { _ = h.s.PluginInfo("calc-0") })
	allocs := testing.AllocsPerRun(5, func() {
		if got := len(h.s.Connected(true)); got != n {
			t.Fatalf("Connected has %d plugins, want %d", got, n)
		}
	})
	// Each plugin's info is one allocation; the map and the one copy of the
	// functions are a few more.
	assert.Less(t, allocs, float64(2*n)+2*perFunction, "allocations for %d plugins (one plugin's full copy: %v)", n, perFunction)
}

func TestNamesStayUnique(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")

	conn, err := net.Dial("tcp", h.addr.String())
	require.NoError(t, err)
	err = h.pluginOn(conn, "calc")
	assert.ErrorIs(t, err, envelope.ErrNameTaken)
	assert.ErrorContains(t, err, `"calc" is taken`)
	assert.Len(t, h.s.Connected(false), 1)
}

func TestKeySequencer(t *testing.T) {
	n := 0
	seq := func(name string) string { n++; return fmt.Sprintf("calc-%d", n) }
	h := newHost(t, "tcp", socket.WithKeySequencer(seq, 3))
	first := h.plug(newCalc(), "calc")
	second := h.plug(newCalc(), "calc")
	third := h.plug(newCalc(), "calc")
	assert.Equal(t, []string{"calc", "calc-1", "calc-2"}, []string{first.name, second.name, third.name})

	got, err := h.s.Call("", "calc-2", "Add", testplugins.Args{A: 1, B: 1})
	require.NoError(t, err)
	assert.Equal(t, float64(2), got)

	stuck := newHost(t, "tcp", socket.WithKeySequencer(func(string) string { return "same" }, 2))
	stuck.plug(newCalc(), "same")
	conn, err := net.Dial("tcp", stuck.addr.String())
	require.NoError(t, err)
	assert.ErrorIs(t, stuck.pluginOn(conn, "same"), envelope.ErrNameTaken, "sequencer out of attempts")
}

func TestUnplugFinishesCallsInFlight(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			h := newHost(t, tr)
			cbs := h.callbacks()
			c := newCalc()
			name := h.plugVia(tr, c, "calc")

			answer := make(chan error, 1)
			var got int
			go func() { answer <- h.s.CallContext(context.Background(), name, "Block", 7, &got) }()
			recv(t, c.Entered, "Block to start")

			unplugged := make(chan struct{})
			go func() { h.s.Unplug("unplug-1", name); close(unplugged) }()
			// New calls are refused from the moment Unplug begins; poll the
			// refusal, not the clock.
			require.Eventually(t, func() bool {
				_, err := h.s.Call("", name, "Add", testplugins.Args{})
				return errors.Is(err, socket.ErrShutdown)
			}, 5*time.Second, time.Millisecond)
			select {
			case <-unplugged:
				t.Fatal("Unplug returned while a call was in flight")
			default:
			}
			close(c.Release)
			require.NoError(t, recv(t, answer, "the call in flight to answer"))
			assert.Equal(t, 7, got)
			recv(t, unplugged, "Unplug to return")
			assert.Equal(t, "calc graceful=true", recv(t, cbs.ch, "the callback"))
			assert.Nil(t, h.s.PluginInfo(name))
			_, err := h.s.Call("", name, "Add", testplugins.Args{})
			assert.ErrorIs(t, err, socket.ErrNoPlugin)
		})
	}
}

func TestCrashIsNotGraceful(t *testing.T) {
	h := newHost(t, "tcp")
	cbs := h.callbacks()
	c := newCalc()
	st := h.plug(c, "calc")

	done := make(chan error, 1)
	go func() { done <- h.s.CallContext(context.Background(), "calc", "Block", 1, nil) }()
	recv(t, c.Entered, "Block to start")
	require.NoError(t, st.conn.Close()) // the plugin's process "dies"

	err := recv(t, done, "the pending call to fail")
	assert.ErrorIs(t, err, socket.ErrShutdown, "a lost connection fails pending calls")
	assert.Equal(t, "calc graceful=false", recv(t, cbs.ch, "the callback"))
	assert.Error(t, recv(t, st.err, "Start to return"))
}

func TestShutdown(t *testing.T) {
	h := newHost(t, "tcp")
	cbs := h.callbacks()
	a := h.plug(newCalc(), "a")
	b := h.plug(newCalc(), "b")

	require.NoError(t, h.s.Shutdown("bye"))
	require.NoError(t, h.s.Shutdown("again"), "idempotent")
	got := []string{recv(t, cbs.ch, "callback"), recv(t, cbs.ch, "callback")}
	assert.ElementsMatch(t, []string{"a graceful=true", "b graceful=true"}, got)
	assert.NoError(t, recv(t, a.err, "a's Start"))
	assert.NoError(t, recv(t, b.err, "b's Start"))

	_, err := h.s.Call("", "a", "Add", nil)
	assert.ErrorIs(t, err, socket.ErrShutdown)
	_, err = net.Dial("tcp", h.addr.String())
	assert.Error(t, err, "the listener is closed")
	_, err = h.s.Attach(newCalc(), nil)
	assert.ErrorIs(t, err, socket.ErrShutdown)
}

func TestShutdownCutsOffPluginsPastTheTimeout(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{ShutdownTimeout: 100 * time.Millisecond})
	cbs := h.callbacks()
	c := newCalc()
	h.plug(c, "slow")
	go func() { _, _ = h.s.Call("", "slow", "Block", 1) }()
	recv(t, c.Entered, "Block to start")

	err := h.s.Shutdown("")
	assert.ErrorContains(t, err, "cut off 1 plugin(s)")
	assert.ErrorContains(t, err, "slow")
	assert.Equal(t, "slow graceful=false", recv(t, cbs.ch, "callback"))
}

func TestZeroSocketShutdown(t *testing.T) {
	var s socket.Socket
	require.NoError(t, s.Shutdown(""))
	_, err := s.Async()
	assert.ErrorIs(t, err, socket.ErrShutdown)
	_, err = s.Call("", "x", "y", nil)
	assert.ErrorIs(t, err, socket.ErrShutdown)
}

// TestManyCallersManyPlugins checks that every caller gets its own answer.
func TestManyCallersManyPlugins(t *testing.T) {
	h := newHost(t, "tcp")
	const plugins, callers, calls = 4, 16, 100
	for i := range plugins {
		h.plug(newCalc(), fmt.Sprint("p", i))
	}
	var wg sync.WaitGroup
	var wrong sync.Map
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				name := fmt.Sprint("p", (g+i)%plugins)
				want := fmt.Sprintf("%s/%d/%d", name, g, i)
				var got string
				if err := h.s.CallContext(context.Background(), name, "Echo", want, &got); err != nil || got != want {
					wrong.Store(want, fmt.Sprint(got, err))
				}
			}
		})
	}
	wg.Wait()
	n := 0
	wrong.Range(func(k, v any) bool { n++; t.Errorf("%v: got %v", k, v); return n < 10 })
}

// pluginOn runs a plugin called name on conn and returns Start's error.
func (h *host) pluginOn(conn net.Conn, name string) error {
	done := make(chan error, 1)
	h.wg.Go(func() { done <- startPlugin(newCalc(), name, conn) })
	return recv(h.t, done, "Start to return")
}

// flakyListener fails its first Accept the way a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failed bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptSurvivesRunningOutOfFiles(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &host{t: t, s: new(socket.Socket), addr: inner.Addr()}
	h.s.Serve(&flakyListener{Listener: inner}, socket.Config{Logger: quiet})
	t.Cleanup(func() { _ = h.s.Shutdown(""); h.wg.Wait() })

	h.plug(newCalc(), "after-emfile")
	assert.True(t, h.s.WaitFor("after-emfile", 0))
}

// Stubborn has a method that ignores its context.
type Stubborn struct{ entered, release chan struct{} }

func (s *Stubborn) Hang(context.Context, struct{}) (int, error) {
	close(s.entered)
	<-s.release
	return 0, nil
}

func TestShutdownIsBoundedWithAStubbornAttachedPlugin(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{ShutdownTimeout: 100 * time.Millisecond})
	st := &Stubborn{entered: make(chan struct{}), release: make(chan struct{})}
	// The method is released at the end so that nothing outlives the test.
	defer close(st.release)
	name, err := h.s.Attach(st, &envelope.PluginInfo{Name: "stubborn"})
	require.NoError(t, err)
	go func() { _, _ = h.s.Call("", name, "Hang", nil) }()
	recv(t, st.entered, "Hang to start")

	done := make(chan error, 1)
	go func() { done <- h.s.Shutdown("") }()
	err = recv(t, done, "Shutdown to return despite the stubborn method")
	assert.ErrorContains(t, err, "stubborn")
}
