package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/jsonscan"
	"github.com/plugsock/plugsock/internal/names"
	"github.com/plugsock/plugsock/internal/rpc"
	"github.com/plugsock/plugsock/typedesc"
)

// Host services: the calls protocol 2 lets a plugin make to its host
// (docs/protocol.md, "Host services"), and $/call, through which one
// plugin calls another.

// services is what Register has made available. It is replaced whole on
// each Register, never changed, so that a plugin's request finds its
// method without taking a lock.
type services struct {
	methods map[string]*rpc.Method       // by "Service.Method"
	fns     map[string]typedesc.Function // their descriptions, as the handshake answers them
}

// Register makes the methods of v services that protocol 2 plugins can
// call, named by v's type as net/rpc names them: a *Clock's Now is
// "Clock.Now". The methods must have the shape of a plugin's:
//
//	func (t *T) Name(ctx context.Context, in In) (Out, error)
//
// and ctx carries the calling plugin's assigned name (PluginFrom), the
// trace id of its request (envelope.TraceFrom) and the deadline it gave;
// it ends when the plugin cancels the request or its connection ends. A
// service may call plugins, the one calling it too, with that ctx, and
// cancelling the plugin's request then cancels those calls. A panic
// becomes an error answer. Plugins that connect from now on find the
// service in their handshake's answer; a plugin connected before can
// call it all the same.
func (s *Socket) Register(v any) error { return s.RegisterName(rpc.TypeName(v), v) }

// RegisterName is Register with the service's name given.
func (s *Socket) RegisterName(name string, v any) error {
	if err := serviceName(name); err != nil {
		return fmt.Errorf("plugsock: register service %q: %w", name, err)
	}
	ms, err := rpc.Find(v, "")
	if err != nil {
		return fmt.Errorf("plugsock: register service %q: %w", name, err)
	}
	fns, _ := ms.Describe(name+".", nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.services.Load()
	next := &services{methods: make(map[string]*rpc.Method), fns: make(map[string]typedesc.Function)}
	if old != nil {
		for k, m := range old.methods {
			if strings.HasPrefix(k, name+".") {
				return fmt.Errorf("plugsock: register service %q: a service of that name is registered already", name)
			}
			next.methods[k] = m
		}
		for k, f := range old.fns {
			next.fns[k] = f
		}
	}
	for k, m := range ms {
		next.methods[name+"."+k] = m
	}
	for k, f := range fns {
		next.fns[k] = f
	}
	s.services.Store(next)
	return nil
}

// serviceName is the rule for a service's name: a plugin name's (no white
// space, "/" or "@"), without ".", which separates it from the method,
// and not beginning "$", as the protocol's own methods do.
func serviceName(name string) error {
	if err := names.Check(name); err != nil {
		return err
	}
	switch {
	case strings.Contains(name, "."):
		return errors.New(`the name contains ".", which separates a service from its method`)
	case strings.HasPrefix(name, "$"):
		return errors.New(`the name begins with "$", as the protocol's own methods do`)
	}
	return nil
}

type pluginKey struct{}

// PluginFrom returns, in a service method's context, the assigned name of
// the plugin whose request it serves; "" in any other context.
func PluginFrom(ctx context.Context) string {
	name, _ := ctx.Value(pluginKey{}).(string)
	return name
}

// WithProgress returns a context that asks CallContext for the plugin's
// progress reports on the call (plugin.Progress), which go to fn in the
// order sent, and none once the plugin's answer has arrived. fn runs on
// the goroutine that reads the plugin's connection: it must return
// quickly, and must neither call that plugin nor write to another
// connection that may block. A plugin on protocol 1 reports none.
func WithProgress(ctx context.Context, fn func(progress, total float64, message string)) context.Context {
	return envelope.WithProgress(ctx, fn)
}

// WithPluginCalls is Config{PluginCalls: allow}: it lets plugins call one
// another through the socket, as far as allow permits.
func WithPluginCalls(allow func(caller, callee, method string) bool) Options {
	return Config{PluginCalls: allow}
}

// requests are the plugin's requests to the host that are in flight.
type requests struct {
	mu        sync.Mutex
	ctx       context.Context // their parent; ends with the connection
	cancel    context.CancelFunc
	m         map[envelope.ID]context.CancelFunc
	answering int        // answers computed and not yet written
	written   *sync.Cond // signalled when one of those is written, or the connection ends; on mu
	ended     bool
}

// begin admits request m, or says why not: a plugin has as many requests
// in flight as the socket's MaxInFlight allows, and ids must be unique.
// free must be called once, before it is answered: the plugin may send
// its next request, or use the id again, as soon as it has the answer.
// done must be called when the answer has been written.
//
// An answer no longer holds its request's place, but it holds a goroutine
// and its bytes until it is written, and a plugin that stops reading its
// answers would pile them up, as fast as it can send requests. So begin
// waits, on the read loop, while MaxInFlight answers are waiting to be
// written: the plugin is read no further until it reads, which is TCP's
// own flow control, and the write timeout ends a plugin that never does.
func (r *remote) begin(m *envelope.Envelope) (ctx context.Context, free, done func(), e *envelope.Error) {
	q := &r.reqs
	limit := r.cfg.maxInFlight
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		// Made on the first request: a plugin that never calls the host
		// costs nothing for it.
		q.ctx, q.cancel = context.WithCancel(context.Background())
		q.m = make(map[envelope.ID]context.CancelFunc)
		q.written = sync.NewCond(&q.mu)
	}
	for limit > 0 && q.answering >= limit && !q.ended {
		q.written.Wait()
	}
	switch {
	case q.ended:
		return nil, nil, nil, envelope.Errorf(envelope.CodeShuttingDown, "connection is closing")
	case q.m[m.ID] != nil:
		return nil, nil, nil, envelope.Errorf(envelope.CodeInvalidRequest, "%s: request id %s is already in flight", m.Method, m.ID)
	case limit > 0 && len(q.m) >= limit:
		return nil, nil, nil, envelope.Errorf(envelope.CodeOverloaded, "%s: %d requests in flight, the limit", m.Method, limit)
	}
	ctx, cancel := context.WithCancel(q.ctx)
	q.m[m.ID] = cancel
	r.s.serving.Add(1)
	free = func() {
		q.mu.Lock()
		delete(q.m, m.ID)
		q.answering++
		q.mu.Unlock()
	}
	return ctx, free, func() {
		q.mu.Lock()
		q.answering--
		q.written.Signal()
		q.mu.Unlock()
		cancel()
		r.s.serving.Done()
	}, nil
}

// cancelRequest cancels the plugin's request that $/cancelRequest names.
func (r *remote) cancelRequest(m *envelope.Envelope) {
	var p envelope.CancelParams
	if envelope.DecodeParams(m, &p) != nil {
		return
	}
	r.reqs.mu.Lock()
	cancel := r.reqs.m[p.ID]
	r.reqs.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// endRequests cancels every request in flight, once the connection is gone.
func (r *remote) endRequests() {
	r.reqs.mu.Lock()
	r.reqs.ended = true
	if r.reqs.written != nil {
		r.reqs.written.Broadcast()
	}
	if r.reqs.cancel != nil {
		r.reqs.cancel()
	}
	r.reqs.mu.Unlock()
}

// serveRequest answers a protocol 2 plugin's request to the host: a
// service, or $/call. It runs detached from the read loop, which goes on
// reading, so that a service can call the plugin back and have its answer
// read.
func (r *remote) serveRequest(c *envelope.Conn, m *envelope.Envelope, caller string) {
	parent, free, done, e := r.begin(m)
	if e != nil {
		_ = c.ReplyError(m.ID, e)
		return
	}
	if !c.Detach(m) {
		// Not reached: handle is the Handler, and m its message.
		go r.answerRequest(c, m, caller, parent, free, done)
		return
	}
	r.answerRequest(c, m, caller, parent, free, done)
}

func (r *remote) answerRequest(c *envelope.Conn, m *envelope.Envelope, caller string, parent context.Context, free, done func()) {
	defer done()
	ctx, cancel, err := c.RequestContext(parent, m)
	defer cancel()
	trace := m.Trace()
	if trace == "" {
		trace = newTraceID()
	}
	ctx = context.WithValue(envelope.WithTrace(ctx, trace), pluginKey{}, caller)
	var result any
	var e *envelope.Error
	switch {
	case err != nil:
		e = rpc.InvalidParams(m.Method, err)
	case m.Method == envelope.MethodCall:
		result, e = r.relay(ctx, caller, m)
	default:
		var meth *rpc.Method
		if t := r.s.services.Load(); t != nil && !reserved(m.Method) {
			meth = t.methods[m.Method]
		}
		ctx, end := r.cfg.observer.Serve(ctx, envelope.ObservedCall{Method: m.Method, Plugin: caller, Known: meth != nil})
		if meth == nil {
			e = envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method)
		} else {
			result, e = meth.Invoke(ctx, m, r.cfg.log, trace)
		}
		end(e)
	}
	free()
	if e != nil {
		err = c.ReplyError(m.ID, e)
	} else {
		err = c.Reply(m.ID, result)
	}
	if err != nil {
		r.cfg.log.Debug("plugsock: could not answer a plugin's request", "plugin", caller, "method", m.Method, "trace", trace, "err", err)
	}
}

// relayParams is the params of $/call.
type relayParams struct {
	Plugin string          `json:"plugin"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// relay makes the call a plugin asked for with $/call, if the socket's
// policy lets it. The policy is asked about the plugin the call would
// reach, by its assigned name, so that calc@1.0.0 cannot slip past a rule
// about calc, and the call goes to that plugin and no other; it is asked
// before anything is sent, and a refusal names the plugin as the caller
// gave it, whether or not there is one, so that a plugin that may not call
// learns nothing about which plugins there are.
func (r *remote) relay(ctx context.Context, caller string, m *envelope.Envelope) (any, *envelope.Error) {
	var p relayParams
	if err := envelope.DecodeInput(m, &p, true); err != nil {
		return nil, rpc.InvalidParams(m.Method, err)
	}
	callee, err := r.s.lookup(p.Plugin)
	name := p.Plugin
	if err == nil {
		name = callee.info.Name // never changed once live
	}
	// Observed once the callee is known: its name and method came from
	// the plugin, and are known only when the callee described it.
	var known bool
	if err == nil {
		_, known = callee.info.Functions[p.Method]
	}
	ctx, end := r.cfg.observer.Serve(ctx, envelope.ObservedCall{Method: p.Method, Plugin: caller, Callee: name, Known: known})
	out, e := r.relayTo(ctx, caller, &p, callee, name, err)
	end(e)
	return out, e
}

// relayTo makes the call relay decoded, to callee, named name, which
// lookup found or, with err, did not.
func (r *remote) relayTo(ctx context.Context, caller string, p *relayParams, callee *remote, name string, err error) (any, *envelope.Error) {
	target := p.Plugin + "." + p.Method
	if allow := r.cfg.pluginCalls; allow == nil || !allow(caller, name, p.Method) {
		return nil, envelope.Errorf(envelope.CodeForbidden, "plugin %q may not call %q", caller, target)
	}
	if err == nil {
		err = reservedMethod(name, p.Method)
	}
	if err == nil && len(p.Params) > 0 && p.Params[0] == '{' && jsonscan.HasMember(p.Params, 0, "_meta") {
		// The callee would take it for the metadata the host sends, and
		// the caller could set the callee's trace, deadline or token.
		return nil, envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: params.params has a _meta member, which the host writes itself; put the call's metadata in the $/call's own _meta", envelope.MethodCall)
	}
	var out json.RawMessage
	if err == nil {
		var payload any
		if len(p.Params) > 0 {
			payload = p.Params
		}
		if envelope.ProgressRequested(ctx) {
			fw := startProgressRelay(ctx)
			defer fw.close()
			ctx = envelope.WithProgress(ctx, fw.offer)
		}
		err = callee.call(ctx, name, p.Method, payload, &out, callTimeout(ctx, callee.cfg.callTimeout))
	}
	var e *envelope.Error
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &e):
		return nil, e
	case errors.Is(err, ErrNoPlugin):
		return nil, envelope.Errorf(envelope.CodeMethodNotFound, "no plugin named %q", p.Plugin)
	case errors.Is(err, ErrReservedMethod):
		return nil, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s is reserved to the protocol", target)
	case errors.Is(err, ErrOverloaded):
		return nil, envelope.Errorf(envelope.CodeOverloaded, "%v", err)
	case errors.Is(err, envelope.ErrInvalidParams):
		return nil, envelope.Errorf(envelope.CodeInvalidParams, "%v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, envelope.Errorf(envelope.CodeRequestCancelled, "%s: %v", target, err)
	case errors.Is(err, ErrShutdown):
		return nil, envelope.Errorf(envelope.CodeShuttingDown, "%v", err)
	}
	return nil, envelope.Errorf(envelope.CodeInternalError, "%v", err)
}

// progressRelay passes a callee's progress reports on to the plugin that
// asked for them through $/call. The reports arrive on the callee's read
// loop, which must never wait for another plugin's connection, so they go
// out from a goroutine of the relay's own, in order. Up to
// maxRelayedReports wait; past that the last waiting is replaced by the
// newer one, since a report only says how far a call has got, and a caller
// that does not read them must not cost the host memory. The goroutine
// ends with close, once it has sent what was waiting, and nothing is sent
// after: the answer comes after every report.
type progressRelay struct {
	to   context.Context // the $/call's context: its caller's progress token
	wake chan struct{}   // holds one wake-up at most
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	waiting []envelope.ProgressParams
}

const maxRelayedReports = 64

func startProgressRelay(to context.Context) *progressRelay {
	p := &progressRelay{to: to, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// offer takes a report, without ever blocking.
func (p *progressRelay) offer(progress, total float64, message string) {
	rep := envelope.ProgressParams{Progress: progress, Total: total, Message: message}
	p.mu.Lock()
	if len(p.waiting) < maxRelayedReports {
		p.waiting = append(p.waiting, rep)
	} else {
		p.waiting[len(p.waiting)-1] = rep
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *progressRelay) run() {
	defer close(p.done)
	for stopping := false; ; {
		select {
		case <-p.stop:
			stopping = true
		case <-p.wake:
		}
		p.mu.Lock()
		reps := p.waiting
		p.waiting = nil
		p.mu.Unlock()
		for _, rep := range reps {
			_ = envelope.Progress(p.to, rep.Progress, rep.Total, rep.Message)
		}
		if stopping {
			return
		}
	}
}

func (p *progressRelay) close() {
	close(p.stop)
	<-p.done
}
