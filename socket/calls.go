package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// lookup returns the live plugin called name. It runs on every call, so
// it takes no lock of the socket's and costs the same however many plugins
// are connected (index.go).
func (s *Socket) lookup(name string) (*remote, error) {
	if s.closed.Load() {
		return nil, ErrShutdown
	}
	r := s.resolve(name)
	switch {
	case r == nil || !r.state.live():
		return nil, fmt.Errorf("plugsock: %w: %q", ErrNoPlugin, name)
	case r.state.stopping():
		return nil, fmt.Errorf("plugsock: plugin %q is being unplugged: %w", name, ErrShutdown)
	}
	return r, nil
}

// Call calls method on the plugin called name with payload and returns the
// result decoded the way encoding/json decodes into an interface value.
// id is the call's trace id; an empty id is replaced by a new UUID. The
// call is bounded by the socket's call timeout (Config.CallTimeout).
func (s *Socket) Call(id, name, method string, payload any) (any, error) {
	ctx := context.Background()
	if id != "" {
		// An empty id is left for the call to replace: a context holding
		// it would be one allocation for nothing.
		ctx = envelope.WithTrace(ctx, id)
	}
	var out any
	if err := s.CallContext(ctx, name, method, payload, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CallContext calls method on the plugin called name with payload and
// decodes the result into result, a pointer (or nil to discard it). When
// ctx ends first the plugin is told to cancel the method's context and
// CallContext returns ctx's error. A ctx without a deadline gets the
// socket's call timeout (Config.CallTimeout), so that a plugin that answers
// its pings but never the call cannot hold the caller forever. ctx bounds
// the wait for the answer; sending the request is bounded by
// Config.WriteTimeout instead, since a half-written request would leave the
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
// (Config.MaxInFlight: the call waited for room until ctx ended; the error
// matches ctx's error too), ErrReservedMethod (a method starting with "$/",
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
	// The connection applies the call timeout itself, on a reused timer:
	// a context.WithTimeout here cost every call eight allocations.
	return r.call(ctx, name, method, payload, result, callTimeout(ctx, r.cfg.callTimeout))
}

// callTimeout is the call timeout that bounds a call made with ctx: d when
// ctx has no deadline of its own, else zero.
func callTimeout(ctx context.Context, d time.Duration) time.Duration {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return 0
	}
	return d
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
// zero when ctx brought its own deadline; it is named in the error when it
// expires.
func (r *remote) call(ctx context.Context, name, method string, payload, result any, timeout time.Duration) error {
	var c outCall
	payload, err := c.begin(ctx, r, name, method, payload, timeout, false)
	if err != nil {
		return err
	}
	return c.answer(result, func(into any) error { return r.conn.Call(c.ctx, method, payload, into) })
}

// outCall is one call to a plugin, from its start, where it is counted in
// r's metrics and told to the socket's Observer, to its answer. Call makes
// it from start to end at once; a broadcast sends every plugin's call
// before it waits for any answer, and so needs no goroutine for each
// (docs/performance.md, "Broadcast").
type outCall struct {
	r            *remote
	ctx          context.Context
	name, method string
	timeout      time.Duration
	stats        *methodStats // nil: not counted
	start        time.Time
	observed     func(error) // the Observer's end of the call, if any
	cancel       context.CancelFunc
	held         bool // the call holds a place in r's in-flight limit
	checked      bool // the answer is checked against the function's outputSchema
	sent         envelope.AsyncCall
}

// begin starts the call and returns the payload to send. held says the
// caller has taken the call's place in r's in-flight limit already
// (inFlight.tryTake). When begin fails, the call is over and counted;
// else answer must follow.
func (c *outCall) begin(ctx context.Context, r *remote, name, method string, payload any, timeout time.Duration, held bool) (any, error) {
	*c = outCall{r: r, name: name, method: method, timeout: timeout, held: held}
	if c.stats = r.stats.method(method); c.stats != nil {
		c.start = time.Now()
	}
	if obs := r.cfg.observer; obs != nil {
		if envelope.TraceFrom(ctx) == "" {
			// Given before the Observer runs, so that it sees the trace
			// id the call goes out with.
			ctx = envelope.WithTrace(ctx, newTraceID())
		}
		// Known only when the plugin described the method: the name may
		// have come from a plugin ($/call) or the admin API.
		_, known := r.info.Functions[method]
		ctx, c.observed = obs(ctx, envelope.ObservedCall{Method: method, Plugin: r.info.Name, Known: known})
	}
	var err error
	if held {
		payload, err = r.checkPayload(name, method, payload)
	} else {
		ctx, payload, c.cancel, err = r.guard(ctx, name, method, payload, timeout)
		c.held = err == nil
	}
	if err == nil {
		payload, err = c.shape(payload)
	}
	if err != nil {
		return nil, c.over(err)
	}
	if envelope.TraceFrom(ctx) == "" {
		ctx = envelope.WithTrace(ctx, newTraceID())
	}
	c.ctx = ctx
	c.checked = r.cfg.validateOutput && r.schemas[method].out != nil
	return payload, nil
}

// send sends the call begun with payload without waiting for its
// answer, which end then takes; done is told tag once the answer is
// there (envelope.Conn.SendNotify).
func (c *outCall) send(payload any, done chan<- int, tag int) error {
	var err error
	if c.sent, err = c.r.conn.SendNotify(c.ctx, c.method, payload, done, tag); err != nil {
		return c.over(c.failed(err))
	}
	return nil
}

// end takes the answer to the call send sent, waiting for it if need be.
func (c *outCall) end(result any) error {
	return c.answer(result, func(into any) error { return c.sent.Await(c.ctx, into) })
}

// answer ends the call with the answer get decodes into result. With
// Config.ValidateOutput on, an answer from a function with an
// outputSchema is first checked against it: one outside it is logged and
// counted (Stats.OutputInvalid), and returned all the same, since the
// plugin has answered and the caller may be able to use it.
func (c *outCall) answer(result any, get func(into any) error) error {
	if !c.checked {
		return c.over(c.failed(get(result)))
	}
	var raw json.RawMessage
	if err := get(&raw); err != nil {
		return c.over(c.failed(err))
	}
	r, sc := c.r, c.r.schemas[c.method]
	if err := validate(sc.out, sc.outCost, raw); err != nil {
		r.s.outputInvalid.Add(1)
		r.cfg.log.Warn("plugsock: result outside the function's outputSchema",
			"plugin", c.name, "method", c.method, "trace", envelope.TraceFrom(c.ctx), "err", err)
	}
	var err error
	if result != nil {
		if err = json.Unmarshal(raw, result); err != nil {
			err = c.failed(fmt.Errorf("decoding result: %w", err))
		}
	}
	return c.over(err)
}

// shape puts a protocol 2 call's payload in the form the plugin's
// description asks for: by name when it described its input as an
// object, in {"value": ...} when as something else, and by the payload's
// own shape for a method it did not describe.
func (c *outCall) shape(payload any) (any, error) {
	r := c.r
	if r.conn.Protocol() < envelope.Protocol2 {
		return payload, nil
	}
	if fn, described := r.info.Functions[c.method]; described {
		if fn.Stream != nil {
			return nil, fmt.Errorf("plugsock: call %s.%s: the function is a stream (%w); open it with OpenStream", c.name, c.method, ErrNotStream)
		}
		return envelope.Params(payload, fn.ObjectInput()), nil
	}
	payload, err := envelope.ParamsFor(payload, nil)
	if err != nil {
		return nil, fmt.Errorf("plugsock: call %s.%s: encoding the payload: %w", c.name, c.method, err)
	}
	return payload, nil
}

// failed logs a call's failure on the connection, and names the call in
// err unless the plugin's own error, which is returned as it came.
func (c *outCall) failed(err error) error {
	if err == nil {
		return nil
	}
	// Only failures are logged: a line per successful call would cost
	// more than the call. The trace id ties this line to the plugin's.
	trace := envelope.TraceFrom(c.ctx)
	c.r.cfg.log.Debug("plugsock: call failed", "plugin", c.name, "method", c.method, "trace", trace, "err", err)
	if _, ok := err.(*envelope.Error); ok {
		return err
	}
	if c.timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("plugsock: call %s.%s (trace %s): no answer within the call timeout of %v (Config.CallTimeout): %w", c.name, c.method, trace, c.timeout, err)
	}
	return fmt.Errorf("plugsock: call %s.%s (trace %s): %w", c.name, c.method, trace, err)
}

// over ends the call with err: it gives back its in-flight place and
// counts and reports it.
func (c *outCall) over(err error) error {
	if c.held {
		c.r.release()
	}
	if c.cancel != nil {
		c.cancel()
	}
	if c.observed != nil {
		c.observed(err)
	}
	if c.stats != nil {
		c.stats.record(err, time.Since(c.start))
	}
	return err
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
	type target struct {
		name string
		r    *remote
	}
	s.mu.Lock()
	targets := make([]target, 0, len(s.plugins))
	for name, r := range s.plugins {
		if r.state.callable() {
			targets = append(targets, target{name, r})
		}
	}
	cfg := s.config()
	s.mu.Unlock()
	results, errs := make(map[string]any, len(targets)), make(map[string]error)
	if reserved(method) {
		for _, t := range targets {
			errs[t.name] = reservedMethod(t.name, method)
		}
		return results, errs
	}
	ctx, cancel, timeout := withCallTimeout(ctx, cfg.callTimeout)
	defer cancel()
	if payload != nil {
		// Encoded once for every plugin, rather than once for each; a
		// payload that does not encode is left for each call to report.
		if e, err := envelope.Encode(payload); err == nil {
			payload = e
		}
	}
	// Every call is sent before any answer is taken, from this one
	// goroutine: a goroutine per plugin cost the broadcast more than its
	// calls did (docs/performance.md, "Broadcast"). Answers are taken in
	// the order they come (arrived), so that each call ends, is counted
	// and has its in-flight place back when its own answer is there, not
	// when a slower plugin's is. A plugin at its in-flight limit gets a
	// goroutine of its own, whose call waits for room without holding up
	// the others; Conn.Send waits for no other write either. Each outcome
	// goes into a slot of its own: no lock for the calls to take turns on
	// as they end together.
	type outcome struct {
		out  any
		err  error
		call outCall
		sent bool
	}
	outs := make([]outcome, len(targets))
	arrived := make(chan int, len(targets))
	waiting := 0
	var wg sync.WaitGroup
	for i, t := range targets {
		o := &outs[i]
		if !t.r.calls.tryTake() {
			wg.Go(func() { o.err = t.r.call(ctx, t.name, method, payload, &o.out, timeout) })
			continue
		}
		var p any
		if p, o.err = o.call.begin(ctx, t.r, t.name, method, payload, timeout, true); o.err == nil {
			o.err = o.call.send(p, arrived, i)
			if o.sent = o.err == nil; o.sent {
				waiting++
			}
		}
	}
	take := func(i int) {
		if o := &outs[i]; o.sent {
			o.sent = false
			o.err = o.call.end(&o.out)
			waiting--
		}
	}
	for waiting > 0 {
		select {
		case i := <-arrived:
			take(i)
		case <-ctx.Done():
			// Each call left gives up (or finds its answer, come just
			// now) and tells its plugin to cancel.
			for i := range outs {
				take(i)
			}
		}
	}
	wg.Wait()
	for i, t := range targets {
		if o := outs[i]; o.err != nil {
			errs[t.name] = o.err
		} else {
			results[t.name] = o.out
		}
	}
	return results, errs
}
