package socket

import (
	"errors"
	"net"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// Errors a Socket returns besides the envelope ones.
var (
	// ErrShutdown is envelope.ErrShutdown: the socket, or the plugin's
	// connection, is shut down.
	ErrShutdown = envelope.ErrShutdown
	// ErrMethodNotFound is envelope.ErrMethodNotFound.
	ErrMethodNotFound = envelope.ErrMethodNotFound
	// ErrNoPlugin is wrapped by errors for a name no connected plugin has.
	ErrNoPlugin = errors.New("no such plugin")
	// ErrReservedMethod is wrapped by the error for a call to a method
	// whose name starts with "$/": those are the protocol's own (see
	// docs/protocol.md), and sending one as a call would, say, make a
	// plugin leave behind the socket's back. Use Unplug to stop a plugin.
	ErrReservedMethod = errors.New("reserved method")
)

// Socket hosts plugins that connect to it over one or more listeners. The
// zero value is ready to use; all methods are safe for concurrent use.
type Socket struct {
	mu        sync.Mutex
	cfg       *config
	plugins   map[string]*remote // live plugins, and names reserved mid-handshake
	index     index              // plugins again, for readers without mu (index.go)
	conns     map[*remote]struct{}
	listeners map[net.Listener]struct{}
	callbacks []func(info *envelope.PluginInfo, graceful bool)
	pending   []disconnect  // disconnects whose callbacks have yet to run
	dispatch  chan struct{} // closed when the callbacks' goroutine ends; nil when none runs
	changed   chan struct{} // closed and replaced whenever a plugin connects
	shut      bool
	closed    atomic.Bool // shut, for readers without mu
	shutDone  chan struct{}
	wg        sync.WaitGroup // accept loops and connections
	attached  sync.WaitGroup // in-process plugins' goroutines (Attach)
	serving   sync.WaitGroup // host services answering plugins (services.go)
	async     asyncQueue
	procs     launches // processes started by Launch
	services  atomic.Pointer[services]
	metrics   metrics // the counters Collectors exports (metrics.go)

	outputInvalid atomic.Uint64 // results outside their outputSchema (Config.ValidateOutput)
}

// config returns the socket's settings, with defaults for a zero Socket.
// s.mu must be held.
func (s *Socket) config() *config {
	if s.cfg == nil {
		c := defaults()
		s.cfg = &c
	}
	return s.cfg
}

func (s *Socket) settings() *config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.config()
}

// WaitFor waits until a plugin called name is connected and reports
// whether it is: true at once if it already is, false after timeout.
// name may be name@version, as for Call.
func (s *Socket) WaitFor(name string, timeout time.Duration) bool {
	var timer <-chan time.Time
	for {
		s.mu.Lock()
		r := s.resolve(name)
		if r != nil && r.state.live() {
			s.mu.Unlock()
			return true
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		if timer == nil {
			t := time.NewTimer(timeout)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-changed:
		case <-timer:
			return false
		}
	}
}

// Connected returns every connected plugin's info by name. The infos are
// copies, which share nothing with the socket or with any other result;
// with full false they leave out Functions. Within one result, plugins
// that described the same functions in the same bytes, which the socket
// keeps once, share one copy of them, as a deep copy keeps the sharing of
// what it copies: changing the Functions of one of them changes those of
// the others in the same result. PluginInfo gives a copy of its own. A
// plugin that connects or leaves meanwhile may or may not be in the map.
func (s *Socket) Connected(full bool) map[string]*envelope.PluginInfo {
	// Walked without Socket.mu, and copied as it goes: at 20,000 plugins
	// the copies take long enough to hold up every call if made under it.
	// The functions are copied once per description rather than once per
	// plugin: a copy for each of 20,000 plugins came to hundreds of
	// megabytes a call, and a poll of it kept the collector busy enough to
	// delay every call (docs/performance.md, "Bookkeeping without a
	// socket-wide lock").
	out := make(map[string]*envelope.PluginInfo, s.index.len())
	var copied map[unsafe.Pointer]map[string]typedesc.Function
	n := 0
	s.index.each(func(r *remote) bool {
		if !r.state.live() {
			return true
		}
		c := r.info.DeepCopy(false)
		if full && r.info.Functions != nil {
			// The key keeps the socket's map alive, so no other map can
			// take its address before the walk ends.
			key := reflect.ValueOf(r.info.Functions).UnsafePointer()
			fns, ok := copied[key]
			if !ok {
				fns = r.info.DeepCopy(true).Functions
				if copied == nil {
					copied = make(map[unsafe.Pointer]map[string]typedesc.Function)
				}
				copied[key] = fns
			}
			c.Functions = fns
		}
		out[r.info.Name] = c
		if n++; n%yieldEvery == 0 {
			runtime.Gosched()
		}
		return true
	})
	return out
}

// yieldEvery is how many plugins a walk of all of them (Connected) copies
// before it lets other goroutines run: at 20,000 plugins a walk takes
// long enough to hold a processor for the runtime's whole time slice, and
// the calls that wait behind it for that long (docs/performance.md,
// "Bookkeeping without a socket-wide lock").
const yieldEvery = 256

// PluginInfo returns a copy of the info of the plugin called name, with its
// functions, or nil when no such plugin is connected.
func (s *Socket) PluginInfo(name string) *envelope.PluginInfo {
	if r := s.resolve(name); r != nil && r.state.live() {
		return r.info.DeepCopy(true)
	}
	return nil
}

// Stats is a snapshot of a Socket's counters.
type Stats struct {
	Plugins      int    // plugins connected
	AsyncQueued  int    // items waiting to be read from Async
	AsyncBytes   int    // the memory they are counted as (Config.AsyncBytes)
	AsyncDropped uint64 // items dropped because the async queue was full, or that could not be decoded
	// OutputInvalid counts the results that were outside their function's
	// outputSchema, checked with Config.ValidateOutput.
	OutputInvalid uint64
}

// Stats returns the socket's counters.
func (s *Socket) Stats() Stats {
	n := 0
	s.index.each(func(r *remote) bool {
		if r.state.live() {
			n++
		}
		return true
	})
	q, b, d := s.async.stats()
	return Stats{Plugins: n, AsyncQueued: q, AsyncBytes: b, AsyncDropped: d, OutputInvalid: s.outputInvalid.Load()}
}
