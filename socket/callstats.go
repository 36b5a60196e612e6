package socket

import (
	"math"
	"slices"
	"strings"
	"time"
)

// CallStats is a snapshot of the counts behind the socket's metrics
// (Collectors), for a program that wants the numbers without a Prometheus
// registry: a console, a terminal view, a test. Every count is cumulative,
// from when the socket first counted the plugin name; a rate is the
// difference of two snapshots over the difference of their At, and a
// latency percentile over an interval comes from the difference of their
// Durations.
type CallStats struct {
	// At is when the snapshot was taken.
	At time.Time `json:"at"`
	// Bounds are the upper bounds, in seconds and in increasing order, of
	// the buckets of every Durations: those of the histogram
	// plugsock_call_duration_seconds.
	Bounds []float64 `json:"bounds"`
	// Plugins are the plugin names counted, sorted: those connected and
	// the last 16 to leave, as for the metrics.
	Plugins []PluginCalls `json:"plugins"`
}

// PluginCalls is what the socket has counted of one plugin name.
type PluginCalls struct {
	// Plugin is the plugin's name without "@version": the versions of a
	// plugin share their counts, as they share their series (the plugin
	// label).
	Plugin string `json:"plugin"`
	// Connections is how many connections hold the name now: 0 once the
	// plugin has left (its counts are kept, so that it goes on counting
	// if it comes back), more than 1 while several versions of it are
	// connected.
	Connections int `json:"connections"`
	// Calls sums the calls to every method of the plugin.
	Calls CallCounts `json:"calls"`
	// Methods are the counts of each method that has been called, sorted
	// by name; calls to methods the plugin did not describe, and to those
	// past the 512 a name may count on their own, are counted together
	// under "(other)", last.
	Methods []CallCounts `json:"methods"`
	// AsyncItems counts the async data items from the plugin that reached
	// the async queue, and AsyncDropped those of them dropped from it.
	AsyncItems   uint64 `json:"asyncItems"`
	AsyncDropped uint64 `json:"asyncDropped"`
	// Restarts counts the processes Launch started again after an exit,
	// and Exits the exits of its processes by reason: "exited" (status
	// 0), "failed" (a non-zero status), "signalled" or "lost" (how it
	// ended could not be learnt); reasons with none are left out. Both
	// are zero for a plugin that was not launched.
	Restarts uint64            `json:"restarts"`
	Exits    map[string]uint64 `json:"exits,omitempty"`
}

// CallCounts counts the calls to one method, or to all of a plugin's.
type CallCounts struct {
	// Method is the method's name; empty in PluginCalls.Calls.
	Method string `json:"method,omitempty"`
	// Outcomes counts the calls by how they ended, keyed by the outcome
	// label of plugsock_calls_total: "ok", "method_error",
	// "invalid_params", "not_found", "timeout", "cancelled", "overloaded"
	// or "lost" (docs/guide.md, "Metrics"). Outcomes with no calls are
	// left out.
	Outcomes map[string]uint64 `json:"outcomes"`
	// Durations counts the calls by how long the caller waited:
	// Durations[i] those that took at most Bounds[i] and more than the
	// bound before it, and the last, one past Bounds, those that took
	// longer than every bound. Calls that ended as overloaded waited
	// for room, not for the plugin, and are not timed.
	Durations []uint64 `json:"durations"`
	// Seconds is the time the timed calls took, added up.
	Seconds float64 `json:"seconds"`
}

// Total returns the number of calls counted, whatever their outcome.
func (c CallCounts) Total() uint64 {
	var n uint64
	for _, v := range c.Outcomes {
		n += v
	}
	return n
}

// Failed returns the number of calls that did not end "ok".
func (c CallCounts) Failed() uint64 { return c.Total() - c.Outcomes[outcomeNames[outcomeOK]] }

// CallStats returns a snapshot of the socket's call counts, by plugin name
// and method. It reads the counters the metrics are made of, under the
// lock a scrape takes, and counts nothing itself: calls pay nothing more
// for it. Its cost grows with the plugins and methods counted, so it is
// for monitoring, once a second or so, not for every call.
func (s *Socket) CallStats() CallStats {
	out := CallStats{At: time.Now(), Bounds: slices.Clone(durationBuckets[:]), Plugins: []PluginCalls{}}
	m := &s.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, p := range m.plugins {
		pc := PluginCalls{
			Plugin:       name,
			Connections:  p.refs,
			Calls:        newCallCounts(""),
			Methods:      []CallCounts{},
			AsyncItems:   p.asyncIn.Load(),
			AsyncDropped: p.asyncOut.Load(),
			Restarts:     p.restarts.Load(),
		}
		for i := range p.exits {
			if n := p.exits[i].Load(); n > 0 {
				if pc.Exits == nil {
					pc.Exits = make(map[string]uint64, numExits)
				}
				pc.Exits[exitNames[i]] = n
			}
		}
		for method, ms := range p.methodMap() {
			pc.add(method, ms)
		}
		slices.SortFunc(pc.Methods, func(a, b CallCounts) int { return strings.Compare(a.Method, b.Method) })
		pc.add(otherMethod, &p.other) // last, whatever its name sorts as
		out.Plugins = append(out.Plugins, pc)
	}
	slices.SortFunc(out.Plugins, func(a, b PluginCalls) int { return strings.Compare(a.Plugin, b.Plugin) })
	return out
}

func newCallCounts(method string) CallCounts {
	return CallCounts{Method: method, Outcomes: map[string]uint64{}, Durations: make([]uint64, len(durationBuckets)+1)}
}

// add reads the counts of method, with stats ms, into pc: into its
// Methods when the method has been called, and into its Calls.
func (pc *PluginCalls) add(method string, ms *methodStats) {
	c := newCallCounts(method)
	var n uint64
	for i := range ms.outcomes {
		if v := ms.outcomes[i].Load(); v > 0 {
			c.Outcomes[outcomeNames[i]] = v
			pc.Calls.Outcomes[outcomeNames[i]] += v
			n += v
		}
	}
	for i := range ms.buckets {
		c.Durations[i] = ms.buckets[i].Load()
		pc.Calls.Durations[i] += c.Durations[i]
	}
	c.Seconds = math.Float64frombits(ms.sum.Load())
	pc.Calls.Seconds += c.Seconds
	if n > 0 {
		pc.Methods = append(pc.Methods, c)
	}
}
