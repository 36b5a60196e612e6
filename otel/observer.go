// Package plugsockotel traces plugsock calls with OpenTelemetry: on the
// host and in Go plugins, a span for every call, and the W3C Trace Context
// between them in protocol 2's params._meta, so that a host's span and a
// plugin's share one trace.
//
// It is a module of its own, github.com/plugsock/plugsock/otel, so that
// plugsock itself depends on no OpenTelemetry package. Observer returns an
// envelope.Observer; give it to both sides:
//
//	s.Serve(l, socket.Config{Observer: plugsockotel.Observer()})
//
//	p := &plugin.Plugin{Observer: plugsockotel.Observer()}
//	err := p.Run(ctx, &Calc{}, &envelope.PluginInfo{Name: "calc"})
//
// Spans are named "plugsock/" and the method: "plugsock/Add" for a
// plugin's function, "plugsock/Clock.Now" for a host service. The host's
// call is a client span and the plugin's answer to it a server span, its
// child; a plugin's call to the host, or to another plugin through it,
// goes the other way. Each carries:
//
//   - rpc.system.name: "jsonrpc", and jsonrpc.protocol.version: "2.0";
//   - rpc.method: the method, or "_OTHER" for one the callee did not
//     describe, whose name came off the network as it is; that name is
//     then in rpc.method_original, cut to 128 bytes;
//   - plugsock.plugin: the plugin at the plugin's end of the connection
//     (on the host, the one called or calling; in a plugin, itself);
//   - plugsock.callee: for a call from one plugin to another through the
//     host, the plugin called;
//   - plugsock.trace: the call's plugsock trace id, the one its log lines
//     carry;
//   - on failure, status Error with the error's text (cut to 256 bytes),
//     error.type, the outcome as the plugsock_calls_total metric names it
//     (method_error, invalid_params, not_found, timeout, cancelled,
//     overloaded or lost) or forbidden (a $/call the host refused), and,
//     when the failure is an error answer, rpc.response.status_code, its
//     JSON-RPC error code.
//
// Protocol 1 has no room for the trace context: over it, each side's
// spans start traces of their own.
package plugsockotel

import (
	"context"
	"errors"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/plugsock/plugsock/envelope"
)

// ScopeName is the instrumentation scope of the spans: the module's path.
const ScopeName = "github.com/plugsock/plugsock/otel"

// The span attributes of plugsock's own.
const (
	PluginKey = attribute.Key("plugsock.plugin")
	CalleeKey = attribute.Key("plugsock.callee")
	TraceKey  = attribute.Key("plugsock.trace")
)

// Bounds on what the network can put in a span: names a peer sends are
// cut to maxName bytes and error texts to maxStatus, since a span is kept
// until it is exported.
const (
	maxName   = 128
	maxStatus = 256
)

// Option configures Observer.
type Option interface{ apply(*config) }

type config struct {
	provider    trace.TracerProvider
	propagators propagation.TextMapPropagator
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithTracerProvider makes the spans with tp instead of OpenTelemetry's
// global provider (otel.GetTracerProvider, which passes them on to a
// provider set later with otel.SetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.provider = tp })
}

// WithPropagators writes and reads the trace context with p instead of
// propagation.TraceContext. Only the traceparent and tracestate fields
// travel, since those are what params._meta has room for: what else p
// writes (baggage, b3 headers) is left behind. That is also why the
// default is not otel.GetTextMapPropagator, which propagates nothing
// until the program sets it.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) { c.propagators = p })
}

// Observer returns an envelope.Observer that traces each call in a span,
// for socket.Config.Observer and plugin.Plugin.Observer. For a call the
// side serves, the span is the child of the caller's, whose trace context
// came in params._meta; for a call it makes, the child of the span in the
// call's context (or of the trace context put there with
// envelope.WithTraceContext), and its own trace context goes out with the
// request. The context a method or service runs with carries its span, so
// that the spans the method starts, and the calls it makes, are its
// children.
func Observer(opts ...Option) envelope.Observer {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	if c.provider == nil {
		c.provider = otel.GetTracerProvider()
	}
	if c.propagators == nil {
		c.propagators = propagation.TraceContext{}
	}
	o := &observer{
		tracer:      c.provider.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		propagators: c.propagators,
	}
	return o.observe
}

type observer struct {
	tracer      trace.Tracer
	propagators propagation.TextMapPropagator
}

func (o *observer) observe(ctx context.Context, call envelope.ObservedCall) (context.Context, func(error)) {
	kind := trace.SpanKindClient
	switch {
	case call.Served:
		kind = trace.SpanKindServer
		ctx = o.extract(ctx)
	case !trace.SpanContextFromContext(ctx).IsValid():
		ctx = o.extract(ctx)
	}
	method, callee := call.Method, call.Callee
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, semconv.RPCSystemNameJSONRPC, semconv.JSONRPCProtocolVersion("2.0"))
	if !call.Known {
		attrs = append(attrs, semconv.RPCMethodOriginal(cut(method, maxName)))
		method = "_OTHER"
		callee = cut(callee, maxName)
	}
	attrs = append(attrs, semconv.RPCMethod(method), PluginKey.String(call.Plugin))
	if callee != "" {
		attrs = append(attrs, CalleeKey.String(callee))
	}
	if id := envelope.TraceFrom(ctx); id != "" {
		attrs = append(attrs, TraceKey.String(cut(id, maxName)))
	}
	ctx, span := o.tracer.Start(ctx, "plugsock/"+method, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	if !call.Served {
		ctx = o.inject(ctx)
	}
	return ctx, func(err error) {
		if err != nil {
			failed(span, err)
		}
		span.End()
	}
}

// extract gives ctx the remote span whose trace context ctx carries, if
// any.
func (o *observer) extract(ctx context.Context) context.Context {
	parent, state := envelope.TraceContextFrom(ctx)
	if parent == "" {
		return ctx
	}
	return o.propagators.Extract(ctx, &carrier{parent: parent, state: state})
}

// inject puts the trace context of ctx's span in ctx, for the request.
func (o *observer) inject(ctx context.Context) context.Context {
	var c carrier
	o.propagators.Inject(ctx, &c)
	if c.parent == "" {
		return ctx // nothing to say: what ctx carried goes on as it was
	}
	return envelope.WithTraceContext(ctx, c.parent, c.state)
}

// failed records err on span.
func failed(span trace.Span, err error) {
	span.SetStatus(codes.Error, cut(err.Error(), maxStatus))
	attrs := []attribute.KeyValue{semconv.ErrorTypeKey.String(errorType(err))}
	var e *envelope.Error
	if errors.As(err, &e) {
		attrs = append(attrs, semconv.RPCResponseStatusCode(strconv.FormatInt(e.Code, 10)))
	}
	span.SetAttributes(attrs...)
}

// errorType is the error.type of a call that failed with err: the
// outcomes of the plugsock_calls_total metric, and forbidden.
func errorType(err error) string {
	var e *envelope.Error
	switch {
	case errors.Is(err, envelope.ErrOverloaded):
		return "overloaded"
	case errors.Is(err, envelope.ErrInvalidParams):
		return "invalid_params"
	case errors.Is(err, envelope.ErrMethodNotFound):
		return "not_found"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, envelope.ErrCancelled):
		return "cancelled"
	case errors.Is(err, envelope.ErrForbidden):
		return "forbidden"
	case errors.Is(err, envelope.ErrShutdown):
		return "lost"
	case errors.As(err, &e):
		return "method_error"
	}
	return "lost"
}

// cut returns s cut to at most n bytes, at a rune's boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// carrier is the trace context as params._meta carries it.
type carrier struct{ parent, state string }

const (
	traceparent = "traceparent"
	tracestate  = "tracestate"
)

func (c *carrier) Get(key string) string {
	switch key {
	case traceparent:
		return c.parent
	case tracestate:
		return c.state
	}
	return ""
}

func (c *carrier) Set(key, value string) {
	switch key {
	case traceparent:
		c.parent = value
	case tracestate:
		c.state = value
	}
}

func (c *carrier) Keys() []string {
	keys := make([]string, 0, 2)
	if c.parent != "" {
		keys = append(keys, traceparent)
	}
	if c.state != "" {
		keys = append(keys, tracestate)
	}
	return keys
}
