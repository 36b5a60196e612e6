package socket_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// methodsOf returns a plugin's CallCounts by method, and their order.
func methodsOf(p socket.PluginCalls) (map[string]socket.CallCounts, []string) {
	by := make(map[string]socket.CallCounts)
	var order []string
	for _, m := range p.Methods {
		by[m.Method] = m
		order = append(order, m.Method)
	}
	return by, order
}

func sumCounts(ns []uint64) uint64 {
	var n uint64
	for _, v := range ns {
		n += v
	}
	return n
}

func TestCallStatsCountsCallsByMethodAndOutcome(t *testing.T) {
	h := newHost(t, "tcp")
	calc := newCalc()
	h.plug(calc, "calc")
	s := h.s
	ctx := context.Background()

	before := s.CallStats()
	assert.Equal(t, []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, before.Bounds)
	require.Len(t, before.Plugins, 1)
	p := before.Plugins[0]
	assert.Equal(t, "calc", p.Plugin)
	assert.Equal(t, 1, p.Connections)
	assert.Empty(t, p.Methods, "no method has been called")
	assert.Zero(t, p.Calls.Total())
	assert.Len(t, p.Calls.Durations, len(before.Bounds)+1)

	for i := range 3 {
		require.NoError(t, s.CallContext(ctx, "calc", "Add", map[string]int{"a": i, "b": 1}, nil))
	}
	for range 2 {
		var me *envelope.Error
		require.ErrorAs(t, s.CallContext(ctx, "calc", "Div", map[string]int{"a": 1, "b": 0}, nil), &me)
	}
	require.ErrorIs(t, s.CallContext(ctx, "calc", "Nope", nil, nil), socket.ErrMethodNotFound)
	// A timeout: the plugin holds Block until its context ends, so the
	// call waits 30ms at least.
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	require.ErrorIs(t, s.CallContext(tctx, "calc", "Block", 1, nil), context.DeadlineExceeded)
	cancel()
	recv(t, calc.CtxDone, "the timed-out Block's end")
	require.NoError(t, s.CallContext(ctx, "calc", "Emit", []string{"a", "b"}, nil))
	require.Eventually(t, func() bool { return s.CallStats().Plugins[0].AsyncItems == 2 }, 10*time.Second, 5*time.Millisecond)

	st := s.CallStats()
	assert.False(t, st.At.Before(before.At))
	require.Len(t, st.Plugins, 1)
	p = st.Plugins[0]
	by, order := methodsOf(p)
	assert.Equal(t, []string{"Add", "Block", "Div", "Emit", "(other)"}, order, "sorted, (other) last")
	assert.Equal(t, map[string]uint64{"ok": 3}, by["Add"].Outcomes)
	assert.Equal(t, map[string]uint64{"method_error": 2}, by["Div"].Outcomes)
	assert.Equal(t, map[string]uint64{"not_found": 1}, by["(other)"].Outcomes)
	assert.Equal(t, map[string]uint64{"timeout": 1}, by["Block"].Outcomes)
	assert.Equal(t, map[string]uint64{"ok": 4, "method_error": 2, "not_found": 1, "timeout": 1}, p.Calls.Outcomes)
	assert.Equal(t, uint64(8), p.Calls.Total())
	assert.Equal(t, uint64(4), p.Calls.Failed())
	assert.Equal(t, uint64(2), by["Div"].Failed())
	assert.Equal(t, uint64(2), p.AsyncItems)
	assert.Zero(t, p.AsyncDropped)
	assert.Zero(t, p.Restarts)
	assert.Nil(t, p.Exits, "it was not launched")

	// Every call is timed: its bucket's count is one more.
	assert.Equal(t, uint64(8), sumCounts(p.Calls.Durations))
	var seconds float64
	for _, m := range p.Methods {
		require.Len(t, m.Durations, len(st.Bounds)+1, m.Method)
		assert.Equal(t, m.Total(), sumCounts(m.Durations), m.Method)
		seconds += m.Seconds
	}
	assert.InDelta(t, seconds, p.Calls.Seconds, 1e-9)
	block := by["Block"]
	assert.GreaterOrEqual(t, block.Seconds, 0.03)
	for i, b := range st.Bounds {
		if b < 0.03 {
			assert.Zero(t, block.Durations[i], "a call that took 30ms or more counted within %vs", b)
		}
	}

	// They are the metrics' counts.
	mfs := gather(t, s)
	for _, m := range p.Methods {
		for outcome, n := range m.Outcomes {
			assert.Equal(t, float64(n), counterValue(mfs, "plugsock_calls_total", "plugin", "calc", "method", m.Method, "outcome", outcome))
		}
		hist := series(mfs, "plugsock_call_duration_seconds", "plugin", "calc", "method", m.Method).GetHistogram()
		assert.Equal(t, sumCounts(m.Durations), hist.GetSampleCount(), m.Method)
		assert.InDelta(t, m.Seconds, hist.GetSampleSum(), 1e-9, m.Method)
		cum := buckets(hist)
		var n uint64
		for i, b := range st.Bounds {
			n += m.Durations[i]
			assert.Equal(t, n, cum[b], "%s, bucket %v", m.Method, b)
		}
	}
}

// The versions of a plugin share one entry; a plugin that leaves keeps
// its counts, with no connection, and goes on counting when it comes
// back.
func TestCallStatsVersionsAndDeparture(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")
	v2, err := h.s.Attach(newCalc(), &envelope.PluginInfo{Name: "calc", Version: "2.0.0"})
	require.NoError(t, err)
	require.Equal(t, "calc@2.0.0", v2)
	ctx := context.Background()
	require.NoError(t, h.s.CallContext(ctx, "calc", "Echo", "x", nil))
	require.NoError(t, h.s.CallContext(ctx, v2, "Echo", "y", nil))

	st := h.s.CallStats()
	require.Len(t, st.Plugins, 1)
	assert.Equal(t, "calc", st.Plugins[0].Plugin)
	assert.Equal(t, 2, st.Plugins[0].Connections)
	assert.Equal(t, map[string]uint64{"ok": 2}, st.Plugins[0].Calls.Outcomes)

	h.s.Unplug("", v2)
	h.s.Unplug("", "calc")
	st = h.s.CallStats()
	require.Len(t, st.Plugins, 1)
	assert.Zero(t, st.Plugins[0].Connections)
	assert.Equal(t, uint64(2), st.Plugins[0].Calls.Total())

	h.plug(newCalc(), "calc")
	require.NoError(t, h.s.CallContext(ctx, "calc", "Echo", "z", nil))
	st = h.s.CallStats()
	require.Len(t, st.Plugins, 1)
	assert.Equal(t, 1, st.Plugins[0].Connections)
	assert.Equal(t, uint64(3), st.Plugins[0].Calls.Total())

	h.plug(newCalc(), "abacus")
	st = h.s.CallStats()
	require.Len(t, st.Plugins, 2)
	assert.Equal(t, "abacus", st.Plugins[0].Plugin, "sorted by name")
	assert.Equal(t, "calc", st.Plugins[1].Plugin)
}

// A snapshot is the socket's own copy: changing it changes nothing.
func TestCallStatsIsACopy(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")
	require.NoError(t, h.s.CallContext(context.Background(), "calc", "Echo", "x", nil))
	st := h.s.CallStats()
	st.Bounds[0] = 99
	st.Plugins[0].Methods[0].Outcomes["ok"] = 99
	st.Plugins[0].Calls.Durations[0] = 99
	again := h.s.CallStats()
	assert.Equal(t, .0005, again.Bounds[0])
	assert.Equal(t, uint64(1), again.Plugins[0].Methods[0].Outcomes["ok"])
	assert.Equal(t, uint64(1), sumCounts(again.Plugins[0].Calls.Durations))
}
