package plugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/msgbuf"
	"github.com/plugsock/plugsock/internal/rpc"
)

// DefaultHandshakeTimeout bounds the wait for the socket's answer to the
// handshake when Plugin.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// asyncBuffer is how many async items a plugin may queue before its hook
// sends block; they are held while the handshake is under way.
const asyncBuffer = 64

// ErrRunning is returned by Start on a Plugin that is already running.
var ErrRunning = errors.New("plugsock: plugin is already running")

// Plugin serves a Go value's methods to a socket. The zero value is ready
// to use; its fields are optional settings read when Start begins.
type Plugin struct {
	// Logger receives the plugin's log lines; slog.Default() when nil.
	Logger *slog.Logger
	// HandshakeTimeout bounds the wait for the socket's answer to the
	// handshake; DefaultHandshakeTimeout when zero.
	HandshakeTimeout time.Duration
	// MaxFrameSize bounds the size of one message, incoming and outgoing;
	// envelope.DefaultMaxFrameSize (4 MiB) when zero. A message over it
	// fails only its call: a request from the host is answered with an
	// error naming the limit (envelope.CodeFrameTooLarge), a result too
	// large is answered with that error instead, and the connection stays
	// up. Set it as the host's socket.Config.MaxFrameSize is set.
	MaxFrameSize int
	// Token is sent in the handshake to a socket that requires one.
	Token string
	// Launch is sent in the handshake so that a host which started this
	// process knows which connection is which.
	Launch string
	// OnConnect, when set, is called once the handshake has succeeded,
	// with the name the socket assigned, before any call is served.
	OnConnect func(name string)
	// HeartbeatInterval is how often the plugin checks that the socket is
	// still there. Anything the socket sends, its own pings included,
	// shows that it is, so the plugin pings only after an interval in
	// which it heard nothing (envelope.FollowHeartbeat); when
	// HeartbeatMisses intervals in a row then pass without an answer, the
	// plugin closes the connection and
	// Start returns an error wrapping envelope.ErrUnresponsive. A zero
	// interval means envelope.DefaultHeartbeatInterval, and misses below
	// one envelope.DefaultHeartbeatMisses; a negative interval turns the
	// heartbeat off.
	HeartbeatInterval time.Duration
	HeartbeatMisses   int
	// MaxInFlight bounds the calls the plugin runs at once; a call past
	// it is answered at once with code envelope.CodeOverloaded.
	// DefaultMaxInFlight when zero; negative means no limit.
	MaxInFlight int
	// WriteTimeout bounds each write to the socket, on connections that
	// have write deadlines (a net.Conn does): a socket that stops reading
	// for longer is cut off, and Start returns an error wrapping
	// os.ErrDeadlineExceeded, rather than every method's answer waiting
	// on it. DefaultWriteTimeout when zero; negative turns it off.
	WriteTimeout time.Duration
	// StreamWindow is how many unsettled items the host may send each of
	// the plugin's streams (Sink, Stream); envelope.DefaultStreamWindow
	// when zero or less.
	StreamWindow int
	// Observer, when set, is told about every call the plugin serves and
	// every call it makes to its host (Host.Call, Host.CallPlugin), as
	// each starts and ends (see envelope.Observer): how a tracer follows
	// a call from the host into the plugin and back. A served call's
	// context brings the caller's W3C Trace Context; the context the
	// Observer returns is the one the method runs with, or, for a call
	// the plugin makes, the one the request is sent with. The module
	// github.com/plugsock/plugsock/otel gives one for OpenTelemetry.
	Observer envelope.Observer

	mu  sync.Mutex
	cur *session
	// The async hook outlives a session, so that a plugin started again
	// (Run reconnecting) keeps its channel and what is queued in it.
	hook    chan any
	hookFor any // the value UseAsyncHook was last called on
}

// Start serves v's methods over conn. It reflects every exported method
// shaped
//
//	func (t *T) Name(ctx context.Context, in In) (Out, error)
//
// describes their input and output, calls v.UseAsyncHook(ch) if v has that
// method and was not given the Plugin's channel already, handshakes with
// info's name and version, and serves calls until the socket unplugs the
// plugin or shuts down, or Close is called (Start returns nil), or the
// connection is lost or the handshake refused (Start returns an error that
// says why). info may be nil; after the handshake info.Name holds the name
// the socket assigned. info.Functions, when set, refines the reflected
// descriptions (for example marking a field optional); reflection still
// decides which functions and fields exist.
//
// A method Configure(ctx context.Context, cfg C) error is not a function:
// it takes the plugin's configuration. C's JSON Schema goes in the
// handshake, and a protocol 2 host validates the configuration it holds
// for the plugin against it and refuses the handshake when it does not
// fit; otherwise it has Configure run with it before any call, and again
// whenever the host's configuration is replaced. When that first run
// fails, the host refuses the plugin and Start returns Configure's error.
//
// A method Health(ctx context.Context) (Health, error) is not a function
// either: it is the plugin's health check. The handshake declares it, and
// a host that checks health calls it on an interval of its own and
// reports what it returns (see Health).
//
// Nor are Snapshot(ctx context.Context) ([]byte, error) and
// Restore(ctx context.Context, data []byte) error, which keep the
// plugin's state on the host (snapshot.go), or Subscriptions()
// []Subscription, which declares the events the host delivers to the
// plugin's sink streams (events.go).
//
// Inside a method, envelope.TraceFrom(ctx) returns the call's trace id, as
// does ctx.Value(ctxKey) when ctxKey is not nil. Each call runs on the
// goroutine that read its request (envelope.Conn.Detach); one still
// running after a moment keeps that goroutine, and another goes on
// reading, so calls run concurrently. A panic becomes an error answer and
// the plugin goes on. Start closes conn before it returns.
func (p *Plugin) Start(v any, info *envelope.PluginInfo, conn io.ReadWriteCloser, ctxKey any) error {
	return p.start(v, info, conn, ctxKey, runHooks{})
}

// runHooks are what Run adds to a Plugin's settings for one session,
// leaving its fields as the program set them.
type runHooks struct {
	log           *slog.Logger      // when the Plugin's Logger is nil
	token, launch string            // when the Plugin's own are empty
	onConnect     func(name string) // after the Plugin's OnConnect
}

func (p *Plugin) start(v any, info *envelope.PluginInfo, conn io.ReadWriteCloser, ctxKey any, run runHooks) error {
	ms, err := methods(v)
	var conf *configurer
	if err == nil {
		conf, err = findConfigure(v)
	}
	var checker healthChecker
	if err == nil {
		checker, err = findHealth(v) // health.go
	}
	var state stateful
	if err == nil {
		state, err = findState(v) // snapshot.go
	}
	var subs []envelope.Subscription
	if err == nil {
		subs, err = findSubscriptions(v, ms) // events.go
	}
	if err != nil {
		_ = conn.Close()
		return err
	}
	log := cmp.Or(p.Logger, run.log, slog.Default())
	if info == nil {
		info = &envelope.PluginInfo{}
	}
	hs := envelope.Handshake{Token: cmp.Or(p.Token, run.token), Launch: cmp.Or(p.Launch, run.launch)}
	hs.Name = info.Name
	if hs.Name == "" {
		hs.Name = typeName(v)
	}
	hs.Version = info.Version
	hs.Protocol = envelope.Protocol
	advertiseHealth(&hs, checker)
	advertiseState(&hs, state)
	var unknown []string
	hs.Functions, unknown, err = describe(ms, info.Functions)
	if err != nil {
		_ = conn.Close()
		return err
	}
	if len(unknown) > 0 {
		log.Warn("plugsock: info.Functions names functions the plugin does not have; ignored", "plugin", hs.Name, "functions", unknown, "have", methodNames(ms))
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		methods:  ms,
		conf:     conf,
		checker:  checker,
		state:    state,
		ctxKey:   ctxKey,
		log:      log.With("plugin", hs.Name),
		ctx:      ctx,
		calls:    make(map[envelope.ID]call),
		stopped:  make(chan struct{}),
		stopping: make(chan struct{}),
		ready:    make(chan struct{}),
		fwdDone:  make(chan struct{}),
		max:      p.maxInFlight(),
		window:   p.StreamWindow,
		observer: p.Observer,
	}
	cancel = s.cancelWithCalls(cancel)
	s.conn = envelope.NewConn(conn, envelope.ConnOptions{
		Handler:      s.handle,
		MaxFrameSize: p.MaxFrameSize,
		WriteTimeout: p.writeTimeout(),
		Logger:       s.log,
	})
	// Publish the session only now that everything Close uses is set.
	p.mu.Lock()
	if p.cur != nil {
		p.mu.Unlock()
		_ = conn.Close() // s.conn was never started: nothing else to end
		cancel()
		return ErrRunning
	}
	p.cur = s
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.cur = nil
		p.mu.Unlock()
	}()

	if h, ok := v.(interface{ UseAsyncHook(chan any) }); ok {
		s.hook = p.asyncHook(v, h)
	}
	s.conn.Start()

	timeout := p.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	hctx, hcancel := context.WithTimeout(ctx, timeout)
	var res envelope.HandshakeResult
	err = s.conn.Call(hctx, envelope.MethodHandshake, withSubscriptions(conf.handshake(&hs), subs), &res)
	hcancel()
	connected, cut := s.answered(err)
	if connected && res.Protocol > hs.Protocol {
		connected = false
		err = fmt.Errorf("%w: the host answered protocol %d, above the %d offered", envelope.ErrProtocol, res.Protocol, hs.Protocol)
	}
	if !connected {
		close(s.fwdDone) // forward never runs
		s.conn.Close()
		<-s.conn.Done()
		cancel()
		s.inflight.Wait()
		s.conn.Wait()
		s.end()
		if cut {
			return nil
		}
		return fmt.Errorf("plugsock: plugin %q: handshake: %w", hs.Name, err)
	}
	info.Name = res.Name
	// A host that names no protocol speaks 1. Calls that arrive before
	// this wait for ready, and read their params only then (serve).
	proto := max(res.Protocol, envelope.Protocol1)
	s.conn.SetProtocol(proto)
	// The read loop is running already and may log about a notification
	// meanwhile (handle), so the logger changes under s.mu.
	named := log.With("plugin", res.Name)
	s.mu.Lock()
	s.log = named
	s.name = res.Name
	s.host = &Host{conn: s.conn, proto: proto, services: res.Services, stopping: s.stopping, name: res.Name, observer: p.Observer}
	s.mu.Unlock()
	named.Debug("plugsock: connected", "session", res.Session)
	if p.OnConnect != nil {
		p.OnConnect(res.Name)
	}
	if run.onConnect != nil {
		run.onConnect(res.Name)
	}
	close(s.ready)

	go s.forward()
	hb := envelope.FollowHeartbeat(s.conn, p.heartbeat(), p.HeartbeatMisses)
	<-s.conn.Done()
	hb.Stop()
	cancel()
	s.inflight.Wait()
	s.conn.Wait()
	<-s.fwdDone
	graceful := s.end()
	if err := s.configError(); err != nil {
		return fmt.Errorf("plugsock: plugin %q: configure: %w", res.Name, err)
	}
	if graceful {
		return nil
	}
	return fmt.Errorf("plugsock: plugin %q: connection lost: %w", res.Name, s.conn.Err())
}

// Close ends a running plugin in an orderly way: it tells the socket it is
// leaving and refuses new calls; the calls in flight then finish and
// answer, and the connection closes, so the host reports a graceful
// disconnect. Close starts that stop and returns without waiting for it,
// so that a method may call Close (a "Quit" method gets its answer before
// the connection closes); Start returning, with nil, is the sign that the
// stop is complete.
//
// Close before the socket has answered the handshake cannot say goodbye,
// which must not come before the handshake: it closes the connection, and
// Start returns nil. Close on a plugin that is not running, or already
// stopping, does nothing.
func (p *Plugin) Close() error {
	p.mu.Lock()
	s := p.cur
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	// leave refuses calls before the host hears the goodbye, and makes
	// the exit orderly even if the host hangs up the moment it hears it.
	switch cut, goodbye := s.leave(); {
	case cut:
		s.conn.Close()
	case goodbye:
		_ = s.conn.Notify(envelope.MethodShutdown, nil)
		go s.stop(envelope.ID{}, true)
	}
	return nil
}

// asyncHook returns the Plugin's hook channel, calling UseAsyncHook the
// first time and whenever v is not the value it was last given to.
func (p *Plugin) asyncHook(v any, h interface{ UseAsyncHook(chan any) }) chan any {
	p.mu.Lock()
	if p.hook == nil {
		p.hook = make(chan any, asyncBuffer)
	}
	hook := p.hook
	rv := reflect.ValueOf(v)
	seen := p.hookFor != nil && rv.Comparable() && rv.Equal(reflect.ValueOf(p.hookFor))
	p.hookFor = v
	p.mu.Unlock()
	if !seen {
		h.UseAsyncHook(hook)
	}
	return hook
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" {
		return t.Name()
	}
	return "plugin"
}

// session is one run of Start: one connection and its calls.
type session struct {
	methods rpc.Methods
	conf    *configurer   // the value's Configure method; nil when it has none (config.go)
	checker healthChecker // the value's Health method; nil when it has none (health.go)
	state   stateful      // the value's Snapshot and Restore methods; nil when it has none (snapshot.go)
	ctxKey  any
	log     *slog.Logger
	conn    *envelope.Conn
	hook    chan any

	// ctx ends with the session. It is not the calls' parent (callContext
	// says why); the handshake and the calls waiting for ready watch it.
	ctx context.Context

	// The signals and the goroutines' counts; state.go says who closes
	// each and who waits.
	inflight sync.WaitGroup // the calls
	stops    sync.WaitGroup // the stops
	stopped  chan struct{}  // closed by the first stop once the calls in flight have answered
	stopping chan struct{}  // closed by the first stop as it begins (Stopping)
	ready    chan struct{}  // closed once info.Name is set and OnConnect has returned
	fwdDone  chan struct{}  // closed when forward has flushed and returned

	max      int // calls at once; zero: no limit
	window   int // Plugin.StreamWindow
	observer envelope.Observer
	name     string // the name the host assigned; set, under mu, before ready is closed

	mu    sync.Mutex
	host  *Host                // set once the handshake is answered
	calls map[envelope.ID]call // the calls in flight, by request id
	phase sessionPhase         // handshaking, serving, stopping, cut, ended (state.go)
}

// call is a call in flight. Its context tells it from a later call that
// reuses its id.
type call struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// handle is the connection's Handler, on its read loop. Protocol methods
// and refusals are dealt with right there ($/shutdown begins a stop, which
// answers once the calls in flight have); a call is detached and run where
// it was read (serve), and reading moves to another goroutine if it takes
// more than a moment. So handle runs concurrently with calls still
// running, and with other runs of itself.
func (s *session) handle(c *envelope.Conn, m *envelope.Envelope) {
	switch m.Method {
	case envelope.MethodCancel:
		// Ids are compared as written: the host names the call exactly as
		// it sent it.
		var p envelope.CancelParams
		if envelope.DecodeParams(m, &p) == nil {
			s.mu.Lock()
			cl, ok := s.calls[p.ID]
			s.mu.Unlock()
			if ok {
				cl.cancel()
			}
		}
		if m.IsRequest() {
			// Meant as a notification; every request gets an answer.
			_ = c.Reply(m.ID, nil)
		}
		return
	case envelope.MethodPing:
		if m.IsRequest() {
			_ = c.Reply(m.ID, nil)
		}
		return
	case envelope.MethodShutdown:
		if m.IsRequest() {
			// Whatever the host sends after the request is refused; only
			// the waiting for calls in flight leaves the read loop.
			if stop, first := s.shutdownAsked(); stop {
				go s.stop(m.ID, first)
			}
		}
		return
	}
	if !m.IsRequest() {
		s.mu.Lock()
		log := s.log
		s.mu.Unlock()
		log.Debug("plugsock: ignoring notification", "method", m.Method)
		return
	}
	s.mu.Lock()
	if !s.takesCalls() {
		s.mu.Unlock()
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeShuttingDown, "plugin is shutting down"))
		return
	}
	if _, dup := s.calls[m.ID]; dup {
		// Running it would make two answers with one id, and $/cancelRequest
		// ambiguous.
		s.mu.Unlock()
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidRequest, "%s: request id %s is already in flight", m.Method, m.ID))
		return
	}
	if s.max > 0 && len(s.calls) >= s.max {
		s.mu.Unlock()
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeOverloaded, "%s: %d calls in flight, the limit", m.Method, s.max))
		return
	}
	ctx, cancel, bad := s.callContext(c, m)
	s.calls[m.ID] = call{ctx, cancel}
	s.inflight.Add(1)
	s.mu.Unlock()
	j := job{ctx: ctx, cancel: cancel, m: m, bad: bad}
	if bad == nil {
		j.stream, j.bad = s.openStream(c, m, cancel)
	}
	if c.Detach(m) {
		// The call runs here, where its request was read; reading moves
		// to another goroutine if it takes more than a moment.
		s.serve(j)
		if j.stream == nil && s.methods[m.Method] != nil {
			// A plain method's call: its input is decoded (which copies
			// what it keeps), its answer written, and nothing serve
			// started holds m. A stream, or one of the protocol's own
			// requests, may still.
			msgbuf.Spent(m)
		}
		return
	}
	go s.serve(j) // not reached: handle is the Handler, and m its message
}

func (s *session) serve(j job) {
	defer s.inflight.Done()
	m := j.m
	// A host may call as soon as it has answered the handshake, before
	// Start has stored the assigned name in info and run OnConnect; the
	// call waits for both so that methods never race with them.
	select {
	case <-s.ready:
	case <-s.ctx.Done():
		s.forget(j) // the handshake failed and the connection is gone
		return
	}
	trace := m.Trace()
	if trace == "" {
		trace = uuid.NewString()
	}
	ctx, end := j.ctx, func(*envelope.Error) {}
	if s.observer != nil && !strings.HasPrefix(m.Method, "$/") { // the protocol's own ($/configure, $/health) are not calls
		// The method's name is known only when it is one of the plugin's:
		// the host may send any.
		_, known := s.methods[m.Method]
		ctx, end = s.observer.Serve(envelope.WithTrace(ctx, trace), envelope.ObservedCall{Method: m.Method, Plugin: s.name, Known: known})
	}
	var result any
	var rerr *envelope.Error
	if j.bad != nil {
		rerr = rpc.InvalidParams(m.Method, j.bad)
	} else {
		result, rerr = s.invoke(ctx, m, j.stream, trace)
	}
	end(rerr)
	if j.stream != nil {
		// Its last acknowledgements go before the answer.
		j.stream.Finish()
	}
	// Free the id before answering: a host may reuse it once it has the
	// answer.
	s.forget(j)
	var err error
	if rerr != nil {
		err = s.conn.ReplyError(m.ID, rerr)
	} else {
		err = s.conn.Reply(m.ID, result)
	}
	if err != nil {
		s.log.Warn("plugsock: could not answer", "method", m.Method, "trace", trace, "err", err)
	}
	if m.Method == envelope.MethodConfigure {
		s.configAnswered()
	}
}

// invoke runs the method m calls, with its trace id and, in protocol 2,
// its host in ctx.
func (s *session) invoke(ctx context.Context, m *envelope.Envelope, st *envelope.Stream, trace string) (result any, rerr *envelope.Error) {
	meth := s.methods[m.Method]
	if meth == nil {
		switch m.Method {
		case envelope.MethodConfigure, envelope.MethodHealth, envelope.MethodSnapshot, envelope.MethodRestore:
		default:
			return nil, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method)
		}
	}
	ctx = envelope.WithTrace(ctx, trace)
	if s.ctxKey != nil {
		ctx = context.WithValue(ctx, s.ctxKey, trace)
	}
	if h := s.host; h.proto >= envelope.Protocol2 {
		ctx = context.WithValue(ctx, hostKey{}, h)
	}
	if meth == nil && m.Method == envelope.MethodHealth {
		return s.health(ctx, trace) // health.go
	}
	if meth == nil && m.Method == envelope.MethodSnapshot {
		return s.snapshot(ctx, trace) // snapshot.go
	}
	if meth == nil && m.Method == envelope.MethodRestore {
		return s.restore(ctx, m, trace) // snapshot.go
	}
	if meth == nil {
		return s.configure(ctx, m, trace)
	}
	if st != nil {
		return nil, meth.InvokeStream(ctx, m, st, s.log, trace)
	}
	return meth.Invoke(ctx, m, s.log, trace)
}

// openStream accepts the stream request m opens, on the read loop, when
// it calls a stream method; a stream asked of any other method, or a
// stream method called without one, is what is wrong with the call.
func (s *session) openStream(c *envelope.Conn, m *envelope.Envelope, cancel context.CancelFunc) (*envelope.Stream, error) {
	meth := s.methods[m.Method]
	switch {
	case meth == nil:
		return nil, nil
	case !meth.IsStream() && m.StreamRequested():
		return nil, fmt.Errorf("%w: %s is not a stream; call it without params._meta.stream", envelope.ErrInvalidParams, m.Method)
	case !meth.IsStream():
		return nil, nil
	}
	return c.AcceptStream(m, s.window, cancel)
}

// forget removes j's call from those in flight, and only j's, and cancels
// its context.
func (s *session) forget(j job) {
	s.mu.Lock()
	if cl, ok := s.calls[j.m.ID]; ok && cl.ctx == j.ctx {
		delete(s.calls, j.m.ID)
	}
	s.mu.Unlock()
	j.cancel()
}

// forward sends what the plugin puts in its async hook as $/async
// notifications, in order. When the session stops it sends what is still
// queued, so that a graceful stop loses nothing already handed over.
func (s *session) forward() {
	defer close(s.fwdDone)
	if s.hook == nil {
		return
	}
	send := func(v any) {
		if s.conn.Protocol() >= envelope.Protocol2 {
			v = envelope.Params(v, false)
		}
		if err := s.conn.Notify(envelope.MethodAsync, v); err != nil {
			s.log.Warn("plugsock: async item not sent", "err", err)
		}
	}
	for {
		select {
		case v := <-s.hook:
			send(v)
		case <-s.stopped:
			for {
				select {
				case v := <-s.hook:
					send(v)
				default:
					return
				}
			}
		case <-s.conn.Done():
			return
		}
	}
}
