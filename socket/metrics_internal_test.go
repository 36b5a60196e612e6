package socket

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

func TestClassify(t *testing.T) {
	for err, want := range map[error]string{
		nil: "ok",
		&envelope.Error{Code: 1, Message: "boom"}:              "method_error",
		envelope.Errorf(envelope.CodeInvalidParams, "bad"):     "invalid_params",
		fmt.Errorf("host side: %w", envelope.ErrInvalidParams): "invalid_params",
		envelope.Errorf(envelope.CodeMethodNotFound, "no"):     "not_found",
		fmt.Errorf("call: %w", context.DeadlineExceeded):       "timeout",
		context.Canceled: "cancelled",
		envelope.Errorf(envelope.CodeRequestCancelled, "cancelled"): "cancelled",
		fmt.Errorf("limit: %w", ErrOverloaded):                      "overloaded",
		envelope.Errorf(envelope.CodeOverloaded, "busy"):            "overloaded",
		fmt.Errorf("call: %w", ErrShutdown):                         "lost",
		envelope.Errorf(envelope.CodeShuttingDown, "leaving"):       "lost",
		errors.New("read tcp: connection reset by peer"):            "lost",
	} {
		assert.Equal(t, want, outcomeNames[classify(err)], "%v", err)
	}
}

func TestExitReason(t *testing.T) {
	assert.Equal(t, "exited", exitNames[exitReason(nil)])
	assert.Equal(t, "lost", exitNames[exitReason(errors.New("wait: no child processes"))])
}

// Durations land in exactly the buckets they belong to, and a plugin's
// versions share the base name's series.
func TestMetricsBuckets(t *testing.T) {
	var s Socket
	rs := s.metrics.join("calc@2.0.0", map[string]typedesc.Function{"Add": {}})
	for _, d := range []time.Duration{300 * time.Microsecond, 500 * time.Microsecond, 700 * time.Microsecond, 3 * time.Millisecond, 20 * time.Second} {
		rs.method("Add").record(nil, d)
	}
	rs.method("Add").record(ErrOverloaded, time.Hour) // counted, not timed
	rs.method("Sub").record(ErrMethodNotFound, time.Millisecond)

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(s.Collectors()[0]))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var hists int
	for _, mf := range mfs {
		if mf.GetName() != "plugsock_call_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			hists++
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			require.Equal(t, "calc", labels["plugin"])
			h := m.GetHistogram()
			got := map[float64]uint64{}
			for _, b := range h.GetBucket() {
				got[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			switch labels["method"] {
			case "Add":
				assert.Equal(t, uint64(5), h.GetSampleCount())
				assert.InDelta(t, 20.0045, h.GetSampleSum(), 1e-9)
				assert.Equal(t, map[float64]uint64{.0005: 2, .001: 3, .0025: 3, .005: 4, .01: 4, .025: 4, .05: 4, .1: 4, .25: 4, .5: 4, 1: 4, 2.5: 4, 5: 4, 10: 4}, got)
			case "(other)":
				assert.Equal(t, uint64(1), h.GetSampleCount())
				assert.Equal(t, uint64(0), got[.0005])
				assert.Equal(t, uint64(1), got[.001], "a bound is inclusive")
			default:
				t.Errorf("unexpected method %q", labels["method"])
			}
		}
	}
	assert.Equal(t, 2, hists)
	s.metrics.leave(rs)
}

// A method's counters are made on its first call, not at connect, and a
// name counts at most maxMethodSeries methods of its own, whatever its
// connections described: the rest share "(other)".
func TestMethodStatsMadeOnFirstCall(t *testing.T) {
	var s Socket
	fns := make(map[string]typedesc.Function, maxMethodSeries+10)
	for i := range maxMethodSeries + 10 {
		fns[fmt.Sprint("M", i)] = typedesc.Function{}
	}
	rs := s.metrics.join("wide", fns)
	defer s.metrics.leave(rs)
	assert.Empty(t, rs.plugin.methodMap(), "nothing counted before a call")

	first := rs.method("M0")
	first.record(nil, time.Millisecond)
	assert.Same(t, first, rs.method("M0"), "one counter per method")
	assert.Len(t, rs.plugin.methodMap(), 1)

	// A second connection of the name (another version) shares them.
	rs2 := s.metrics.join("wide@2", fns)
	defer s.metrics.leave(rs2)
	assert.Same(t, first, rs2.method("M0"))

	own := 0
	for i := range maxMethodSeries + 10 {
		if rs.method(fmt.Sprint("M", i)) != &rs.plugin.other {
			own++
		}
	}
	assert.Equal(t, maxMethodSeries, own)
	assert.Len(t, rs.plugin.methodMap(), maxMethodSeries)
	assert.Same(t, &rs.plugin.other, rs.method("NotDescribed"))
	assert.Equal(t, uint64(1), s.CallStats().Plugins[0].Methods[0].Total())
}
