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
		var payload any
		if err := envelope.DecodeParams(m, &payload); err != nil {
			return // Decode has already checked the JSON; cannot happen
		}
		cfg := r.s.settings()
		r.s.async.add(envelope.AsyncData{Name: info.Name, Payload: payload}, len(m.Params), cfg.asyncBuffer, cfg.asyncBytes, cfg.asyncWait, cfg.log)
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
	cbs := s.callbacks
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
		for _, cb := range cbs {
			s.runCallback(cb, info.DeepCopy(true), graceful)
		}
	}
	close(r.gone)
	s.wg.Done()
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
// timeout. Callbacks run one after another on the disconnected plugin's
// connection goroutine; a callback must not call Shutdown.
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
// id is the call's trace id; an empty id is replaced by a new UUID.
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
// CallContext returns ctx's error. ctx bounds the wait for the answer;
// sending the request is bounded by WithWriteTimeout instead, since a
// half-written request would leave the connection unusable for every
// other caller. The trace id comes from envelope.WithTrace on ctx, or is
// a new UUID.
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
// (WithMaxInFlight) or, when the socket is shut down or the connection is
// lost, ErrShutdown.
func (s *Socket) CallContext(ctx context.Context, name, method string, payload, result any) error {
	r, err := s.lookup(name)
	if err != nil {
		return err
	}
	payload, err = r.guard(name, method, payload)
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
	return fmt.Errorf("plugsock: call %s.%s (trace %s): %w", name, method, envelope.TraceFrom(ctx), err)
}

// Broadcast calls method on every connected plugin at once with the same
// payload and trace id (a new UUID when id is empty), and returns each
// plugin's result or error by name. Both maps are never nil.
func (s *Socket) Broadcast(id, method string, payload any) (map[string]any, map[string]error) {
	if id == "" {
		id = newTraceID()
	}
	results, errs := make(map[string]any), make(map[string]error)
	s.mu.Lock()
	var names []string
	for name, r := range s.plugins {
		if r.live && !r.stopping {
			names = append(names, name)
		}
	}
	s.mu.Unlock()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	ctx := envelope.WithTrace(context.Background(), id)
	for _, name := range names {
		wg.Go(func() {
			var out any
			err := s.CallContext(ctx, name, method, payload, &out)
			mu.Lock()
			if err != nil {
				errs[name] = err
			} else {
				results[name] = out
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return results, errs
}

// Async returns the next item from the plugins: data a plugin sent through
// its async hook (Name is the plugin, Payload the data as encoding/json
// decodes it into an interface value), or an envelope.Connected or
// envelope.Disconnected event. It blocks until there is one, and returns
// ErrShutdown once the socket is shut down and every item has been read.
//
// Items from one plugin come in the order it sent them. The queue holds
// WithAsyncBuffer items and WithAsyncBytes of their JSON. While it has
// room nothing waits. When it is full and the host reads Async, a
// plugin's next item waits for room up to a second, so a host that keeps
// reading loses nothing, at the cost of delaying that plugin's answers
// meanwhile. A host that has never called Async, or that has not made
// room within that second, loses the oldest items instead, and from then
// on nothing waits until it calls Async again: a host that stops reading
// stalls a plugin once, for a second, not once per item. Drops are counted
// in Stats and logged once a burst.
func (s *Socket) Async() (*envelope.AsyncData, error) {
	return s.AsyncContext(context.Background())
}

// AsyncContext is Async, giving up with ctx's error when ctx ends first.
func (s *Socket) AsyncContext(ctx context.Context) (*envelope.AsyncData, error) {
	return s.async.pop(ctx)
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
	AsyncDropped uint64 // items dropped because the async queue was full
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
	q, d := s.async.stats()
	return Stats{Plugins: n, AsyncQueued: q, AsyncDropped: d}
}

// Unplug asks the plugin called name to stop: it refuses new calls,
// finishes and answers those in flight, and disconnects. Unplug returns
// when it is gone and the disconnect callbacks have run; a plugin that
// takes longer than the shutdown timeout is cut off (and reported as not
// graceful). id is the trace id of the request. Unplugging a name that is
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
// for all of them up to the shutdown timeout and cuts off the rest. After
// it returns no goroutine of the socket's is left, calls fail with
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
