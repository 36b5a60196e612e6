package socket_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/socket"
)

// A testplugins.Calc whose Release is never closed answers its pings (the plugin
// package does) but never a call to Block: the plugin these tests hold
// calls against.

// TestCallTimeoutBoundsCallsWithoutADeadline (issue 9, A6).
func TestCallTimeoutBoundsCallsWithoutADeadline(t *testing.T) {
	const timeout = 150 * time.Millisecond
	// A heartbeat much shorter than the call timeout: the plugin is seen
	// to be alive all along, and that alone never ends the call.
	h := newHost(t, "tcp", socket.Config{CallTimeout: timeout, HeartbeatInterval: 20 * time.Millisecond, HeartbeatMisses: 2})
	cbs := h.callbacks()
	c := newCalc()
	h.plug(c, "hung")

	start := time.Now()
	_, err := h.s.Call("call-1", "hung", "Block", 1)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "plugsock: call hung.Block (trace call-1): no answer within the call timeout of 150ms (Config.CallTimeout)")
	assert.GreaterOrEqual(t, elapsed, timeout)
	assert.Less(t, elapsed, 5*time.Second)
	assert.Equal(t, "call-1", recv(t, c.CtxDone, "the method's context to end"), "the plugin was told to cancel")

	// CallContext with a context that has no deadline gets the same.
	err = h.s.CallContext(context.Background(), "hung", "Block", 2, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "call timeout of 150ms")

	// A context's own deadline wins, shorter or longer.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = h.s.CallContext(ctx, "hung", "Block", 3, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotContains(t, err.Error(), "call timeout")
	const longer = 3 * timeout
	ctx, cancel = context.WithTimeout(context.Background(), longer)
	defer cancel()
	start = time.Now()
	err = h.s.CallContext(ctx, "hung", "Block", 4, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), longer, "the context's longer deadline, not the call timeout")

	// The plugin was never at fault: it is still connected and serving.
	got, err := h.s.Call("", "hung", "Add", testplugins.Args{A: 1, B: 2})
	require.NoError(t, err)
	assert.Equal(t, float64(3), got)
	select {
	case cb := <-cbs.ch:
		t.Fatalf("the plugin disconnected: %s", cb)
	default:
	}
}

// TestCallTimeoutOff: zero turns the call timeout off; a call then waits
// for its answer, however long.
func TestCallTimeoutOff(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{CallTimeout: -1})
	c := newCalc()
	h.plug(c, "slow")
	done := make(chan error, 1)
	go func() {
		_, err := h.s.Call("", "slow", "Block", 1)
		done <- err
	}()
	recv(t, c.Entered, "Block to run")
	select {
	case err := <-done:
		t.Fatalf("the call ended without an answer: %v", err)
	case <-time.After(300 * time.Millisecond): // a window for a timeout that must not come
	}
	close(c.Release)
	assert.NoError(t, recv(t, done, "the answer"))
	assert.Equal(t, socket.DefaultCallTimeout, 60*time.Second, "the documented default")
}

// TestBroadcastIsNotHeldUpByAHungPlugin (issue 9, A6): one plugin never
// answers; the broadcast returns at the call timeout with every other
// plugin's result, and the socket stays usable while it waits.
func TestBroadcastIsNotHeldUpByAHungPlugin(t *testing.T) {
	const timeout = 200 * time.Millisecond
	h := newHost(t, "tcp", socket.Config{CallTimeout: timeout})
	hung := newCalc()
	h.plug(hung, "hung")
	for i := range 3 {
		ok := newCalc()
		close(ok.Release)
		h.plug(ok, fmt.Sprint("ok", i))
	}

	type answer struct {
		results map[string]any
		errs    map[string]error
		took    time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		res, errs := h.s.Broadcast("bc-1", "Block", 7)
		done <- answer{res, errs, time.Since(start)}
	}()
	assert.Equal(t, "bc-1", recv(t, hung.Entered, "the hung plugin's Block"))
	// Broadcast holds no lock of the socket's while it waits.
	assert.Len(t, h.s.Connected(false), 4)
	assert.Equal(t, 4, h.s.Stats().Plugins)
	select {
	case <-done:
		t.Fatal("the broadcast ended before the call timeout")
	default:
	}
	a := recv(t, done, "the broadcast")
	assert.GreaterOrEqual(t, a.took, timeout)
	assert.Less(t, a.took, 5*time.Second)
	assert.Equal(t, map[string]any{"ok0": 7.0, "ok1": 7.0, "ok2": 7.0}, a.results)
	require.Len(t, a.errs, 1)
	assert.ErrorIs(t, a.errs["hung"], context.DeadlineExceeded)
	assert.ErrorContains(t, a.errs["hung"], "hung.Block (trace bc-1): no answer within the call timeout of 200ms")

	// BroadcastContext: the context's deadline bounds the whole of it,
	// and its trace id goes to every plugin.
	ctx, cancel := context.WithTimeout(envelope.WithTrace(context.Background(), "bc-2"), 50*time.Millisecond)
	defer cancel()
	res, errs := h.s.BroadcastContext(ctx, "Block", 8)
	assert.Len(t, res, 3)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs["hung"], context.DeadlineExceeded)
	assert.NotContains(t, errs["hung"].Error(), "call timeout")
	assert.Equal(t, "bc-2", recv(t, hung.Entered, "the second Block"))
}

// TestReservedMethodsAreRefused (issue 9, A7): a call to a "$/" method
// would make the plugin do what the protocol means by it (leave, for
// $/shutdown); every way of calling refuses it, and the plugin never sees
// it.
func TestReservedMethodsAreRefused(t *testing.T) {
	h := newHost(t, "tcp")
	cbs := h.callbacks()
	st := h.plug(newCalc(), "calc")

	check := func(err error, name, method string) {
		t.Helper()
		require.ErrorIs(t, err, socket.ErrReservedMethod)
		assert.EqualError(t, err, `plugsock: call `+name+`.`+method+`: reserved method: methods starting with "$/" belong to the protocol, not to the plugin (to stop a plugin, use Unplug)`)
	}
	for _, method := range []string{envelope.MethodShutdown, envelope.MethodHandshake, envelope.MethodPing, envelope.MethodAsync, envelope.MethodCancel, "$/anything"} {
		_, err := h.s.Call("", "calc", method, nil)
		check(err, "calc", method)
		check(h.s.CallContext(context.Background(), "calc", method, nil, nil), "calc", method)
		_, err = h.s.Call("", "nobody", method, nil)
		check(err, "nobody", method) // refused before the name is looked up

		res, errs := h.s.Broadcast("", method, nil)
		assert.Empty(t, res)
		require.Len(t, errs, 1)
		check(errs["calc"], "calc", method)
		res, errs = h.s.BroadcastContext(context.Background(), method, nil)
		assert.Empty(t, res)
		require.Len(t, errs, 1)
		check(errs["calc"], "calc", method)
	}

	// Nothing reached the plugin: it is connected and serving.
	got, err := h.s.Call("", "calc", "Add", testplugins.Args{A: 2, B: 3})
	require.NoError(t, err)
	assert.Equal(t, float64(5), got)
	assert.NotNil(t, h.s.PluginInfo("calc"))
	select {
	case cb := <-cbs.ch:
		t.Fatalf("the plugin left: %s", cb)
	case err := <-st.err:
		t.Fatalf("the plugin's Start returned: %v", err)
	default:
	}
}

// TestDisconnectCallbackDesignPattern (issue 9, A17): the original
// design's own test registers a callback that sends on an unbuffered
// channel, unplugs the plugin, and only then receives. Unplug must return
// without waiting for the callback.
func TestDisconnectCallbackDesignPattern(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			h := newHost(t, transport)
			name := h.plugVia(transport, newCalc(), "calc")
			gone := make(chan bool) // unbuffered, as in the design's test
			h.s.RegisterCallback(func(_ *envelope.PluginInfo, graceful bool) { gone <- graceful })

			done := make(chan bool, 1)
			go func() {
				h.s.Unplug("", name)
				done <- <-gone
			}()
			assert.True(t, recv(t, done, "Unplug and then the callback"), "graceful")
			assert.Nil(t, h.s.PluginInfo(name), "gone once Unplug has returned")
		})
	}
}

// TestDisconnectCallbacksRunInOrder: callbacks run one after another in
// disconnect order, and a callback that blocks holds up neither Unplug
// nor the plugins' connections, only the callbacks after it.
func TestDisconnectCallbacksRunInOrder(t *testing.T) {
	h := newHost(t, "tcp")
	release := make(chan struct{})
	seen := make(chan string, 16)
	h.s.RegisterCallback(func(info *envelope.PluginInfo, _ bool) {
		seen <- "1:" + info.Name
		<-release
	})
	h.s.RegisterCallback(func(info *envelope.PluginInfo, _ bool) { seen <- "2:" + info.Name })
	names := []string{"a", "b", "c", "d"}
	for _, n := range names {
		h.plug(newCalc(), n)
	}
	for _, n := range names {
		h.s.Unplug("", n) // returns although the first callback blocks
		assert.Nil(t, h.s.PluginInfo(n))
	}
	assert.Equal(t, "1:a", recv(t, seen, "the first callback"))
	assert.Empty(t, seen, "the others wait for it")
	close(release)
	var got []string
	for range 2*len(names) - 1 {
		got = append(got, recv(t, seen, "a callback"))
	}
	assert.Equal(t, []string{"2:a", "1:b", "2:b", "1:c", "2:c", "1:d", "2:d"}, got)
}

// TestShutdownDoesNotWaitForeverForACallback (issue 9, A17): a callback
// that never returns holds Shutdown up for the shutdown timeout, then
// Shutdown logs it and returns; the callback's goroutine ends once the
// callback does.
func TestShutdownDoesNotWaitForeverForACallback(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	const timeout = 200 * time.Millisecond
	var logs logBuffer
	h := newHost(t, "tcp", socket.Config{ShutdownTimeout: timeout, Logger: logs.logger()})
	block := make(chan struct{})
	entered := make(chan string, 1)
	h.s.RegisterCallback(func(info *envelope.PluginInfo, _ bool) {
		entered <- info.Name
		<-block
	})
	h.plug(newCalc(), "calc")

	start := time.Now()
	require.NoError(t, h.s.Shutdown(""))
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, timeout, "Shutdown waited for the callback")
	assert.Less(t, took, 5*time.Second)
	assert.Equal(t, "calc", recv(t, entered, "the callback"))
	logs.waitFor(t, 1, "a disconnect callback has not returned within the shutdown timeout; it outlives Shutdown")

	close(block)
	h.wg.Wait() // the plugin's Start
	goleak.VerifyNone(t, ignore)
}

// TestCallbackMayCallUnplugAndShutdown (issue 9, A17): a callback that
// unplugs another plugin, and one that shuts the socket down, deadlock
// nothing. Shutdown called from a callback waits for that callback, that
// is for itself, for the shutdown timeout, and returns; the callbacks
// after it run once it has.
func TestCallbackMayCallUnplugAndShutdown(t *testing.T) {
	const timeout = 200 * time.Millisecond
	var logs logBuffer
	h := newHost(t, "tcp", socket.Config{ShutdownTimeout: timeout, Logger: logs.logger()})
	done := make(chan error, 1)
	seen := make(chan string, 3)
	h.s.RegisterCallback(func(info *envelope.PluginInfo, _ bool) {
		seen <- info.Name
		switch info.Name {
		case "a":
			h.s.Unplug("", "b") // b's callbacks run after this one returns
		case "b":
			done <- h.s.Shutdown("")
		}
	})
	h.plug(newCalc(), "a")
	h.plug(newCalc(), "b")
	h.plug(newCalc(), "c")
	start := time.Now()
	h.s.Unplug("", "a")
	require.NoError(t, recv(t, done, "Shutdown from the callback"))
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, timeout, "it waited for the callback calling it")
	assert.Less(t, took, 5*time.Second)
	logs.waitFor(t, 1, "it outlives Shutdown")
	require.NoError(t, h.s.Shutdown(""), "the first Shutdown is over")
	got := []string{recv(t, seen, "a"), recv(t, seen, "b"), recv(t, seen, "c")}
	assert.Equal(t, []string{"a", "b", "c"}, got)
}
