package socket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
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
	conns     map[*remote]struct{}
	listeners map[net.Listener]struct{}
	callbacks []func(info *envelope.PluginInfo, graceful bool)
	pending   []disconnect  // disconnects whose callbacks have yet to run
	dispatch  chan struct{} // closed when the callbacks' goroutine ends; nil when none runs
	changed   chan struct{} // closed and replaced whenever a plugin connects
	shut      bool
	shutDone  chan struct{}
	wg        sync.WaitGroup // accept loops and connections
	attached  sync.WaitGroup // in-process plugins' goroutines (Attach)
	async     asyncQueue
	procs     launches // processes started by Launch
}

// remote is the host's view of one plugin connection.
type remote struct {
	s       *Socket
	conn    *envelope.Conn
	session string
	addr    string
	launch  string        // the launch id the handshake presented
	gone    chan struct{} // closed once the disconnect has been reported
	cfg     *config       // the socket's settings when it connected
	calls   atomic.Int64  // calls waiting for an answer
	hb      *envelope.Heartbeat
	async   asyncSource // its data in the async queue, guarded by s.async.mu

	// Guarded by s.mu.
	info     *envelope.PluginInfo // set by the handshake, then read-only
	live     bool                 // handshake answered; calls may go out
	stopping bool                 // Unplug or Shutdown under way
	graceful bool                 // the plugin said goodbye or answered $/shutdown
	cutoff   bool                 // the socket gave up waiting for it
	decided  chan struct{}        // made when a stop begins; closed once graceful and cutoff are final
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

// Serve accepts plugin connections on listener in the background and
// returns at once. opts apply to the whole socket. Serve may be called for
// several listeners; Shutdown closes them all. On a socket that is shut
// down, Serve closes listener.
func (s *Socket) Serve(listener net.Listener, opts ...Options) {
	s.mu.Lock()
	c := *s.config()
	for _, o := range opts {
		o.apply(&c)
	}
	s.cfg = &c
	if s.shut {
		s.mu.Unlock()
		_ = listener.Close()
		return
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[listener] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.accept(listener)
}

func (s *Socket) accept(l net.Listener) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			shut := s.shut
			log := s.config().log
			s.mu.Unlock()
			if shut || errors.Is(err, net.ErrClosed) {
				return
			}
			if !temporary(err) {
				log.Error("plugsock: listener failed; no longer accepting on it", "addr", l.Addr().String(), "err", err)
				_ = l.Close()
				return
			}
			// A passing failure such as running out of file descriptors:
			// back off as net/http does, then accept again. Shutdown
			// closes l, so the next Accept returns at once.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.Warn("plugsock: accept failed; retrying", "err", err, "in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.serveConn(nc, nc.RemoteAddr().String())
	}
}

// temporary reports whether an Accept error is worth retrying: running out
// of file descriptors or a connection aborted before it was accepted.
func temporary(err error) bool {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serveConn runs one plugin connection: its read loop handles the
// handshake and everything after it.
func (s *Socket) serveConn(nc net.Conn, addr string) {
	cfg := s.settings()
	r := &remote{s: s, session: uuid.NewString(), addr: addr, gone: make(chan struct{}), cfg: cfg}
	var timer *time.Timer // set before the read loop starts, which stops it
	conn := envelope.NewConn(nc, envelope.ConnOptions{
		Handler:      r.handle,
		MaxFrameSize: cfg.maxFrame,
		WriteTimeout: cfg.writeTimeout,
		Logger:       cfg.log.With("addr", addr, "session", r.session),
		OnClose: func(err error) {
			timer.Stop()
			r.hb.Stop()
			s.disconnected(r, err)
		},
	})
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if s.conns == nil {
		s.conns = make(map[*remote]struct{})
	}
	// r.conn is set under the same lock that makes r visible to Shutdown,
	// and the timer's goroutine reads it under s.mu: the race detector
	// sees no order between setting a timer and its function running.
	r.conn = conn
	s.conns[r] = struct{}{}
	s.async.setBytes(cfg.asyncBytes)
	s.wg.Add(1)
	s.mu.Unlock()

	timer = time.AfterFunc(cfg.handshakeTimeout, func() {
		s.mu.Lock()
		live := r.info != nil
		s.mu.Unlock()
		if !live {
			cfg.log.Warn("plugsock: no handshake in time; closing", "addr", addr, "timeout", cfg.handshakeTimeout)
			conn.CloseWithError(fmt.Errorf("%w: no handshake within %v", envelope.ErrProtocol, cfg.handshakeTimeout))
		}
	})
	conn.Start()
}

// handle runs on the plugin's read loop.
func (r *remote) handle(c *envelope.Conn, m *envelope.Envelope) {
	r.s.mu.Lock()
	info := r.info
	r.s.mu.Unlock()
	if info == nil {
		r.handshake(c, m)
		return
	}
	switch m.Method {
	case envelope.MethodAsync:
		// Kept as JSON, decoded only when the host reads it (Async):
		// decoded, a payload can take many times its size.
		r.s.async.addData(&r.async, info.Name, m.Params, r.s.settings())
		if m.IsRequest() {
			// Meant as a notification; answer anyway so the peer never waits.
			_ = c.Reply(m.ID, nil)
		}
	case envelope.MethodPing:
		if m.IsRequest() {
			_ = c.Reply(m.ID, nil)
		}
	case envelope.MethodShutdown:
		// The plugin is leaving on its own, in good order.
		r.s.mu.Lock()
		r.graceful = true
		r.stopping = true
		r.s.mu.Unlock()
		if m.IsRequest() {
			_ = c.Reply(m.ID, nil)
		}
	case envelope.MethodHandshake:
		r.violation(c, m, "second handshake")
	default:
		if m.IsRequest() {
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
		}
	}
}

func (r *remote) violation(c *envelope.Conn, m *envelope.Envelope, what string) {
	err := fmt.Errorf("%w: %s", envelope.ErrProtocol, what)
	if m.IsRequest() {
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidRequest, "%s", err))
	}
	r.s.settings().log.Warn("plugsock: closing connection", "addr", r.addr, "reason", err)
	c.CloseWithError(err)
}

// disconnected reports the end of a connection: once, on its read loop.
func (s *Socket) disconnected(r *remote, err error) {
	s.mu.Lock()
	decided := r.decided
	s.mu.Unlock()
	if decided != nil {
		// The connection is gone, so the stop's $/shutdown call has
		// returned or is about to: this does not wait long.
		<-decided
	}
	s.mu.Lock()
	delete(s.conns, r)
	var info *envelope.PluginInfo
	if r.info != nil && s.plugins[r.info.Name] == r {
		delete(s.plugins, r.info.Name)
	}
	if r.live {
		info = r.info
	}
	graceful := r.graceful && !r.cutoff
	cfg := s.config()
	s.mu.Unlock()

	if info != nil {
		if graceful {
			cfg.log.Info("plugsock: plugin disconnected", "plugin", info.Name, "graceful", true, "session", r.session)
		} else {
			cfg.log.Warn("plugsock: plugin disconnected", "plugin", info.Name, "graceful", false, "reason", err, "addr", r.addr, "session", r.session)
		}
		s.async.push(envelope.AsyncData{Name: info.Name, Payload: envelope.Disconnected{Info: info.DeepCopy(false), Graceful: graceful}},
			cfg.asyncBuffer, cfg.asyncWait, cfg.log)
		s.mu.Lock()
		if len(s.callbacks) > 0 {
			s.pending = append(s.pending, disconnect{s.callbacks, info, graceful})
			if s.dispatch == nil {
				s.dispatch = make(chan struct{})
				go s.runCallbacks(s.dispatch)
			}
		}
		s.mu.Unlock()
	}
	close(r.gone)
	s.wg.Done()
}

// disconnect is one plugin's disconnect, for the callbacks.
type disconnect struct {
	callbacks []func(info *envelope.PluginInfo, graceful bool)
	info      *envelope.PluginInfo
	graceful  bool
}

// runCallbacks runs the callbacks for each disconnect queued, in order,
// and ends once none is left; it closes done as it ends. Running them
// here rather than on the plugin's connection goroutine is what lets a
// callback block on whoever called Unplug without deadlocking either.
func (s *Socket) runCallbacks(done chan struct{}) {
	defer close(done)
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.dispatch = nil
			s.mu.Unlock()
			return
		}
		d := s.pending[0]
		s.pending[0] = disconnect{}
		s.pending = s.pending[1:]
		s.mu.Unlock()
		for _, cb := range d.callbacks {
			s.runCallback(cb, d.info.DeepCopy(true), d.graceful)
		}
	}
}

// waitCallbacks waits for the callbacks queued so far to return, for at
// most timeout: a callback that never returns is left running, and
// logged, as a goroutine cannot be stopped from outside.
func (s *Socket) waitCallbacks(timeout time.Duration, cfg *config) {
	s.mu.Lock()
	done := s.dispatch
	s.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cfg.log.Warn("plugsock: a disconnect callback has not returned within the shutdown timeout; it outlives Shutdown", "timeout", timeout)
	}
}

func (s *Socket) runCallback(cb func(*envelope.PluginInfo, bool), info *envelope.PluginInfo, graceful bool) {
	defer func() {
		if v := recover(); v != nil {
			s.settings().log.Error("plugsock: disconnect callback panicked", "plugin", info.Name, "panic", v)
		}
	}()
	cb(info, graceful)
}

// RegisterCallback adds a function that runs once for every plugin that
// disconnects, after it is gone. graceful is true when the plugin left in
// good order (Unplug, Shutdown, or its own orderly exit) and false for a
// crash, a kill, a dropped connection or a plugin cut off at the shutdown
// timeout.
//
// Callbacks run one after another, in the order the plugins disconnected
// (for one disconnect, in the order they were registered), on a goroutine
// of the socket's that exists only while there are callbacks to run. No
// connection waits for them, and Unplug does not either: a callback may
// block until the code that called Unplug reads what it sends, or call
// Unplug itself. A slow callback delays only the callbacks after it.
// Shutdown waits for the callbacks of every plugin it stopped, for at
// most the shutdown timeout once the plugins are gone; a callback still
// running then is logged and left running. So a callback should not call
// Shutdown: it would hold Shutdown up, waiting for itself, for that
// timeout.
func (s *Socket) RegisterCallback(callback func(info *envelope.PluginInfo, graceful bool)) {
	if callback == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbacks = append(s.callbacks[:len(s.callbacks):len(s.callbacks)], callback)
}

// lookup returns the live plugin called name.
func (s *Socket) lookup(name string) (*remote, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return nil, ErrShutdown
	}
	r := s.resolve(name)
	switch {
	case r == nil || !r.live:
		return nil, fmt.Errorf("plugsock: %w: %q", ErrNoPlugin, name)
	case r.stopping:
		return nil, fmt.Errorf("plugsock: plugin %q is being unplugged: %w", name, ErrShutdown)
	}
	return r, nil
}

// Call calls method on the plugin called name with payload and returns the
// result decoded the way encoding/json decodes into an interface value.
// id is the call's trace id; an empty id is replaced by a new UUID. The
// call is bounded by the socket's call timeout (WithCallTimeout).
func (s *Socket) Call(id, name, method string, payload any) (any, error) {
	var out any
	if err := s.CallContext(envelope.WithTrace(context.Background(), id), name, method, payload, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CallContext calls method on the plugin called name with payload and
// decodes the result into result, a pointer (or nil to discard it). When
// ctx ends first the plugin is told to cancel the method's context and
// CallContext returns ctx's error. A ctx without a deadline gets the
// socket's call timeout (WithCallTimeout), so that a plugin that answers
// its pings but never the call cannot hold the caller forever. ctx bounds
// the wait for the answer; sending the request is bounded by
// WithWriteTimeout instead, since a half-written request would leave the
// connection unusable for every other caller. The trace id comes from
// envelope.WithTrace on ctx, or is a new UUID.
//
// name is a plugin's assigned name (a key of Connected), or
// name@version for one version of a plugin of which several are
// connected, or the plain name, which reaches the plugin holding it and,
// when none does, the highest version connected (see "Versions" in the
// package documentation).
//
// A method's own error comes back as an *envelope.Error whose message is
// the method's error text. Other failures match, with errors.Is,
// ErrMethodNotFound, envelope.ErrInvalidParams, ErrNoPlugin, ErrOverloaded
// (WithMaxInFlight), ErrReservedMethod (a method starting with "$/",
// refused before anything is sent), context.DeadlineExceeded (ctx's
// deadline or the call timeout) or, when the socket is shut down or the
// connection is lost, ErrShutdown.
func (s *Socket) CallContext(ctx context.Context, name, method string, payload, result any) error {
	if err := reservedMethod(name, method); err != nil {
		return err
	}
	r, err := s.lookup(name)
	if err != nil {
		return err
	}
	ctx, cancel, timeout := withCallTimeout(ctx, r.cfg.callTimeout)
	defer cancel()
	return r.call(ctx, name, method, payload, result, timeout)
}

// reserved reports whether method is one of the protocol's own.
func reserved(method string) bool { return strings.HasPrefix(method, "$/") }

// reservedMethod refuses the protocol's own methods as calls.
func reservedMethod(name, method string) error {
	if reserved(method) {
		return fmt.Errorf("plugsock: call %s.%s: %w: methods starting with \"$/\" belong to the protocol, not to the plugin (to stop a plugin, use Unplug)", name, method, ErrReservedMethod)
	}
	return nil
}

// withCallTimeout gives ctx the call timeout d when it has no deadline of
// its own, and returns the timeout it applied (zero when none).
func withCallTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc, time.Duration) {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return ctx, func() {}, 0
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, d
}

// call makes one call to r. timeout is the call timeout applied to ctx,
// zero when ctx brought its own deadline; it is named in the error when
// it expires.
func (r *remote) call(ctx context.Context, name, method string, payload, result any, timeout time.Duration) error {
	payload, err := r.guard(name, method, payload)
	if err != nil {
		return err
	}
	defer r.release()
	if envelope.TraceFrom(ctx) == "" {
		ctx = envelope.WithTrace(ctx, newTraceID())
	}
	err = r.conn.Call(ctx, method, payload, result)
	if err == nil {
		return nil
	}
	// Only failures are logged: a line per successful call would cost
	// more than the call. The trace id ties this line to the plugin's.
	r.cfg.log.Debug("plugsock: call failed", "plugin", name, "method", method, "trace", envelope.TraceFrom(ctx), "err", err)
	if _, ok := err.(*envelope.Error); ok {
		return err
	}
	if timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("plugsock: call %s.%s (trace %s): no answer within the call timeout of %v (WithCallTimeout): %w", name, method, envelope.TraceFrom(ctx), timeout, err)
	}
	return fmt.Errorf("plugsock: call %s.%s (trace %s): %w", name, method, envelope.TraceFrom(ctx), err)
}

// Broadcast is BroadcastContext with the trace id id (a new UUID when id
// is empty) and the socket's call timeout.
func (s *Socket) Broadcast(id, method string, payload any) (map[string]any, map[string]error) {
	if id == "" {
		id = newTraceID()
	}
	return s.BroadcastContext(envelope.WithTrace(context.Background(), id), method, payload)
}

// BroadcastContext calls method on every connected plugin at once with the
// same payload and trace id (from envelope.WithTrace on ctx, or a new
// UUID), and returns each plugin's result or error by name. Both maps are
// never nil. ctx bounds the whole broadcast, each call as in CallContext;
// a ctx without a deadline gets the socket's call timeout, once for all
// the calls, so that one plugin that never answers holds the broadcast up
// for that long and no longer. A method starting with "$/" reaches no
// plugin: every connected plugin's error wraps ErrReservedMethod (with
// none connected, both maps are empty, as for any method).
func (s *Socket) BroadcastContext(ctx context.Context, method string, payload any) (map[string]any, map[string]error) {
	if envelope.TraceFrom(ctx) == "" {
		ctx = envelope.WithTrace(ctx, newTraceID())
	}
	results, errs := make(map[string]any), make(map[string]error)
	type target struct {
		name string
		r    *remote
	}
	var targets []target
	s.mu.Lock()
	for name, r := range s.plugins {
		if r.live && !r.stopping {
			targets = append(targets, target{name, r})
		}
	}
	cfg := s.config()
	s.mu.Unlock()
	if reserved(method) {
		for _, t := range targets {
			errs[t.name] = reservedMethod(t.name, method)
		}
		return results, errs
	}
	ctx, cancel, timeout := withCallTimeout(ctx, cfg.callTimeout)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, t := range targets {
		wg.Go(func() {
			var out any
			err := t.r.call(ctx, t.name, method, payload, &out, timeout)
			mu.Lock()
			if err != nil {
				errs[t.name] = err
			} else {
				results[t.name] = out
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return results, errs
}

// Async returns the next item from the plugins: data a plugin sent through
// its async hook (Name is the plugin, Payload the data as encoding/json
// decodes it into an interface value, except that a number a float64
// cannot hold, such as 1e400 or a 400-digit integer, is a json.Number
// with its exact text), or an envelope.Connected or envelope.Disconnected
// event. It blocks until there is one, and returns ErrShutdown once the
// socket is shut down and every item has been read.
//
// Items from one plugin come in the order it sent them, after its
// Connected event and before its Disconnected one. A plugin's data waits
// as the JSON it arrived as and is decoded here, by the caller. The queue
// holds WithAsyncBuffer items and WithAsyncBytes of memory. While it has
// room nothing waits. When it is full and the host reads Async, a
// plugin's next item waits for room up to a second, so a host that keeps
// reading loses nothing, at the cost of delaying that plugin's answers
// meanwhile. A host that has never called Async, or that has not made
// room within that second, loses items instead, and from then on nothing
// waits until it calls Async again: a host that stops reading stalls a
// plugin once, for a second, not once per item.
//
// What is lost is shared fairly. Each plugin with data queued has an
// equal share of both bounds: a plugin at or over its share loses its own
// oldest items to make room for its new ones, a plugin within its share
// takes the room of the oldest items of one over its share, so one
// plugin's flood never drops another's data. Connected and Disconnected
// events are never dropped for data: data gives way to them, and only if
// events alone, unread, fill a bound does the oldest event go. Drops are
// counted in Stats and logged once a burst.
func (s *Socket) Async() (*envelope.AsyncData, error) {
	return s.AsyncContext(context.Background())
}

// AsyncContext is Async, giving up with ctx's error when ctx ends first.
func (s *Socket) AsyncContext(ctx context.Context) (*envelope.AsyncData, error) {
	return s.async.pop(ctx, s.settings().log)
}

// WaitFor waits until a plugin called name is connected and reports
// whether it is: true at once if it already is, false after timeout.
// name may be name@version, as for Call.
func (s *Socket) WaitFor(name string, timeout time.Duration) bool {
	var timer <-chan time.Time
	for {
		s.mu.Lock()
		r := s.resolve(name)
		if r != nil && r.live {
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
// copies; with full false they leave out Functions.
func (s *Socket) Connected(full bool) map[string]*envelope.PluginInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*envelope.PluginInfo, len(s.plugins))
	for name, r := range s.plugins {
		if r.live {
			out[name] = r.info.DeepCopy(full)
		}
	}
	return out
}

// PluginInfo returns a copy of the info of the plugin called name, with its
// functions, or nil when no such plugin is connected.
func (s *Socket) PluginInfo(name string) *envelope.PluginInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.resolve(name); r != nil && r.live {
		return r.info.DeepCopy(true)
	}
	return nil
}

// Stats is a snapshot of a Socket's counters.
type Stats struct {
	Plugins      int    // plugins connected
	AsyncQueued  int    // items waiting to be read from Async
	AsyncBytes   int    // the memory they are counted as (WithAsyncBytes)
	AsyncDropped uint64 // items dropped because the async queue was full, or that could not be decoded
}

// Stats returns the socket's counters.
func (s *Socket) Stats() Stats {
	s.mu.Lock()
	n := 0
	for _, r := range s.plugins {
		if r.live {
			n++
		}
	}
	s.mu.Unlock()
	q, b, d := s.async.stats()
	return Stats{Plugins: n, AsyncQueued: q, AsyncBytes: b, AsyncDropped: d}
}

// Unplug asks the plugin called name to stop: it refuses new calls,
// finishes and answers those in flight, and disconnects. Unplug returns
// when it is gone: its connection closed, every call to it answered or
// failed, its Disconnected event queued for Async and its disconnect
// callbacks queued. It does not wait for the callbacks to run (see
// RegisterCallback), so a callback may block until Unplug's caller
// receives what it sends. A plugin that takes longer than the shutdown
// timeout is cut off (and reported as not graceful). id is the trace id of the request. Unplugging a name that is
// not connected does nothing. name is an address as for CallContext. A
// plugin started by Launch is
// stopped for good, process and all, even between restarts.
func (s *Socket) Unplug(id string, name string) {
	s.mu.Lock()
	r := s.resolve(name)
	p := s.launchedFor(r, name) // a process Launch started stops with it
	if p == nil && (r == nil || !r.live) {
		s.mu.Unlock()
		return
	}
	timeout := s.config().shutdownTimeout
	s.mu.Unlock()
	if id == "" {
		id = uuid.NewString()
	}
	if p != nil {
		p.stop(id, time.Now().Add(timeout))
		return
	}
	r.stop(id, time.Now().Add(timeout))
}

// stop runs the graceful stop of one plugin, bounded by deadline. Unplug
// and Shutdown may both stop a plugin at once; the first sends $/shutdown,
// the second only waits.
func (r *remote) stop(trace string, deadline time.Time) {
	s := r.s
	s.mu.Lock()
	first := r.decided == nil
	if first {
		r.stopping = true
		r.decided = make(chan struct{})
	}
	log := s.config().log
	s.mu.Unlock()
	ctx, cancel := context.WithDeadline(envelope.WithTrace(context.Background(), trace), deadline)
	defer cancel()
	if first {
		// A plugin that stopped reading holds the request in a write
		// bounded only by the write timeout; closing the connection at
		// the deadline keeps the stop bounded by the shutdown timeout.
		cut := context.AfterFunc(ctx, func() {
			r.conn.CloseWithError(fmt.Errorf("did not stop within the shutdown timeout: %w", ctx.Err()))
		})
		err := r.conn.Call(ctx, envelope.MethodShutdown, nil, nil)
		cut()
		var answer *envelope.Error
		// Any answer, even an error from a plugin that does not know
		// $/shutdown, means it is alive and has sent all it will send.
		answered := err == nil || errors.As(err, &answer)
		s.mu.Lock()
		r.graceful = r.graceful || answered
		r.cutoff = !answered && ctx.Err() != nil
		s.mu.Unlock()
		// disconnected waits for this verdict, so a plugin that closes
		// right after answering is still reported as graceful.
		close(r.decided)
		switch {
		case answered:
			r.conn.Close()
		case ctx.Err() != nil:
			log.Warn("plugsock: plugin did not stop in time; cutting it off", "plugin", r.name(), "trace", trace)
			r.conn.CloseWithError(fmt.Errorf("did not stop within the shutdown timeout: %w", ctx.Err()))
		}
	}
	select {
	case <-r.gone:
	case <-ctx.Done():
		r.conn.CloseWithError(fmt.Errorf("did not disconnect within the shutdown timeout: %w", ctx.Err()))
		<-r.gone
	}
}

func (r *remote) name() string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.info == nil {
		return ""
	}
	return r.info.Name
}

// waitAttached waits for in-process plugins to return from Start. Their
// connections are closed by now and their methods' contexts cancelled, so
// they end as soon as their methods do; a method that ignores its context
// is waited for until the shutdown deadline and then left running, which
// is logged: a goroutine cannot be stopped from outside.
func (s *Socket) waitAttached(deadline time.Time, cfg *config) {
	done := make(chan struct{})
	go func() {
		s.attached.Wait()
		close(done)
	}()
	t := time.NewTimer(max(time.Until(deadline), 0))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cfg.log.Warn("plugsock: an attached plugin's method ignores its cancelled context; it outlives Shutdown")
	}
}

// Shutdown stops the socket: it closes every listener, unplugs every
// plugin at once (each finishes and answers its calls in flight), waits
// for all of them up to the shutdown timeout and cuts off the rest. Then
// it waits for the disconnect callbacks to return, for at most the
// shutdown timeout again; a callback that has not returned by then is
// logged and left running, the one goroutine of the socket's that may
// outlive Shutdown (see RegisterCallback). Otherwise, after it returns no
// goroutine of the socket's is left, calls fail with
// ErrShutdown and Async returns ErrShutdown once drained. It returns an
// error naming the plugins it had to cut off. Calling it again waits for
// the first call to finish and returns nil. id is the trace id sent with
// every $/shutdown request. Processes started by Launch are stopped and
// reaped before it returns (see Launch for how long that may take).
func (s *Socket) Shutdown(id string) error {
	s.mu.Lock()
	if s.shut {
		done := s.shutDone
		s.mu.Unlock()
		<-done
		return nil
	}
	s.shut = true
	s.shutDone = make(chan struct{})
	defer close(s.shutDone)
	cfg := s.config()
	for l := range s.listeners {
		_ = l.Close()
	}
	procs := s.launchedAll()
	var live, pending []*remote
	for r := range s.conns {
		if r.live {
			live = append(live, r)
		} else {
			pending = append(pending, r)
		}
	}
	s.mu.Unlock()

	if id == "" {
		id = uuid.NewString()
	}
	for _, r := range pending {
		r.conn.CloseWithError(ErrShutdown)
	}
	deadline := time.Now().Add(cfg.shutdownTimeout)
	var wg sync.WaitGroup
	for _, r := range live {
		wg.Go(func() { r.stop(id, deadline) })
	}
	for _, p := range procs {
		wg.Go(func() { p.stop(id, deadline) })
	}
	wg.Wait()
	s.wg.Wait()
	s.waitAttached(deadline, cfg)
	s.async.close()
	// Every plugin is gone, so every callback is queued. They get a
	// timeout of their own: a plugin cut off at the deadline should
	// still have its callbacks run before Shutdown returns.
	s.waitCallbacks(cfg.shutdownTimeout, cfg)

	var cut []string
	s.mu.Lock()
	for _, r := range live {
		if r.cutoff && r.info != nil {
			cut = append(cut, r.info.Name)
		}
	}
	s.mu.Unlock()
	if len(cut) > 0 {
		sort.Strings(cut)
		return fmt.Errorf("plugsock: shutdown: cut off %d plugin(s) after %v: %s", len(cut), cfg.shutdownTimeout, strings.Join(cut, ", "))
	}
	cfg.log.Info("plugsock: socket shut down", "trace", id)
	return nil
}
