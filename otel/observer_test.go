package plugsockotel_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	plugsockotel "github.com/plugsock/plugsock/otel"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// patience bounds every wait for something that should happen at once.
const patience = 10 * time.Second

// Pair is Calc's input.
type Pair struct {
	A int `json:"a"`
	B int `json:"b"`
}

// Calc is the plugin the tests trace.
type Calc struct{}

func (*Calc) Add(_ context.Context, in Pair) (int, error) { return in.A + in.B, nil }

func (*Calc) Fail(context.Context, Pair) (int, error) { return 0, errors.New("no luck") }

// Now asks the host's clock.
func (*Calc) Now(ctx context.Context, _ struct{}) (string, error) {
	var out string
	err := plugin.HostFrom(ctx).Call(ctx, "Clock.Now", struct{}{}, &out)
	return out, err
}

// Lookup asks the kv plugin, through the host.
func (*Calc) Lookup(ctx context.Context, key string) (string, error) {
	var out string
	err := plugin.HostFrom(ctx).CallPlugin(ctx, "kv", "Get", key, &out)
	return out, err
}

// Clock is the host's service.
type Clock struct{}

func (*Clock) Now(context.Context, struct{}) (string, error) { return "noon", nil }

// KV is a second plugin, which Calc calls.
type KV struct{}

func (*KV) Get(_ context.Context, key string) (string, error) { return "v:" + key, nil }

// process is one process's tracing: its provider and what it exported.
type process struct {
	exp *tracetest.InMemoryExporter
	tp  *sdktrace.TracerProvider
}

// newProcess is a tracer provider of its own, as a separate process has;
// spans are exported as they end.
func newProcess(t *testing.T) *process {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { assert.NoError(t, tp.Shutdown(context.Background())) })
	return &process{exp: exp, tp: tp}
}

func (p *process) observer() envelope.Observer {
	return plugsockotel.Observer(plugsockotel.WithTracerProvider(p.tp))
}

func (p *process) spans() tracetest.SpanStubs { return p.exp.GetSpans() }

// newHost is a socket on loopback TCP, with obs as its Observer (nil for
// none), the Clock service, and calls between plugins allowed.
func newHost(t testing.TB, obs envelope.Observer) (*socket.Socket, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := new(socket.Socket)
	s.Serve(l, socket.Config{
		Logger:      quiet,
		Observer:    obs,
		PluginCalls: func(caller, callee, method string) bool { return caller == "calc" && callee == "kv" },
	})
	require.NoError(t, s.Register(&Clock{}))
	t.Cleanup(func() { assert.NoError(t, s.Shutdown("")) })
	return s, l.Addr().String()
}

// connect starts v as a plugin called name that dials addr over TCP, with
// obs as its Observer, and waits until it is connected. It is stopped,
// and waited for, when the test ends.
func connect(t testing.TB, s *socket.Socket, addr string, v any, name string, obs envelope.Observer) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	p := &plugin.Plugin{Logger: quiet, Observer: obs}
	done := make(chan error, 1)
	go func() { done <- p.Start(v, &envelope.PluginInfo{Name: name}, conn, nil) }()
	t.Cleanup(func() {
		s.Unplug("", name)
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(patience):
			t.Errorf("plugin %s did not stop", name)
		}
	})
	require.True(t, s.WaitFor(name, patience), "plugin %s did not connect", name)
}

// only returns the one span of spans named name with kind kind.
func only(t *testing.T, spans tracetest.SpanStubs, name string, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name && s.SpanKind == kind {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "spans named %s of kind %s among %v", name, kind, names(spans))
	return found[0]
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name + " " + s.SpanKind.String()
	}
	return out
}

// attrs returns a span's attributes by key.
func attrs(s tracetest.SpanStub) map[attribute.Key]string {
	m := make(map[attribute.Key]string, len(s.Attributes))
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value.String()
	}
	return m
}

// childOf asserts that child's parent is parent, across a connection.
func childOf(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	assert.Equal(t, parent.SpanContext.TraceID(), child.SpanContext.TraceID(), "%s: the same trace as %s", child.Name, parent.Name)
	assert.Equal(t, parent.SpanContext.SpanID(), child.Parent.SpanID(), "%s: the child of %s", child.Name, parent.Name)
}

// A host's call and the plugin's answer to it, in processes of their own
// over TCP, are one trace of two spans: the plugin's the child of the
// host's, which is the child of the span the caller's context had.
func TestOneCallIsOneTraceOfTwoSpans(t *testing.T) {
	host, calc := newProcess(t), newProcess(t)
	s, addr := newHost(t, host.observer())

	// The plugin runs as an executable does, with Plugin.Run.
	t.Setenv(envelope.EnvAddr, addr)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	p := &plugin.Plugin{Logger: quiet, Observer: calc.observer()}
	go func() { ran <- p.Run(ctx, &Calc{}, &envelope.PluginInfo{Name: "calc"}) }()
	defer func() {
		stop()
		select {
		case err := <-ran:
			assert.NoError(t, err)
		case <-time.After(patience):
			t.Error("Run did not return")
		}
	}()
	require.True(t, s.WaitFor("calc", patience))

	reqCtx, req := host.tp.Tracer("app").Start(context.Background(), "request")
	reqCtx = envelope.WithTrace(reqCtx, "trace-42")
	var sum int
	require.NoError(t, s.CallContext(reqCtx, "calc", "Add", Pair{A: 2, B: 3}, &sum))
	req.End()
	assert.Equal(t, 5, sum)

	// Each side exported its span as it ended, before the call returned.
	require.Len(t, host.spans(), 2, names(host.spans()))
	require.Len(t, calc.spans(), 1, names(calc.spans()))
	app := only(t, host.spans(), "request", trace.SpanKindInternal)
	client := only(t, host.spans(), "plugsock/Add", trace.SpanKindClient)
	server := only(t, calc.spans(), "plugsock/Add", trace.SpanKindServer)

	childOf(t, client, app)
	assert.False(t, client.Parent.IsRemote())
	childOf(t, server, client)
	assert.True(t, server.Parent.IsRemote(), "the host's span came over the connection")
	assert.True(t, server.SpanContext.IsSampled())

	for _, sp := range []tracetest.SpanStub{client, server} {
		assert.Equal(t, map[attribute.Key]string{
			"rpc.system.name":          "jsonrpc",
			"jsonrpc.protocol.version": "2.0",
			"rpc.method":               "Add",
			"plugsock.plugin":          "calc",
			"plugsock.trace":           "trace-42",
		}, attrs(sp), sp.SpanKind.String())
		assert.Equal(t, codes.Unset, sp.Status.Code)
		assert.Equal(t, plugsockotel.ScopeName, sp.InstrumentationScope.Name)
		assert.False(t, sp.EndTime.Before(sp.StartTime))
	}
	assert.False(t, server.StartTime.Before(client.StartTime), "the plugin's span starts inside the host's")
	assert.False(t, client.EndTime.Before(server.EndTime), "and ends inside it")
}

// A failing method fails both spans, with its error and its JSON-RPC
// code.
func TestAFailingMethodFailsBothSpans(t *testing.T) {
	host, calc := newProcess(t), newProcess(t)
	s, addr := newHost(t, host.observer())
	connect(t, s, addr, &Calc{}, "calc", calc.observer())

	err := s.CallContext(context.Background(), "calc", "Fail", Pair{}, nil)
	require.Error(t, err)
	assert.Equal(t, "no luck", err.Error())

	client := only(t, host.spans(), "plugsock/Fail", trace.SpanKindClient)
	server := only(t, calc.spans(), "plugsock/Fail", trace.SpanKindServer)
	childOf(t, server, client)
	for _, sp := range []tracetest.SpanStub{client, server} {
		assert.Equal(t, codes.Error, sp.Status.Code, sp.SpanKind.String())
		assert.Equal(t, "no luck", sp.Status.Description)
		a := attrs(sp)
		assert.Equal(t, "method_error", a["error.type"])
		assert.Equal(t, "-32000", a["rpc.response.status_code"])
	}
}

// A method that is not the plugin's is traced as _OTHER on both sides:
// its name came off the network, and is kept only as rpc.method_original,
// cut short.
func TestAnUnknownMethodIsFolded(t *testing.T) {
	host, calc := newProcess(t), newProcess(t)
	s, addr := newHost(t, host.observer())
	connect(t, s, addr, &Calc{}, "calc", calc.observer())

	long := "Nope" + strings.Repeat("é", 200)
	err := s.CallContext(context.Background(), "calc", long, Pair{}, nil)
	require.ErrorIs(t, err, envelope.ErrMethodNotFound)

	client := only(t, host.spans(), "plugsock/_OTHER", trace.SpanKindClient)
	server := only(t, calc.spans(), "plugsock/_OTHER", trace.SpanKindServer)
	childOf(t, server, client)
	for _, sp := range []tracetest.SpanStub{client, server} {
		a := attrs(sp)
		assert.Equal(t, "_OTHER", a["rpc.method"])
		assert.Equal(t, "not_found", a["error.type"])
		orig := a["rpc.method_original"]
		assert.True(t, strings.HasPrefix(long, orig), "a prefix of the name")
		assert.LessOrEqual(t, len(orig), 128)
		assert.Greater(t, len(orig), 120)
		assert.True(t, strings.HasSuffix(orig, "é"), "cut at a rune's boundary: %q", orig)
	}
	assert.Equal(t, "-32601", attrs(server)["rpc.response.status_code"])
}

// A plugin's call to a host service, made by a method the host called,
// goes on the same trace: host, plugin, plugin's call, host's service.
func TestAPluginsCallToTheHostIsInTheTrace(t *testing.T) {
	host, calc := newProcess(t), newProcess(t)
	s, addr := newHost(t, host.observer())
	connect(t, s, addr, &Calc{}, "calc", calc.observer())

	var now string
	require.NoError(t, s.CallContext(context.Background(), "calc", "Now", struct{}{}, &now))
	assert.Equal(t, "noon", now)

	require.Len(t, host.spans(), 2, names(host.spans()))
	require.Len(t, calc.spans(), 2, names(calc.spans()))
	hostCall := only(t, host.spans(), "plugsock/Now", trace.SpanKindClient)
	served := only(t, calc.spans(), "plugsock/Now", trace.SpanKindServer)
	pluginCall := only(t, calc.spans(), "plugsock/Clock.Now", trace.SpanKindClient)
	service := only(t, host.spans(), "plugsock/Clock.Now", trace.SpanKindServer)

	assert.False(t, hostCall.Parent.IsValid(), "the host's call starts the trace")
	childOf(t, served, hostCall)
	childOf(t, pluginCall, served)
	assert.False(t, pluginCall.Parent.IsRemote(), "the method's context carries its span")
	childOf(t, service, pluginCall)
	assert.True(t, service.Parent.IsRemote())

	for _, sp := range []tracetest.SpanStub{pluginCall, service} {
		a := attrs(sp)
		assert.Equal(t, "Clock.Now", a["rpc.method"])
		assert.Equal(t, "calc", a["plugsock.plugin"], "the plugin calling, on both sides")
	}
}

// A plugin's call to another plugin through the host is one trace across
// the three: the caller's span, the host relaying it, the host's call to
// the callee, the callee's answer.
func TestACallBetweenPluginsIsInTheTrace(t *testing.T) {
	host, calc, kv := newProcess(t), newProcess(t), newProcess(t)
	s, addr := newHost(t, host.observer())
	connect(t, s, addr, &KV{}, "kv", kv.observer())
	connect(t, s, addr, &Calc{}, "calc", calc.observer())

	var out string
	require.NoError(t, s.CallContext(context.Background(), "calc", "Lookup", "k", &out))
	assert.Equal(t, "v:k", out)

	hostCall := only(t, host.spans(), "plugsock/Lookup", trace.SpanKindClient)
	served := only(t, calc.spans(), "plugsock/Lookup", trace.SpanKindServer)
	calcCall := only(t, calc.spans(), "plugsock/Get", trace.SpanKindClient)
	relayed := only(t, host.spans(), "plugsock/Get", trace.SpanKindServer)
	relayCall := only(t, host.spans(), "plugsock/Get", trace.SpanKindClient)
	answer := only(t, kv.spans(), "plugsock/Get", trace.SpanKindServer)
	childOf(t, served, hostCall)
	childOf(t, calcCall, served)
	childOf(t, relayed, calcCall)
	childOf(t, relayCall, relayed)
	childOf(t, answer, relayCall)

	assert.Equal(t, map[string]string{"plugin": "calc", "callee": "kv"}, map[string]string{
		"plugin": attrs(calcCall)["plugsock.plugin"], "callee": attrs(calcCall)["plugsock.callee"]})
	assert.Equal(t, map[string]string{"plugin": "calc", "callee": "kv"}, map[string]string{
		"plugin": attrs(relayed)["plugsock.plugin"], "callee": attrs(relayed)["plugsock.callee"]})
	assert.Equal(t, "kv", attrs(relayCall)["plugsock.plugin"])
	assert.Equal(t, "kv", attrs(answer)["plugsock.plugin"])
	assert.NotContains(t, attrs(answer), attribute.Key("plugsock.callee"))
}

// A call between plugins that the host's policy refuses fails the
// caller's span and the host's, as forbidden.
func TestARefusedCallBetweenPluginsIsForbidden(t *testing.T) {
	host, kv := newProcess(t), newProcess(t)
	s, addr := newHost(t, host.observer())
	connect(t, s, addr, &KV{}, "kv", kv.observer())

	// kv may not call calc (the policy lets only calc call kv).
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	other := newProcess(t)
	connected := make(chan struct{})
	p := &plugin.Plugin{Logger: quiet, Observer: other.observer(), OnConnect: func(string) { close(connected) }}
	done := make(chan error, 1)
	go func() { done <- p.Start(&KV{}, &envelope.PluginInfo{Name: "kv2"}, conn, nil) }()
	defer func() {
		require.NoError(t, p.Close())
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(patience):
			t.Error("kv2 did not stop")
		}
	}()
	select {
	case <-connected: // p.Host is set from then on
	case <-time.After(patience):
		t.Fatal("kv2 did not connect")
	}
	err = p.Host().CallPlugin(context.Background(), "kv", "Get", "k", nil)
	require.ErrorIs(t, err, envelope.ErrForbidden)

	caller := only(t, other.spans(), "plugsock/Get", trace.SpanKindClient)
	relayed := only(t, host.spans(), "plugsock/Get", trace.SpanKindServer)
	childOf(t, relayed, caller)
	assert.Empty(t, kv.spans(), "the call never reached kv")
	for _, sp := range []tracetest.SpanStub{caller, relayed} {
		assert.Equal(t, codes.Error, sp.Status.Code)
		assert.Equal(t, "forbidden", attrs(sp)["error.type"])
		assert.Equal(t, "-32005", attrs(sp)["rpc.response.status_code"])
	}
}

// A plugin run in the host with Attach takes the socket's Observer: the
// same two spans, the plugin's the child of the host's.
func TestAnAttachedPluginIsTraced(t *testing.T) {
	host := newProcess(t)
	s, _ := newHost(t, host.observer())
	name, err := s.Attach(&Calc{}, &envelope.PluginInfo{Name: "calc"})
	require.NoError(t, err)
	defer s.Unplug("", name)

	var sum int
	require.NoError(t, s.CallContext(context.Background(), name, "Add", Pair{A: 1, B: 1}, &sum))
	assert.Equal(t, 2, sum)

	require.Len(t, host.spans(), 2, names(host.spans()))
	client := only(t, host.spans(), "plugsock/Add", trace.SpanKindClient)
	server := only(t, host.spans(), "plugsock/Add", trace.SpanKindServer)
	childOf(t, server, client)
	assert.True(t, server.Parent.IsRemote(), "it came over the in-memory connection")
}

// A plugin whose host traces nothing starts a trace of its own for each
// call it serves.
func TestAPluginTracesWithoutTheHost(t *testing.T) {
	calc := newProcess(t)
	s, addr := newHost(t, nil)
	connect(t, s, addr, &Calc{}, "calc", calc.observer())

	require.NoError(t, s.CallContext(context.Background(), "calc", "Add", Pair{A: 1, B: 2}, nil))
	server := only(t, calc.spans(), "plugsock/Add", trace.SpanKindServer)
	assert.False(t, server.Parent.IsValid(), "no parent came")
	assert.True(t, server.SpanContext.IsValid())
}

// WithPropagators replaces the trace context's propagator; a composite
// one with baggage still sends the trace context, and the baggage, which
// params._meta has no room for, stays behind.
func TestWithPropagators(t *testing.T) {
	host, calc := newProcess(t), newProcess(t)
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	s, addr := newHost(t, plugsockotel.Observer(plugsockotel.WithTracerProvider(host.tp), plugsockotel.WithPropagators(prop)))
	connect(t, s, addr, &Calc{}, "calc", plugsockotel.Observer(plugsockotel.WithTracerProvider(calc.tp), plugsockotel.WithPropagators(prop)))

	require.NoError(t, s.CallContext(context.Background(), "calc", "Add", Pair{}, nil))
	childOf(t, only(t, calc.spans(), "plugsock/Add", trace.SpanKindServer), only(t, host.spans(), "plugsock/Add", trace.SpanKindClient))

	// A propagator that writes nothing leaves the plugin's span a root.
	host2, calc2 := newProcess(t), newProcess(t)
	none := propagation.NewCompositeTextMapPropagator()
	s2, addr2 := newHost(t, plugsockotel.Observer(plugsockotel.WithTracerProvider(host2.tp), plugsockotel.WithPropagators(none)))
	connect(t, s2, addr2, &Calc{}, "calc", calc2.observer())
	require.NoError(t, s2.CallContext(context.Background(), "calc", "Add", Pair{}, nil))
	assert.False(t, only(t, calc2.spans(), "plugsock/Add", trace.SpanKindServer).Parent.IsValid())
}
