package socket

import (
	"context"
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

// call makes one call to r and counts it in r's metrics. timeout is the
// call timeout applied to ctx, zero when ctx brought its own deadline; it
// is named in the error when it expires.
func (r *remote) call(ctx context.Context, name, method string, payload, result any, timeout time.Duration) error {
	m := r.stats.method(method)
	if m == nil {
		return r.callOnce(ctx, name, method, payload, result, timeout)
	}
	start := time.Now()
	err := r.callOnce(ctx, name, method, payload, result, timeout)
	m.record(err, time.Since(start))
	return err
}

// callOnce makes one call to r, observed when the socket has an Observer.
func (r *remote) callOnce(ctx context.Context, name, method string, payload, result any, timeout time.Duration) error {
	obs := r.cfg.observer
	if obs == nil {
		return r.callUnobserved(ctx, name, method, payload, result, timeout)
	}
	if envelope.TraceFrom(ctx) == "" {
		// Given before the Observer runs, so that it sees the trace id
		// the call goes out with.
		ctx = envelope.WithTrace(ctx, newTraceID())
	}
	// Known only when the plugin described the method: the name may have
	// come from a plugin ($/call) or the admin API.
	_, known := r.info.Functions[method]
	ctx, end := obs(ctx, envelope.ObservedCall{Method: method, Plugin: r.info.Name, Known: known})
	err := r.callUnobserved(ctx, name, method, payload, result, timeout)
	end(err)
	return err
}

func (r *remote) callUnobserved(ctx context.Context, name, method string, payload, result any, timeout time.Duration) error {
	ctx, payload, cancel, err := r.guard(ctx, name, method, payload, timeout)
	if err != nil {
		return err
	}
	defer r.release()
	if cancel != nil {
		defer cancel()
	}
	if r.conn.Protocol() >= envelope.Protocol2 {
		// By name when the plugin described its input as an object, in
		// {"value": ...} when as something else, and by the payload's
		// own shape for a method it did not describe.
		if fn, described := r.info.Functions[method]; described {
			if fn.Stream != nil {
				return fmt.Errorf("plugsock: call %s.%s: the function is a stream (%w); open it with OpenStream", name, method, ErrNotStream)
			}
			payload = envelope.Params(payload, fn.ObjectInput())
		} else if payload, err = envelope.ParamsFor(payload, nil); err != nil {
			return fmt.Errorf("plugsock: call %s.%s: encoding the payload: %w", name, method, err)
		}
	}
	if envelope.TraceFrom(ctx) == "" {
		ctx = envelope.WithTrace(ctx, newTraceID())
	}
	err = r.exchange(ctx, name, method, payload, result)
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
		return fmt.Errorf("plugsock: call %s.%s (trace %s): no answer within the call timeout of %v (Config.CallTimeout): %w", name, method, envelope.TraceFrom(ctx), timeout, err)
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
		if r.state.callable() {
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
	if payload != nil {
		// Encoded once for every plugin, rather than once for each; a
		// payload that does not encode is left for each call to report.
		if e, err := envelope.Encode(payload); err == nil {
			payload = e
		}
	}
	// Each call's outcome in a slot of its own: no lock for the calls to
	// take turns on as they end together.
	type outcome struct {
		out any
		err error
	}
	outs := make([]outcome, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			o := &outs[i]
			o.err = t.r.call(ctx, t.name, method, payload, &o.out, timeout)
		})
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
