package envelope

import "context"

// Observer is told about every call to a function or a service as it
// starts, and ends it by calling the func it returns, once, with the
// call's error (nil when it succeeded). It is how a tracer (the module
// github.com/plugsock/plugsock/otel gives one for OpenTelemetry) follows
// calls across the host and its plugins without the core depending on
// it: socket.Config.Observer sets one on the host, plugin.Plugin.Observer
// in a Go plugin.
//
// For a call the side makes, the context the Observer returns is the one
// the request is sent with: a W3C Trace Context put in it with
// WithTraceContext travels in a protocol 2 request's params._meta. For a
// call the side serves, ctx carries the caller's (TraceContextFrom), and
// the context returned is the one the method or service runs with. Either
// way ctx carries the call's trace id (TraceFrom), and the Observer must
// return a context derived from ctx: it may add values, never drop them.
//
// The Observer runs on the call's own goroutine, for every call, in
// parallel with others: it must be safe for concurrent use and quick.
// The protocol's own requests ($/ping, $/configure and the like) are not
// observed, nor, yet, the streams a host opens (a Go plugin observes the
// stream calls it serves like any other). Left nil, which is the default,
// it costs a call nothing.
type Observer func(ctx context.Context, call ObservedCall) (context.Context, func(err error))

// ObservedCall describes a call to an Observer.
type ObservedCall struct {
	// Method is the method as the request names it: a plugin's function
	// ("Add"), a host service ("Clock.Now"), or, for a call from one
	// plugin to another through the host, the other plugin's method.
	Method string

	// Plugin is the plugin at the plugin's end of the connection the call
	// travels: on the host, the plugin called or calling; in a plugin,
	// the plugin itself. It is the name the host assigned.
	Plugin string

	// Callee is set for a call from one plugin to another through the
	// host (plugin.Host.CallPlugin, and the host relaying it): the plugin
	// called, as the caller named it, or by its assigned name where the
	// host found it. It is empty for every other call.
	Callee string

	// Served is true on the side that answers the call, false on the side
	// that makes it.
	Served bool

	// Known reports whether Method, and Callee when set, are names from a
	// set the program controls: a function the callee described in its
	// handshake, a service the host registered, or a call a Go plugin's
	// own code made. When false the names came off the network as they
	// are and may be anything, of any length: an Observer should fold them
	// into one value before making them a span's name or a metric's label
	// (the socket's metrics count them as "(other)").
	Known bool
}

// Serve starts observing call, which this side serves, with o, and returns
// the context to serve it in and the func that ends the observation with
// the answer's error (nil for a result). A nil Observer gives ctx and a
// func that does nothing. Both sides serve through it.
func (o Observer) Serve(ctx context.Context, call ObservedCall) (context.Context, func(*Error)) {
	if o == nil {
		return ctx, ignoreAnswer
	}
	call.Served = true
	ctx, end := o(ctx, call)
	return ctx, func(e *Error) {
		if e == nil {
			end(nil) // not a nil *Error in a non-nil error
			return
		}
		end(e)
	}
}

func ignoreAnswer(*Error) {}
