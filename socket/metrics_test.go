package socket_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// gather registers s's collectors on a fresh registry and gathers them by
// name.
func gather(t *testing.T, s *socket.Socket) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(s.Collectors()[0]))
	for _, c := range s.Collectors()[1:] {
		require.NoError(t, reg.Register(c))
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// series returns the metric of family name with exactly labels, or nil.
func series(mfs map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		want := make(map[string]string)
		for i := 0; i < len(labels); i += 2 {
			want[labels[i]] = labels[i+1]
		}
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

// counterValue is the value of a counter series, -1 when it is missing.
func counterValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := series(mfs, name, labels...)
	if m == nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// buckets maps a histogram's upper bounds to their cumulative counts.
func buckets(h *dto.Histogram) map[float64]uint64 {
	out := make(map[float64]uint64)
	for _, b := range h.GetBucket() {
		out[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	return out
}

func TestMetricsCalls(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{MaxInFlight: 1})
	calc := newCalc()
	h.plug(calc, "calc")
	s := h.s
	ctx := context.Background()

	for i := range 3 {
		var n int
		require.NoError(t, s.CallContext(ctx, "calc", "Add", map[string]int{"a": i, "b": 1}, &n))
	}
	for range 2 {
		var me *envelope.Error
		require.ErrorAs(t, s.CallContext(ctx, "calc", "Div", map[string]int{"a": 1, "b": 0}, nil), &me)
	}
	require.ErrorIs(t, s.CallContext(ctx, "calc", "Add", "not an object", nil), envelope.ErrInvalidParams)
	require.ErrorIs(t, s.CallContext(ctx, "calc", "Nope", nil, nil), socket.ErrMethodNotFound)

	// A timeout: the plugin holds Block until its context ends.
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	require.ErrorIs(t, s.CallContext(tctx, "calc", "Block", 1, nil), context.DeadlineExceeded)
	cancel()
	recv(t, calc.CtxDone, "the timed-out Block's end")

	// Cancelled, and overloaded while it is in flight (MaxInFlight 1).
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.CallContext(cctx, "calc", "Block", 2, nil) }()
	recv(t, calc.Entered, "Block entered")
	recv(t, calc.Entered, "the second Block entered")
	octx, ocancel := context.WithTimeout(ctx, 20*time.Millisecond)
	require.ErrorIs(t, s.CallContext(octx, "calc", "Add", map[string]int{"a": 1, "b": 1}, nil), socket.ErrOverloaded, "waited for room until its deadline")
	ocancel()
	cancel()
	require.ErrorIs(t, recv(t, done, "the cancelled Block"), context.Canceled)
	recv(t, calc.CtxDone, "the cancelled Block's end")

	// Async: three items, read back before they are counted.
	require.NoError(t, s.CallContext(ctx, "calc", "Emit", []string{"a", "b", "c"}, nil))
	for got := 0; got < 3; {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		d, err := s.AsyncContext(actx)
		cancel()
		require.NoError(t, err)
		if _, ok := d.Payload.(string); ok {
			got++
		}
	}

	mfs := gather(t, s)
	assert.Equal(t, 1.0, mfs["plugsock_plugins_connected"].GetMetric()[0].GetGauge().GetValue())
	want := map[[2]string]float64{
		{"Add", "ok"}:             3,
		{"Add", "invalid_params"}: 1,
		{"Add", "overloaded"}:     1,
		{"Div", "method_error"}:   2,
		{"(other)", "not_found"}:  1,
		{"Block", "timeout"}:      1,
		{"Block", "cancelled"}:    1,
		{"Emit", "ok"}:            1,
	}
	require.Len(t, mfs["plugsock_calls_total"].GetMetric(), len(want), "only the outcomes that happened have series")
	for k, n := range want {
		assert.Equal(t, n, counterValue(mfs, "plugsock_calls_total", "plugin", "calc", "method", k[0], "outcome", k[1]), "%s %s", k[0], k[1])
	}

	// Every call is timed but the overloaded one, which waited for room, not for the plugin.
	counts := map[string]uint64{"Add": 4, "Div": 2, "(other)": 1, "Block": 2, "Emit": 1}
	require.Len(t, mfs["plugsock_call_duration_seconds"].GetMetric(), len(counts))
	for method, n := range counts {
		m := series(mfs, "plugsock_call_duration_seconds", "plugin", "calc", "method", method)
		require.NotNil(t, m, method)
		hist := m.GetHistogram()
		assert.Equal(t, n, hist.GetSampleCount(), method)
		b := buckets(hist)
		require.Len(t, b, 14, method)
		assert.Equal(t, n, b[10], "%s: every call within 10s", method)
		if method == "Block" {
			// The timed-out one waited 20ms or more.
			assert.LessOrEqual(t, b[0.01], uint64(1), "Blocks within 10ms")
			assert.GreaterOrEqual(t, hist.GetSampleSum(), 0.02)
		}
	}

	assert.Equal(t, 3.0, counterValue(mfs, "plugsock_async_items_total", "plugin", "calc"))
	assert.Nil(t, series(mfs, "plugsock_async_dropped_total", "plugin", "calc"), "nothing dropped")
}

func TestMetricsUnknownMethodsFold(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")
	for range 1000 {
		err := h.s.CallContext(context.Background(), "calc", fmt.Sprintf("M%x", rand.Uint64()), nil, nil)
		require.ErrorIs(t, err, socket.ErrMethodNotFound)
	}
	mfs := gather(t, h.s)
	calls := mfs["plugsock_calls_total"].GetMetric()
	require.Len(t, calls, 1)
	assert.Equal(t, 1000.0, counterValue(mfs, "plugsock_calls_total", "plugin", "calc", "method", "(other)", "outcome", "not_found"))
	require.Len(t, mfs["plugsock_call_duration_seconds"].GetMetric(), 1)
	assert.Equal(t, uint64(1000), series(mfs, "plugsock_call_duration_seconds", "plugin", "calc", "method", "(other)").GetHistogram().GetSampleCount())
}

// A plugin's versions share its base name's series; a plugin that left
// keeps them, and goes on counting when it comes back.
func TestMetricsVersionsAndDeparture(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")
	v2, err := h.s.Attach(newCalc(), &envelope.PluginInfo{Name: "calc", Version: "2.0.0"})
	require.NoError(t, err)
	require.Equal(t, "calc@2.0.0", v2)
	ctx := context.Background()
	require.NoError(t, h.s.CallContext(ctx, v2, "Echo", "x", nil))
	assert.Equal(t, 2.0, gather(t, h.s)["plugsock_plugins_connected"].GetMetric()[0].GetGauge().GetValue())
	h.s.Unplug("", v2)
	h.s.Unplug("", "calc")
	mfs := gather(t, h.s)
	assert.Equal(t, 0.0, mfs["plugsock_plugins_connected"].GetMetric()[0].GetGauge().GetValue())
	assert.Equal(t, 1.0, counterValue(mfs, "plugsock_calls_total", "plugin", "calc", "method", "Echo", "outcome", "ok"))

	h.plug(newCalc(), "calc")
	require.NoError(t, h.s.CallContext(ctx, "calc", "Echo", "x", nil))
	mfs = gather(t, h.s)
	assert.Equal(t, 2.0, counterValue(mfs, "plugsock_calls_total", "plugin", "calc", "method", "Echo", "outcome", "ok"))

	// Plugins that leave push the oldest departed one's series out, so
	// that names coming and going cannot pile series up.
	h.s.Unplug("", "calc")
	for i := range 16 {
		name := fmt.Sprintf("p%d", i)
		h.plug(newCalc(), name)
		require.NoError(t, h.s.CallContext(ctx, name, "Echo", "x", nil))
		h.s.Unplug("", name)
	}
	mfs = gather(t, h.s)
	assert.Equal(t, -1.0, counterValue(mfs, "plugsock_calls_total", "plugin", "calc", "method", "Echo", "outcome", "ok"))
	assert.Len(t, mfs["plugsock_calls_total"].GetMetric(), 16)
}
