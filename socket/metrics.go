package socket

import (
	"context"
	"errors"
	"maps"
	"math"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// The metrics' names and labels are a contract: docs/guide.md lists them
// under "Metrics". Every count is kept in the socket's own atomics, read
// only when the registry is scraped, so that a call pays for no lock and
// no label lookup beyond one read of a map that never changes.

// otherMethod is the method label of calls to methods a plugin did not
// describe: folding them into one value keeps a plugin, or a caller, from
// creating a series per invented name.
const otherMethod = "(other)"

const (
	// keptDeparted is how many plugins that left keep their series, so
	// that a scrape still sees the calls they lost on the way out and a
	// plugin that comes back goes on counting where it was.
	keptDeparted = 16
	// maxMethodSeries bounds the methods with their own series under one
	// plugin name, across every connection that has used it: the rest
	// are counted as otherMethod.
	maxMethodSeries = 512
)

// durationBuckets are plugsock_call_duration_seconds' upper bounds: a
// call over a pipe takes microseconds, one over a network milliseconds.
var durationBuckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// outcome is a call's outcome label.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeMethodError
	outcomeInvalidParams
	outcomeNotFound
	outcomeTimeout
	outcomeCancelled
	outcomeOverloaded
	outcomeLost
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "method_error", "invalid_params", "not_found", "timeout", "cancelled", "overloaded", "lost"}

// classify is the outcome of a call that ended with err.
func classify(err error) outcome {
	if err == nil {
		// Before errors.As's target is declared: it escapes, and would
		// cost every call an allocation.
		return outcomeOK
	}
	return classifyErr(err)
}

func classifyErr(err error) outcome {
	var me *envelope.Error
	switch {
	case errors.Is(err, ErrOverloaded):
		return outcomeOverloaded
	case errors.Is(err, envelope.ErrInvalidParams):
		return outcomeInvalidParams
	case errors.Is(err, ErrMethodNotFound):
		return outcomeNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout
	case errors.Is(err, context.Canceled), errors.Is(err, envelope.ErrCancelled):
		return outcomeCancelled
	case errors.Is(err, ErrShutdown):
		return outcomeLost
	case errors.As(err, &me):
		return outcomeMethodError
	}
	return outcomeLost
}

// Exit reasons of plugsock_plugin_exits_total.
const (
	exitExited    = iota // exit status 0
	exitFailed           // a non-zero exit status
	exitSignalled        // killed by a signal
	exitLost             // waiting for it failed: how it ended is unknown
	numExits
)

var exitNames = [numExits]string{"exited", "failed", "signalled", "lost"}

// exitReason is the reason label of a process that ended with err, an
// error from exec.Cmd.Wait or nil.
func exitReason(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return exitExited
	case !errors.As(err, &ee):
		return exitLost
	}
	if ws, ok := ee.Sys().(interface{ Signaled() bool }); ok && ws.Signaled() {
		return exitSignalled
	}
	return exitFailed
}

// methodStats counts the calls to one method of one plugin name.
type methodStats struct {
	outcomes [numOutcomes]atomic.Uint64
	// buckets[i] counts the calls that took at most durationBuckets[i]
	// and more than the bound before it; the last, those above them all.
	// The total is their sum, so that a scrape's count and buckets agree.
	buckets [len(durationBuckets) + 1]atomic.Uint64
	sum     atomic.Uint64 // float64 bits, in seconds

	// The items of the method's streams that have ended, by direction:
	// the host's sent (in) and received (out). Open streams are counted
	// from their own stats when scraped (pluginStats.open).
	streamIn, streamOut atomic.Uint64
}

// record counts one call. A call that ended as overloaded is not timed:
// it waited for room (Config.MaxInFlight) rather than for the plugin, and
// its time would be its caller's deadline, not the plugin's answer.
func (m *methodStats) record(err error, d time.Duration) {
	o := classify(err)
	m.outcomes[o].Add(1)
	if o == outcomeOverloaded {
		return
	}
	sec := d.Seconds()
	i := 0
	for i < len(durationBuckets) && sec > durationBuckets[i] {
		i++
	}
	m.buckets[i].Add(1)
	for {
		old := m.sum.Load()
		if m.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+sec)) {
			return
		}
	}
}

// pluginStats counts one plugin name's calls, async items and processes,
// across its connections and versions.
type pluginStats struct {
	name     string
	asyncIn  atomic.Uint64
	asyncOut atomic.Uint64 // dropped
	restarts atomic.Uint64
	exits    [numExits]atomic.Uint64
	other    methodStats

	// methods holds the stats of each described method called so far,
	// made on its first call rather than at connect: an idle plugin with
	// many functions costs nothing for them, and a scrape shows only
	// series that have counted something either way (sendCounter). The
	// map is never changed once published; mmu serialises the copies
	// that add to it, at most maxMethodSeries of them.
	methods atomic.Pointer[map[string]*methodStats]
	mmu     sync.Mutex

	// Guarded by metrics.mu.
	refs int // connections holding it

	smu  sync.Mutex
	open map[*envelope.Stream]*methodStats // its streams open, with their method's stats
}

// methodMap returns p's methods as they are now: nil before the first
// call, which reads as an empty map.
func (p *pluginStats) methodMap() map[string]*methodStats {
	if m := p.methods.Load(); m != nil {
		return *m
	}
	return nil
}

// method returns the stats of method, made on its first call, or p.other
// once p counts maxMethodSeries methods.
func (p *pluginStats) method(method string) *methodStats {
	if ms := p.methodMap()[method]; ms != nil {
		return ms
	}
	p.mmu.Lock()
	defer p.mmu.Unlock()
	old := p.methodMap()
	if ms := old[method]; ms != nil {
		return ms
	}
	if len(old) >= maxMethodSeries {
		return &p.other
	}
	next := make(map[string]*methodStats, len(old)+1)
	maps.Copy(next, old)
	ms := new(methodStats)
	// Cloned: kept past the connection, a string that shares the
	// handshake's memory would pin all of it.
	next[strings.Clone(method)] = ms
	p.methods.Store(&next)
	return ms
}

// streamOpened counts st, a stream of method ms, from now on, and until
// it ends: then its items move to ms's counts, under the same lock a
// scrape takes, so that the count never goes back.
func (p *pluginStats) streamOpened(st *envelope.Stream, ms *methodStats) {
	p.smu.Lock()
	if p.open == nil {
		p.open = make(map[*envelope.Stream]*methodStats)
	}
	p.open[st] = ms
	p.smu.Unlock()
	go func() { // the stream's own; it ends with the stream
		<-st.Done()
		stats := st.Stats()
		p.smu.Lock()
		ms.streamIn.Add(stats.Sent)
		ms.streamOut.Add(stats.Received)
		delete(p.open, st)
		p.smu.Unlock()
	}()
}

// remoteStats is one connection's view of its plugin's stats: fns is the
// functions it described, shared with every connection that described the
// same, and never changed.
type remoteStats struct {
	plugin *pluginStats
	fns    map[string]typedesc.Function
}

// method returns the stats of calls to method; nil for a nil rs. A method
// the connection did not describe is counted as otherMethod.
func (rs *remoteStats) method(method string) *methodStats {
	if rs == nil {
		return nil
	}
	if _, ok := rs.fns[method]; ok {
		return rs.plugin.method(method)
	}
	return &rs.plugin.other
}

// metrics is a Socket's registry of plugin names with stats.
type metrics struct {
	mu       sync.Mutex
	plugins  map[string]*pluginStats
	departed []*pluginStats // held by no connection, oldest first
}

// metricsName is the plugin label for an assigned name: its base, so that
// the versions of a plugin share their series through a rolling upgrade.
func metricsName(name string) string {
	base, _, _ := strings.Cut(name, "@")
	return base
}

// plugin returns the stats of name, made when missing. m.mu must be held.
func (m *metrics) plugin(name string) *pluginStats {
	if p := m.plugins[name]; p != nil {
		return p
	}
	if m.plugins == nil {
		m.plugins = make(map[string]*pluginStats)
	}
	// Cloned, as the method names are: kept past the connection, a
	// string that shares the handshake's memory would pin all of it.
	name = strings.Clone(name)
	p := &pluginStats{name: name}
	m.plugins[name] = p
	m.depart(p)
	return p
}

// depart lists p, held by no connection now, among the departed, and
// forgets the oldest beyond keptDeparted. m.mu must be held.
func (m *metrics) depart(p *pluginStats) {
	m.departed = append(m.departed, p)
	if n := len(m.departed) - keptDeparted; n > 0 {
		for _, old := range m.departed[:n] {
			delete(m.plugins, old.name)
		}
		m.departed = append(m.departed[:0], m.departed[n:]...)
	}
}

// join gives a connection of the plugin assigned name, with functions
// fns, its stats.
func (m *metrics) join(name string, fns map[string]typedesc.Function) *remoteStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.plugin(metricsName(name))
	if p.refs == 0 {
		for i, d := range m.departed {
			if d == p {
				m.departed = append(m.departed[:i], m.departed[i+1:]...)
				break
			}
		}
	}
	p.refs++
	return &remoteStats{plugin: p, fns: fns}
}

// leave ends a connection's hold on its stats.
func (m *metrics) leave(rs *remoteStats) {
	if rs == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := rs.plugin; m.plugins[p.name] == p {
		if p.refs--; p.refs == 0 {
			m.depart(p)
		}
	}
}

// launched returns the stats of the launched plugin called name, for its
// supervisor's rare events.
func (m *metrics) launched(name string) *pluginStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.plugin(metricsName(name))
}

var (
	descConnected = prometheus.NewDesc("plugsock_plugins_connected",
		"Plugins connected to the socket.", nil, nil)
	descCalls = prometheus.NewDesc("plugsock_calls_total",
		"Calls to plugins, by outcome.", []string{"plugin", "method", "outcome"}, nil)
	descDuration = prometheus.NewDesc("plugsock_call_duration_seconds",
		"How long calls to plugins took, refused ones left out.", []string{"plugin", "method"}, nil)
	descAsyncItems = prometheus.NewDesc("plugsock_async_items_total",
		"Async data items from plugins that reached the async queue.", []string{"plugin"}, nil)
	descAsyncDropped = prometheus.NewDesc("plugsock_async_dropped_total",
		"Async data items from plugins dropped from the async queue.", []string{"plugin"}, nil)
	descRestarts = prometheus.NewDesc("plugsock_plugin_restarts_total",
		"Processes of launched plugins started again after an exit.", []string{"plugin"}, nil)
	descExits = prometheus.NewDesc("plugsock_plugin_exits_total",
		"Exits of launched plugins' processes, by reason.", []string{"plugin", "reason"}, nil)
	descStreamItems = prometheus.NewDesc("plugsock_stream_items_total",
		"Items through the streams of plugins' functions, by direction: in, host to plugin; out, plugin to host.", []string{"plugin", "method", "direction"}, nil)
)

// collector is a Socket's prometheus.Collector.
type collector struct{ s *Socket }

// Collectors returns the collectors of the socket's metrics, to register
// on the application's prometheus.Registerer; the socket never serves
// them itself. Their names and labels are listed under "Metrics" in
// docs/guide.md.
func (s *Socket) Collectors() []prometheus.Collector {
	return []prometheus.Collector{collector{s}}
}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descCalls, descDuration, descAsyncItems, descAsyncDropped, descRestarts, descExits, descStreamItems} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, float64(c.s.Stats().Plugins))
	m := &c.s.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, p := range m.plugins {
		for method, ms := range p.methodMap() {
			collectMethod(ch, name, method, ms)
		}
		collectMethod(ch, name, otherMethod, &p.other)
		sendCounter(ch, descAsyncItems, p.asyncIn.Load(), name)
		sendCounter(ch, descAsyncDropped, p.asyncOut.Load(), name)
		sendCounter(ch, descRestarts, p.restarts.Load(), name)
		for i := range p.exits {
			sendCounter(ch, descExits, p.exits[i].Load(), name, exitNames[i])
		}
		collectStreams(ch, name, p)
	}
}

// collectStreams sends the stream item counts of p's methods: those of
// ended streams plus those of the open ones, read under p.smu, which an
// ending stream takes to move its counts over.
func collectStreams(ch chan<- prometheus.Metric, name string, p *pluginStats) {
	p.smu.Lock()
	defer p.smu.Unlock()
	type counts struct{ in, out uint64 }
	byMethod := make(map[*methodStats]*counts)
	add := func(ms *methodStats, in, out uint64) {
		c := byMethod[ms]
		if c == nil {
			c = new(counts)
			byMethod[ms] = c
		}
		c.in += in
		c.out += out
	}
	methods := p.methodMap()
	for _, ms := range methods {
		if in, out := ms.streamIn.Load(), ms.streamOut.Load(); in+out > 0 {
			add(ms, in, out)
		}
	}
	for st, ms := range p.open {
		stats := st.Stats()
		add(ms, stats.Sent, stats.Received)
	}
	for method, ms := range methods {
		if c := byMethod[ms]; c != nil {
			sendCounter(ch, descStreamItems, c.in, name, method, "in")
			sendCounter(ch, descStreamItems, c.out, name, method, "out")
		}
	}
	if c := byMethod[&p.other]; c != nil {
		sendCounter(ch, descStreamItems, c.in, name, otherMethod, "in")
		sendCounter(ch, descStreamItems, c.out, name, otherMethod, "out")
	}
}

// sendCounter sends a counter's sample, if it has counted anything: a series
// per plugin and label that never happened would only add to the scrape.
func sendCounter(ch chan<- prometheus.Metric, d *prometheus.Desc, n uint64, labels ...string) {
	if n > 0 {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), labels...)
	}
}

func collectMethod(ch chan<- prometheus.Metric, plugin, method string, ms *methodStats) {
	for i := range ms.outcomes {
		sendCounter(ch, descCalls, ms.outcomes[i].Load(), plugin, method, outcomeNames[i])
	}
	var total uint64
	cum := make(map[float64]uint64, len(durationBuckets))
	for i, b := range durationBuckets {
		total += ms.buckets[i].Load()
		cum[b] = total
	}
	total += ms.buckets[len(durationBuckets)].Load()
	if total == 0 {
		return
	}
	ch <- prometheus.MustNewConstHistogram(descDuration, total, math.Float64frombits(ms.sum.Load()), cum, plugin, method)
}
