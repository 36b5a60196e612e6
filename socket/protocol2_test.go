package socket_test

// Protocol 2 end to end: Go plugins and hand-written ones against a real
// Socket, over loopback TCP. chain_test.go has the chains plugin → host
// service → plugin; protocol_test.go, protocol 1 by hand, is unchanged.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

// p2Wait bounds every wait in the protocol 2 tests.
const p2Wait = 10 * time.Second

// deadlineLayout is how protocol 2 senders write a deadline.
const deadlineLayout = "2006-01-02T15:04:05.000Z07:00"

// wireDeadline is d as a protocol 2 sender writes it, and as the callee's
// context has it: truncated to the millisecond.
func wireDeadline(d time.Time) time.Time { return d.UTC().Truncate(time.Millisecond) }

// Seen is what a method, a plugin's or a service's, saw of its context.
type Seen struct {
	ID          string    `json:"id,omitempty"` // the plugin instance
	Trace       string    `json:"trace"`
	TraceParent string    `json:"traceparent,omitempty"`
	TraceState  string    `json:"tracestate,omitempty"`
	Deadline    time.Time `json:"deadline"`
	HasDeadline bool      `json:"hasDeadline"`
	Plugin      string    `json:"plugin,omitempty"` // socket.PluginFrom
	Host        int       `json:"host"`             // plugin.HostFrom(ctx).Protocol(): 0 for none
	Progress    bool      `json:"progress"`         // the caller asked for progress
}

func see(ctx context.Context, id string) Seen {
	s := Seen{
		ID:       id,
		Trace:    envelope.TraceFrom(ctx),
		Plugin:   socket.PluginFrom(ctx),
		Host:     plugin.HostFrom(ctx).Protocol(),
		Progress: envelope.ProgressRequested(ctx),
	}
	s.TraceParent, s.TraceState = envelope.TraceContextFrom(ctx)
	s.Deadline, s.HasDeadline = ctx.Deadline()
	return s
}

// Probe is the protocol 2 test plugin: its methods say what their context
// carries, fail in the ways a method can, report progress and call the
// host back.
type Probe struct {
	id   string
	hook chan any
}

func (p *Probe) UseAsyncHook(h chan any) { p.hook = h }

func (p *Probe) Look(ctx context.Context, _ struct{}) (Seen, error) { return see(ctx, p.id), nil }

func (p *Probe) Add(_ context.Context, in testplugins.Args) (int, error) { return in.A + in.B, nil }

func (p *Probe) Echo(_ context.Context, s string) (string, error) { return s, nil }

func (p *Probe) Div(_ context.Context, in testplugins.Args) (int, error) {
	if in.B == 0 {
		return 0, errors.New("division by zero")
	}
	return in.A / in.B, nil
}

func (p *Probe) Teapot(context.Context, struct{}) (int, error) {
	return 0, &envelope.Error{Code: -32418, Message: "short and stout", Data: json.RawMessage(`{"spout":true}`)}
}

// CountOut is what Count answers: its input, and whether its caller asked
// for progress.
type CountOut struct {
	N        int  `json:"n"`
	Progress bool `json:"progress"`
}

// Count reports n steps of progress, then answers.
func (p *Probe) Count(ctx context.Context, n int) (CountOut, error) {
	for i := 1; i <= n; i++ {
		plugin.Progress(ctx, float64(i), float64(n), fmt.Sprintf("step %d of %d", i, n))
	}
	return CountOut{N: n, Progress: envelope.ProgressRequested(ctx)}, nil
}

// Hops is what a call of Hop saw at each link of its chain.
type Hops struct {
	Plugin  Seen       `json:"plugin"`  // Hop, the method the host called
	Service ServiceHop `json:"service"` // Tracer.Hop, which Hop called
}

// ServiceHop is what Tracer.Hop saw, and what the method it called back saw.
type ServiceHop struct {
	Seen Seen `json:"seen"`
	Back Seen `json:"back"` // the plugin's Look, called by the service
}

// Hop calls the host's Tracer.Hop, which calls this plugin's Look.
func (p *Probe) Hop(ctx context.Context, _ struct{}) (Hops, error) {
	hops := Hops{Plugin: see(ctx, p.id)}
	err := plugin.HostFrom(ctx).Call(ctx, "Tracer.Hop", nil, &hops.Service)
	return hops, err
}

// Tracer is a host service that calls back the plugin that called it.
type Tracer struct{ s *socket.Socket }

func (t *Tracer) Hop(ctx context.Context, _ struct{}) (ServiceHop, error) {
	h := ServiceHop{Seen: see(ctx, "")}
	err := t.s.CallContext(ctx, socket.PluginFrom(ctx), "Look", nil, &h.Back)
	return h, err
}

// Meter is a host service with a method for each way a call can go.
type Meter struct{}

func (*Meter) Look(ctx context.Context, _ struct{}) (Seen, error) { return see(ctx, "meter"), nil }

func (*Meter) Sum(_ context.Context, in testplugins.Args) (int, error) { return in.A + in.B, nil }

func (*Meter) Echo(_ context.Context, s string) (string, error) { return s, nil }

func (*Meter) Fail(_ context.Context, msg string) (string, error) { return "", errors.New(msg) }

func (*Meter) Panic(context.Context, struct{}) (int, error) { panic("the meter broke") }

// Report reports n steps of progress to the plugin, with no total or
// message, then answers n.
func (*Meter) Report(ctx context.Context, n int) (int, error) {
	for i := 1; i <= n; i++ {
		plugin.Progress(ctx, float64(i), 0, "")
	}
	return n, nil
}

// Gate is a host service whose Wait holds its requests until released.
type Gate struct {
	entered chan int
	release chan struct{}
	ended   chan error // when not nil, gets the error of each context that ended
}

func (g *Gate) Wait(ctx context.Context, n int) (int, error) {
	g.entered <- n
	select {
	case <-g.release:
		return n, nil
	case <-ctx.Done():
		if g.ended != nil {
			g.ended <- ctx.Err()
		}
		return 0, ctx.Err()
	}
}

// Deaf is a host service whose Hear ignores its context until released.
type Deaf struct {
	entered chan struct{}
	release chan struct{}
}

func (d *Deaf) Hear(context.Context, struct{}) (int, error) {
	d.entered <- struct{}{}
	<-d.release
	return 1, nil
}

// Holder is a plugin whose Hold waits for its context to end.
type Holder struct {
	entered chan string // the trace id of each Hold call
	ended   chan error
}

func (h *Holder) Hold(ctx context.Context, _ struct{}) (int, error) {
	h.entered <- envelope.TraceFrom(ctx)
	select {
	case <-ctx.Done():
		h.ended <- ctx.Err()
		return 0, ctx.Err()
	case <-time.After(p2Wait):
		h.ended <- nil
		return 0, errors.New("Hold: the context never ended")
	}
}

// report is one progress report as a ProgressFunc receives it.
type report struct {
	Progress, Total float64
	Message         string
}

// reports collects progress reports.
type reports struct {
	mu   sync.Mutex
	got  []report
	done atomic.Bool // the call has returned: a report now is too late
	late atomic.Int32
}

func (r *reports) add(progress, total float64, message string) {
	if r.done.Load() {
		r.late.Add(1)
	}
	r.mu.Lock()
	r.got = append(r.got, report{progress, total, message})
	r.mu.Unlock()
}

func (r *reports) all() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]report(nil), r.got...)
}

// callCtx is a context for one call, bounded so that a lost answer fails
// the test instead of hanging it.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), p2Wait)
	t.Cleanup(cancel)
	return ctx
}

// hostOf returns the Host a plugin started by plug is connected to.
func hostOf(t *testing.T, st *started) *plugin.Host {
	t.Helper()
	h := st.p.Host()
	require.NotNil(t, h, "the plugin's Host")
	require.Equal(t, envelope.Protocol2, h.Protocol())
	return h
}

// rpcErr asserts that err is an error answer with the given code.
func rpcErr(t *testing.T, err error, code int64) *envelope.Error {
	t.Helper()
	var e *envelope.Error
	require.ErrorAs(t, err, &e)
	assert.EqualValues(t, code, e.Code, "code of %q", e.Message)
	return e
}

// assertDeadline checks that a callee's deadline is the caller's, as the
// wire carries it: not later, and less than a millisecond earlier.
func assertDeadline(t *testing.T, want time.Time, s Seen, where string) {
	t.Helper()
	if !assert.True(t, s.HasDeadline, "%s has a deadline", where) {
		return
	}
	assert.False(t, s.Deadline.After(want), "%s: deadline %v is later than the caller's %v", where, s.Deadline, want)
	assert.Less(t, want.Sub(s.Deadline), time.Millisecond, "%s: deadline %v, the caller's %v", where, s.Deadline, want)
}

// TestProtocol2Deadlines: the host's deadline, its own or its call
// timeout's, is the plugin method's; a plugin's is the service method's.
func TestProtocol2Deadlines(t *testing.T) {
	const timeout = 30 * time.Second
	h := newHost(t, "tcp", socket.Config{CallTimeout: timeout})
	require.NoError(t, h.s.Register(&Meter{}))
	st := h.plug(&Probe{id: "p"}, "probe")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	var seen Seen
	require.NoError(t, h.s.CallContext(ctx, "probe", "Look", nil, &seen))
	assertDeadline(t, want, seen, "the plugin's method")
	assert.Equal(t, envelope.Protocol2, seen.Host, "HostFrom in a protocol 2 method")

	// No deadline of the context's own: the call timeout's is sent.
	before := time.Now()
	require.NoError(t, h.s.CallContext(context.Background(), "probe", "Look", nil, &seen))
	after := time.Now()
	require.True(t, seen.HasDeadline, "the call timeout gives the method a deadline")
	assert.WithinRange(t, seen.Deadline, before.Add(timeout).Add(-time.Millisecond), after.Add(timeout))

	// The plugin's deadline reaches the service.
	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	want, _ = ctx.Deadline()
	require.NoError(t, hostOf(t, st).Call(ctx, "Meter.Look", nil, &seen))
	assertDeadline(t, want, seen, "the service method")
	assert.Equal(t, "probe", seen.Plugin)

	// A plugin has no call timeout: without a deadline it sends none.
	require.NoError(t, hostOf(t, st).Call(context.Background(), "Meter.Look", nil, &seen))
	assert.False(t, seen.HasDeadline, "a service called without a deadline has none")

	// With the call timeout off, the plugin's method has no deadline either.
	off := newHost(t, "tcp", socket.Config{CallTimeout: -1})
	off.plug(&Probe{id: "q"}, "probe")
	require.NoError(t, off.s.CallContext(context.Background(), "probe", "Look", nil, &seen))
	assert.False(t, seen.HasDeadline, "no deadline and no call timeout: the method has none")
}

// TestProtocol2TraceAlongTheChain: the host's trace id and W3C Trace
// Context reach the plugin, travel with its call to a service, and come
// back with the service's call to the plugin; PluginFrom is the assigned
// name, a key-sequenced one too.
func TestProtocol2TraceAlongTheChain(t *testing.T) {
	h := newHost(t, "tcp", socket.WithKeySequencer(func(name string) string { return name + "-2" }, 1))
	require.NoError(t, h.s.Register(&Tracer{s: h.s}))
	first := h.plug(&Probe{id: "first"}, "calc")
	second := h.plug(&Probe{id: "second"}, "calc")
	require.Equal(t, "calc", first.name)
	require.Equal(t, "calc-2", second.name, "the second instance's key")

	const parent, state = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=value"
	for _, tc := range []struct{ name, id string }{{"calc", "first"}, {"calc-2", "second"}} {
		t.Run(tc.name, func(t *testing.T) {
			trace := "trace-" + tc.name
			ctx := envelope.WithTraceContext(envelope.WithTrace(context.Background(), trace), parent, state)
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			d, _ := ctx.Deadline()
			var hops Hops
			require.NoError(t, h.s.CallContext(ctx, tc.name, "Hop", nil, &hops))
			for where, s := range map[string]Seen{"the plugin's Hop": hops.Plugin, "the service": hops.Service.Seen, "the plugin's Look": hops.Service.Back} {
				assert.Equal(t, trace, s.Trace, "trace id in %s", where)
				assert.Equal(t, parent, s.TraceParent, "traceparent in %s", where)
				assert.Equal(t, state, s.TraceState, "tracestate in %s", where)
				assertDeadline(t, d, s, where)
			}
			assert.Equal(t, tc.name, hops.Service.Seen.Plugin, "PluginFrom is the assigned name")
			assert.Equal(t, tc.id, hops.Plugin.ID)
			assert.Equal(t, tc.id, hops.Service.Back.ID, "the service called back the instance that called it")
			assert.Equal(t, envelope.Protocol2, hops.Plugin.Host)
			assert.Equal(t, envelope.Protocol2, hops.Service.Back.Host)
			assert.Empty(t, hops.Plugin.Plugin, "PluginFrom outside a service")
		})
	}

	// Without a trace id the host makes one up, and it goes all the way.
	var hops Hops
	require.NoError(t, h.s.CallContext(callCtx(t), "calc", "Hop", nil, &hops))
	_, err := uuid.Parse(hops.Plugin.Trace)
	require.NoError(t, err, "a made-up trace id is a UUID: %q", hops.Plugin.Trace)
	assert.Equal(t, hops.Plugin.Trace, hops.Service.Seen.Trace)
	assert.Equal(t, hops.Plugin.Trace, hops.Service.Back.Trace)

	// A plugin's own call without one gets a new one at the service, which
	// its call back carries.
	var sh ServiceHop
	require.NoError(t, hostOf(t, second).Call(callCtx(t), "Tracer.Hop", nil, &sh))
	_, err = uuid.Parse(sh.Seen.Trace)
	require.NoError(t, err, "the service's trace id is a UUID: %q", sh.Seen.Trace)
	assert.Equal(t, sh.Seen.Trace, sh.Back.Trace)
	assert.Equal(t, "calc-2", sh.Seen.Plugin)
	assert.Equal(t, "second", sh.Back.ID)
}

// fn is the description reflection gives a function of in and out: the
// Entities and the exact schemas.
func fn(name string, in, out reflect.Type) typedesc.Function {
	f := typedesc.Function{Name: name, Input: typedesc.ForType(in), Output: typedesc.ForType(out)}
	var err error
	if f.InputSchema, err = typedesc.InputSchema(in); err != nil {
		panic(err)
	}
	if f.OutputSchema, err = typedesc.OutputSchema(out); err != nil {
		panic(err)
	}
	return f
}

// withoutSchemas is a frame with the schemas of the functions it
// describes (a handshake's, or its answer's services) left out, so that a
// golden frame can spell the rest.
func withoutSchemas(t *testing.T, frame string) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(frame), &v))
	var strip func(any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			delete(v, "inputSchema")
			delete(v, "outputSchema")
			for _, e := range v {
				strip(e)
			}
		case []any:
			for _, e := range v {
				strip(e)
			}
		}
	}
	strip(v)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestProtocol2ServicesListed: the handshake's answer lists the services,
// as reflection describes them, and OnConnect already sees them.
func TestProtocol2ServicesListed(t *testing.T) {
	h := newHost(t, "tcp")
	require.NoError(t, h.s.Register(&Meter{}))
	require.NoError(t, h.s.RegisterName("Time", &Tracer{s: h.s}))
	var (
		none = reflect.TypeFor[struct{}]()
		args = reflect.TypeFor[testplugins.Args]()
		str  = reflect.TypeFor[string]()
		num  = reflect.TypeFor[int]()
	)
	want := map[string]typedesc.Function{
		"Meter.Look":   fn("Meter.Look", none, reflect.TypeFor[Seen]()),
		"Meter.Sum":    fn("Meter.Sum", args, num),
		"Meter.Echo":   fn("Meter.Echo", str, str),
		"Meter.Fail":   fn("Meter.Fail", str, str),
		"Meter.Panic":  fn("Meter.Panic", none, num),
		"Meter.Report": fn("Meter.Report", num, num),
		"Time.Hop":     fn("Time.Hop", none, reflect.TypeFor[ServiceHop]()),
	}

	conn, err := net.Dial(h.addr.Network(), h.addr.String())
	require.NoError(t, err)
	hosts := make(chan *plugin.Host, 1)
	p := &plugin.Plugin{Logger: quiet}
	p.OnConnect = func(string) { hosts <- p.Host() }
	stopped := make(chan error, 1)
	go func() { stopped <- p.Start(&Probe{id: "p"}, &envelope.PluginInfo{Name: "probe"}, conn, nil) }()
	hst := recv(t, hosts, "OnConnect")
	require.NotNil(t, hst, "Host in OnConnect")
	assert.Equal(t, envelope.Protocol2, hst.Protocol())
	assert.Equal(t, want, hst.Services())

	// The map is the caller's own.
	got := hst.Services()
	got["Meter.Look"].Output.Fields[0].Name = "changed"
	delete(got, "Meter.Sum")
	assert.Equal(t, want, hst.Services())

	var sum int
	require.NoError(t, hst.Call(callCtx(t), "Meter.Sum", testplugins.Args{A: 40, B: 2}, &sum))
	assert.Equal(t, 42, sum)

	// A service registered later is not in the answer this plugin had;
	// a plugin connecting now finds it.
	require.NoError(t, h.s.RegisterName("Late", &Meter{}))
	assert.NotContains(t, hst.Services(), "Late.Sum")
	later := h.plug(&Probe{id: "later"}, "later")
	assert.Equal(t, fn("Late.Sum", args, num), hostOf(t, later).Services()["Late.Sum"])
	require.NoError(t, hostOf(t, later).Call(callCtx(t), "Late.Sum", testplugins.Args{A: 1, B: 2}, &sum))
	assert.Equal(t, 3, sum)

	require.NoError(t, p.Close())
	require.NoError(t, recv(t, stopped, "Start to return"))
	assert.Nil(t, p.Host(), "no Host once Start has returned")
}

// TestProtocol2LateServiceCalledByName: Register promises that a plugin
// connected before the service was registered can call it all the same.
// It does not know the service's description, yet an object input must
// still arrive by name.
func TestProtocol2LateServiceCalledByName(t *testing.T) {
	h := newHost(t, "tcp")
	st := h.plug(&Probe{id: "p"}, "probe")
	require.NoError(t, h.s.RegisterName("Late", &Meter{}))
	var echo string
	require.NoError(t, hostOf(t, st).Call(callCtx(t), "Late.Echo", "hi", &echo))
	assert.Equal(t, "hi", echo, "a string input")
	var sum int
	require.NoError(t, hostOf(t, st).Call(callCtx(t), "Late.Sum", testplugins.Args{A: 1, B: 2}, &sum))
	assert.Equal(t, 3, sum, "an object input, sent without the description")
}

// Bare has methods, none of a shape a plugin could call.
type Bare struct{}

func (Bare) Hello() string { return "hello" }

// Valued has callable methods on its pointer only.
type Valued struct{}

func (*Valued) Get(context.Context, struct{}) (int, error) { return 1, nil }

func TestProtocol2RegisterRefusals(t *testing.T) {
	var s socket.Socket
	for name, why := range map[string]string{
		"a.b":       `contains "."`,
		"$x":        `begins with "$"`,
		"":          "",
		"two words": "",
		"a/b":       "",
		"a@b":       "",
	} {
		err := s.RegisterName(name, &Meter{})
		require.Error(t, err, "name %q", name)
		assert.Contains(t, err.Error(), fmt.Sprintf("register service %q", name))
		assert.Contains(t, err.Error(), why, "name %q", name)
	}

	err := s.Register(&Bare{})
	require.ErrorIs(t, err, plugin.ErrNoMethods)
	assert.Equal(t, `plugsock: register service "Bare": type *socket_test.Bare has no method shaped func(context.Context, In) (Out, error): no callable methods`, err.Error())
	err = s.Register(Valued{})
	require.ErrorIs(t, err, plugin.ErrNoMethods)
	assert.Contains(t, err.Error(), "pass a pointer")
	assert.Error(t, s.Register(nil))

	require.NoError(t, s.Register(&Meter{}))
	err = s.Register(&Meter{})
	require.Error(t, err)
	assert.Equal(t, `plugsock: register service "Meter": a service of that name is registered already`, err.Error())
	assert.Error(t, s.RegisterName("Meter", &Tracer{}), "the name, not the type, is what is taken")
	require.NoError(t, s.RegisterName("Meter2", &Meter{}), "another name for the same type")
	require.NoError(t, s.Shutdown(""))
}

// TestProtocol2ServiceErrors: a service's answers are a plugin method's:
// -32601, -32000 with the error's text, -32603 for a panic, -32602 naming
// the field.
func TestProtocol2ServiceErrors(t *testing.T) {
	h := newHost(t, "tcp")
	require.NoError(t, h.s.Register(&Meter{}))
	hst := hostOf(t, h.plug(&Probe{id: "p"}, "probe"))
	ctx := callCtx(t)

	for _, m := range []string{"Nope.Look", "Meter.Nope", "Meter", "Meter."} {
		err := hst.Call(ctx, m, nil, nil)
		assert.ErrorIs(t, err, envelope.ErrMethodNotFound, m)
		assert.Equal(t, "method not found: "+m, rpcErr(t, err, envelope.CodeMethodNotFound).Message)
	}

	const text = "the meter is broken — \"quoted\", ünïcode,\ttab"
	err := hst.Call(ctx, "Meter.Fail", text, nil)
	rpcErr(t, err, envelope.CodeMethodError)
	assert.Equal(t, text, err.Error(), "the service's error text, unchanged")

	err = hst.Call(ctx, "Meter.Panic", nil, nil)
	assert.Contains(t, rpcErr(t, err, envelope.CodeInternalError).Message, "the meter broke")
	var sum int
	require.NoError(t, hst.Call(ctx, "Meter.Sum", testplugins.Args{A: 2, B: 3}, &sum), "the host serves on after a panic")
	assert.Equal(t, 5, sum)

	err = hst.Call(ctx, "Meter.Sum", map[string]any{"a": "one"}, nil)
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.Equal(t, `invalid params for Meter.Sum: field "a": expected int, got string`, rpcErr(t, err, envelope.CodeInvalidParams).Message)
	err = hst.Call(ctx, "Meter.Echo", 5, nil)
	assert.Equal(t, `invalid params for Meter.Echo: expected string, got number`, rpcErr(t, err, envelope.CodeInvalidParams).Message)

	// The protocol's own methods are not the host's services; the plugin
	// refuses to send them (raw frames get -32601: TestProtocol2Hostile).
	err = hst.Call(ctx, "$/whatever", nil, nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound)
	assert.ErrorContains(t, err, "$/whatever")

	err = hst.Call(ctx, "Meter.Sum", make(chan int), nil)
	assert.ErrorContains(t, err, "encoding params", "an unencodable payload never leaves the plugin")
	require.NoError(t, hst.Call(ctx, "Meter.Sum", testplugins.Args{A: 1, B: 1}, &sum))
	assert.Equal(t, 2, sum)
}

// TestProtocol2ServiceMaxInFlight: a plugin's requests beyond MaxInFlight
// are refused with -32004 while the others are served.
func TestProtocol2ServiceMaxInFlight(t *testing.T) {
	const limit = 3
	h := newHost(t, "tcp", socket.Config{MaxInFlight: limit})
	g := &Gate{entered: make(chan int, 16), release: make(chan struct{})}
	require.NoError(t, h.s.Register(g))
	hst := hostOf(t, h.plug(&Probe{id: "p"}, "probe"))
	ctx := callCtx(t)

	results := make(chan int, limit)
	errs := make(chan error, limit)
	for i := range limit {
		go func() {
			var n int
			err := hst.Call(ctx, "Gate.Wait", i, &n)
			errs <- err
			results <- n
		}()
	}
	for range limit {
		recv(t, g.entered, "a request to be inside Gate.Wait")
	}
	for range 2 {
		err := hst.Call(ctx, "Gate.Wait", 99, nil)
		assert.ErrorIs(t, err, envelope.ErrOverloaded)
		assert.Contains(t, rpcErr(t, err, envelope.CodeOverloaded).Message, fmt.Sprintf("%d requests in flight", limit))
	}
	close(g.release)
	got := map[int]bool{}
	for range limit {
		require.NoError(t, recv(t, errs, "a held request's answer"))
		got[recv(t, results, "a held request's result")] = true
	}
	assert.Equal(t, map[int]bool{0: true, 1: true, 2: true}, got)
}

// TestProtocol2ServiceSlotFreedBeforeTheAnswer: a plugin that calls a
// service one request after another never has more than one in flight, so
// even with MaxInFlight 1 none may be refused: the host must free the
// request's slot before its answer can reach the plugin, as a plugin frees
// a call's id before answering it.
func TestProtocol2ServiceSlotFreedBeforeTheAnswer(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{MaxInFlight: 1, HeartbeatInterval: -1})
	require.NoError(t, h.s.Register(&Meter{}))
	hst := hostOf(t, h.plug(&Probe{id: "p"}, "probe"))
	ctx := callCtx(t)
	refused := 0
	for i := range 500 {
		var n int
		err := hst.Call(ctx, "Meter.Sum", testplugins.Args{A: i, B: 1}, &n)
		if errors.Is(err, envelope.ErrOverloaded) {
			refused++
			continue
		}
		require.NoError(t, err)
		require.Equal(t, i+1, n)
	}
	assert.Zero(t, refused, "sequential requests refused as overloaded, of 500")

	// JSON-RPC 2.0 lets a client use an id again once it is answered.
	p := p2Start(t, h.addr.String(), "raw2")
	for i := range 500 {
		r := p.request(t, 1, "Meter.Sum", `{"a":`+strconv.Itoa(i)+`,"b":1}`)
		require.Nil(t, r.Error, "request %d with id 1 again", i)
		require.Equal(t, strconv.Itoa(i+1), string(r.Result))
	}
}

// TestProtocol2PluginCallsForbiddenWithoutAPolicy: with no policy, every
// $/call is refused, before the callee is looked for.
func TestProtocol2PluginCallsForbiddenWithoutAPolicy(t *testing.T) {
	h := newHost(t, "tcp")
	a := hostOf(t, h.plug(&Probe{id: "a"}, "a"))
	h.plug(&Probe{id: "b"}, "b")
	for _, callee := range []string{"b", "ghost"} {
		var sum int
		err := a.CallPlugin(callCtx(t), callee, "Add", testplugins.Args{A: 1, B: 2}, &sum)
		assert.ErrorIs(t, err, envelope.ErrForbidden)
		assert.Equal(t, fmt.Sprintf(`plugin "a" may not call "%s.Add"`, callee), rpcErr(t, err, envelope.CodeForbidden).Message)
	}
}

// TestProtocol2PluginCalls: $/call as far as the policy allows, to protocol
// 2 and protocol 1 plugins.
func TestProtocol2PluginCalls(t *testing.T) {
	allowed := map[[3]string]bool{}
	for _, m := range []string{"Add", "Div", "Teapot", "Look", "Count", "Nope"} {
		allowed[[3]string{"a", "b", m}] = true
	}
	allowed[[3]string{"a", "ghost", "Add"}] = true
	allowed[[3]string{"a", "old", "Add"}] = true
	allowed[[3]string{"a", "old", "Echo"}] = true
	var mu sync.Mutex
	var asked [][3]string
	policy := func(caller, callee, method string) bool {
		mu.Lock()
		asked = append(asked, [3]string{caller, callee, method})
		mu.Unlock()
		return allowed[[3]string{caller, callee, method}]
	}
	h := newHost(t, "tcp", socket.WithPluginCalls(policy), socket.Config{HeartbeatInterval: -1})
	a := hostOf(t, h.plug(&Probe{id: "a"}, "a"))
	b := hostOf(t, h.plug(&Probe{id: "b"}, "b"))
	ctx := callCtx(t)

	var sum int
	require.NoError(t, a.CallPlugin(ctx, "b", "Add", testplugins.Args{A: 1, B: 2}, &sum), "an object input")
	assert.Equal(t, 3, sum)
	mu.Lock()
	assert.Equal(t, [][3]string{{"a", "b", "Add"}}, asked, "the policy is asked with the caller's name, the callee's and the method")
	mu.Unlock()

	var out CountOut
	require.NoError(t, a.CallPlugin(ctx, "b", "Count", 2, &out), "an input that is not an object")
	assert.Equal(t, CountOut{N: 2}, out)

	var echo string
	err := a.CallPlugin(ctx, "b", "Echo", "hi", &echo)
	assert.ErrorIs(t, err, envelope.ErrForbidden)
	assert.Equal(t, `plugin "a" may not call "b.Echo"`, rpcErr(t, err, envelope.CodeForbidden).Message)
	err = b.CallPlugin(ctx, "a", "Add", testplugins.Args{}, nil)
	assert.Equal(t, `plugin "b" may not call "a.Add"`, rpcErr(t, err, envelope.CodeForbidden).Message)

	err = a.CallPlugin(ctx, "ghost", "Add", testplugins.Args{}, nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound)
	assert.Equal(t, `no plugin named "ghost"`, rpcErr(t, err, envelope.CodeMethodNotFound).Message)
	err = a.CallPlugin(ctx, "b", "Nope", nil, nil)
	assert.Equal(t, "method not found: Nope", rpcErr(t, err, envelope.CodeMethodNotFound).Message)

	// The callee's own errors pass through: code, message and data.
	err = a.CallPlugin(ctx, "b", "Div", testplugins.Args{A: 1}, nil)
	assert.Equal(t, "division by zero", rpcErr(t, err, envelope.CodeMethodError).Message)
	err = a.CallPlugin(ctx, "b", "Teapot", nil, nil)
	e := rpcErr(t, err, -32418)
	assert.Equal(t, "short and stout", e.Message)
	assert.JSONEq(t, `{"spout":true}`, string(e.Data))
	err = a.CallPlugin(ctx, "b", "Add", "not an object", nil)
	assert.ErrorIs(t, err, envelope.ErrInvalidParams, "a scalar for an object input")

	// The trace id and the deadline reach the callee.
	cctx, cancel := context.WithTimeout(envelope.WithTrace(context.Background(), "trace-call"), 20*time.Second)
	defer cancel()
	d, _ := cctx.Deadline()
	var seen Seen
	require.NoError(t, a.CallPlugin(cctx, "b", "Look", nil, &seen))
	assert.Equal(t, "b", seen.ID)
	assert.Equal(t, "trace-call", seen.Trace)
	assertDeadline(t, d, seen, "the callee")

	// Progress the callee reports reaches the caller's WithProgress.
	var rep reports
	pctx := envelope.WithProgress(ctx, rep.add)
	require.NoError(t, a.CallPlugin(pctx, "b", "Count", 3, &out))
	rep.done.Store(true)
	assert.Equal(t, CountOut{N: 3, Progress: true}, out)
	assert.Equal(t, []report{{1, 3, "step 1 of 3"}, {2, 3, "step 2 of 3"}, {3, 3, "step 3 of 3"}}, rep.all())
	assert.Zero(t, rep.late.Load(), "reports after the answer")

	// A protocol 1 callee gets its params in protocol 1's shape.
	old := p1Start(t, h.addr.String(), "old")
	tctx := envelope.WithTrace(ctx, "trace-old")
	got := make(chan error, 1)
	go func() { got <- a.CallPlugin(tctx, "old", "Echo", "hi", &echo) }()
	old.answer(t, `{"jsonrpc":"2.0","id":1,"method":"Echo","params":"hi","meta":{"trace":"trace-old"}}`, `"hi"`)
	require.NoError(t, recv(t, got, "the call to old.Echo"))
	assert.Equal(t, "hi", echo)
	go func() { got <- a.CallPlugin(tctx, "old", "Add", testplugins.Args{A: 1, B: 2}, &sum) }()
	old.answer(t, `{"jsonrpc":"2.0","id":2,"method":"Add","params":{"a":1,"b":2},"meta":{"trace":"trace-old"}}`, `3`)
	require.NoError(t, recv(t, got, "the call to old.Add"))
	assert.Equal(t, 3, sum)
}

// TestProtocol2PluginCallPolicySeesTheCallee: a policy that refuses calls
// to one plugin must not be got round by naming that plugin another way,
// name@version, which reaches it all the same.
func TestProtocol2PluginCallPolicySeesTheCallee(t *testing.T) {
	var mu sync.Mutex
	var callees []string
	policy := func(_, callee, _ string) bool {
		mu.Lock()
		callees = append(callees, callee)
		mu.Unlock()
		return callee != "vault"
	}
	h := newHost(t, "tcp", socket.WithPluginCalls(policy))
	a := hostOf(t, h.plug(&Probe{id: "a"}, "a"))
	h.plug(&Probe{id: "vault"}, "vault")
	for _, name := range []string{"vault", "vault@1.0.0"} {
		var seen Seen
		err := a.CallPlugin(callCtx(t), name, "Look", nil, &seen)
		assert.ErrorIs(t, err, envelope.ErrForbidden, "calling %q: reached %q", name, seen.ID)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"vault", "vault"}, callees, "the policy is asked with the callee's assigned name")
}

// TestProtocol2PluginCallCancelled: a plugin that gives up on its $/call
// cancels the callee's method; the protocol's own methods are not to be
// called even by a policy that allows everything.
func TestProtocol2PluginCallCancelled(t *testing.T) {
	h := newHost(t, "tcp", socket.WithPluginCalls(func(string, string, string) bool { return true }))
	a := hostOf(t, h.plug(&Probe{id: "a"}, "a"))
	b := &Holder{entered: make(chan string, 1), ended: make(chan error, 1)}
	h.plug(b, "b")

	ctx, cancel := context.WithCancel(envelope.WithTrace(context.Background(), "t-hold"))
	done := make(chan error, 1)
	go func() { done <- a.CallPlugin(ctx, "b", "Hold", nil, nil) }()
	assert.Equal(t, "t-hold", recv(t, b.entered, "Hold to start"))
	cancel()
	assert.ErrorIs(t, recv(t, done, "CallPlugin to return"), context.Canceled)
	assert.ErrorIs(t, recv(t, b.ended, "Hold's context to end"), context.Canceled)

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	go func() { done <- a.CallPlugin(ctx, "b", "Hold", nil, nil) }()
	recv(t, b.entered, "Hold to start again")
	assert.ErrorIs(t, recv(t, done, "CallPlugin to return"), context.DeadlineExceeded)
	// Its own deadline, the caller's, or the cancellation that follows it:
	// whichever comes first.
	assert.Error(t, recv(t, b.ended, "Hold's context to end"))

	err := a.CallPlugin(callCtx(t), "b", "$/shutdown", nil, nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound)
	assert.Contains(t, rpcErr(t, err, envelope.CodeMethodNotFound).Message, "reserved")
	err = a.CallPlugin(callCtx(t), "", "Hold", nil, nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound, "no plugin has the empty name")
}

// TestProtocol2ServiceEndsWithTheConnection: a service's context ends
// when the plugin that called it is gone, and Shutdown does not wait past
// its deadline for a service that ignores its context.
func TestProtocol2ServiceEndsWithTheConnection(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{ShutdownTimeout: 200 * time.Millisecond})
	g := &Gate{entered: make(chan int, 1), release: make(chan struct{}), ended: make(chan error, 1)}
	require.NoError(t, h.s.Register(g))
	d := &Deaf{entered: make(chan struct{}, 1), release: make(chan struct{})}
	require.NoError(t, h.s.Register(d))

	st := h.plug(&Probe{id: "p"}, "probe")
	done := make(chan error, 2)
	go func() { done <- hostOf(t, st).Call(context.Background(), "Gate.Wait", 1, nil) }()
	recv(t, g.entered, "Gate.Wait to start")
	require.NoError(t, st.conn.Close())
	assert.ErrorIs(t, recv(t, g.ended, "the service's context to end"), context.Canceled)
	assert.ErrorIs(t, recv(t, done, "the plugin's call to fail"), envelope.ErrShutdown)

	st = h.plug(&Probe{id: "q"}, "deaf")
	go func() { done <- hostOf(t, st).Call(context.Background(), "Deaf.Hear", nil, nil) }()
	recv(t, d.entered, "Deaf.Hear to start")
	shut := make(chan error, 1)
	start := time.Now()
	go func() { shut <- h.s.Shutdown("") }()
	select {
	case <-shut:
		assert.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(p2Wait):
		t.Error("Shutdown waits for a service that ignores its context")
	}
	close(d.release)
	recv(t, done, "the deaf call to end")
}

// TestProtocol2Progress: the host's WithProgress sees a method's reports
// in order, all before CallContext returns; a service's reach the
// plugin's; without a request they go nowhere.
func TestProtocol2Progress(t *testing.T) {
	h := newHost(t, "tcp")
	require.NoError(t, h.s.Register(&Meter{}))
	st := h.plug(&Probe{id: "p"}, "probe")

	var rep reports
	var out CountOut
	require.NoError(t, h.s.CallContext(socket.WithProgress(callCtx(t), rep.add), "probe", "Count", 5, &out))
	rep.done.Store(true)
	assert.Equal(t, CountOut{N: 5, Progress: true}, out)
	want := []report{}
	for i := 1; i <= 5; i++ {
		want = append(want, report{float64(i), 5, fmt.Sprintf("step %d of 5", i)})
	}
	assert.Equal(t, want, rep.all(), "every report, in order, before CallContext returned")
	assert.Zero(t, rep.late.Load(), "reports after CallContext returned")

	require.NoError(t, h.s.CallContext(callCtx(t), "probe", "Count", 3, &out))
	assert.Equal(t, CountOut{N: 3, Progress: false}, out, "no progress asked for")
	plugin.Progress(context.Background(), 1, 2, "no call: nothing happens")

	// Either direction: a service reports to the plugin that called it.
	var back reports
	var n int
	require.NoError(t, hostOf(t, st).Call(envelope.WithProgress(callCtx(t), back.add), "Meter.Report", 3, &n))
	back.done.Store(true)
	assert.Equal(t, 3, n)
	assert.Equal(t, []report{{1, 0, ""}, {2, 0, ""}, {3, 0, ""}}, back.all())
	assert.Zero(t, back.late.Load())
}

// p1Functions is a protocol 1 plugin's description, written by hand.
const p1Functions = `{
  "Add": {"name": "Add", "input": {"type": "struct", "fields": [
    {"name": "a", "type": "int", "mandatory": true},
    {"name": "b", "type": "int", "mandatory": true}]}, "output": {"type": "int"}},
  "Echo": {"name": "Echo", "input": {"type": "string"}, "output": {"type": "string"}}}`

// rawPeer is a plugin written by hand, one frame at a time, on the test's
// goroutine.
type rawPeer struct {
	*rawConn
	name string
}

// rawHello handshakes with params (a JSON object) and returns the answer's
// body as the host wrote it.
func rawHello(t *testing.T, addr, params string) (*rawPeer, string) {
	t.Helper()
	c := rawDial(t, addr)
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":`+params+`}`)))
	return &rawPeer{rawConn: c}, c.body(t)
}

// body reads the next frame's body within rawWait.
func (c *rawConn) body(t *testing.T) string {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(rawWait))
	b, err := c.readFrame()
	require.NoError(t, err)
	return string(b)
}

// p1Start connects a protocol 1 plugin by hand: no "protocol" in its
// handshake.
func p1Start(t *testing.T, addr, name string) *rawPeer {
	t.Helper()
	p, ans := rawHello(t, addr, `{"name":"`+name+`","version":"0.1.0","functions":`+p1Functions+`}`)
	assert.Regexp(t, `^\{"jsonrpc":"2\.0","id":1,"result":\{"name":"`+name+`","session":"[0-9a-f-]{36}"\}\}$`, ans, "protocol 1's answer, byte for byte")
	p.name = name
	return p
}

// answer reads a request, checks it is want exactly, and answers it with
// result.
func (p *rawPeer) answer(t *testing.T, want, result string) {
	t.Helper()
	got := p.body(t)
	assert.Equal(t, want, got)
	var m rawMsg
	require.NoError(t, json.Unmarshal([]byte(got), &m))
	require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":`+result+`}`)))
}

// request sends a request with params (raw JSON; "" for none) and returns
// its answer.
func (p *rawPeer) request(t *testing.T, id int, method, params string) rawMsg {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":` + strconv.Itoa(id) + `,"method":"` + method + `"`
	if params != "" {
		body += `,"params":` + params
	}
	require.NoError(t, p.writeFrame([]byte(body+"}")))
	var m rawMsg
	require.NoError(t, json.Unmarshal([]byte(p.body(t)), &m))
	require.Equal(t, strconv.Itoa(id), string(m.ID), "the answer to request %d", id)
	return m
}

// TestProtocol1StaysForPluginsThatNameNone: a plugin that names no
// protocol is spoken to in protocol 1, as before, services or not.
func TestProtocol1StaysForPluginsThatNameNone(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HeartbeatInterval: -1})
	require.NoError(t, h.s.Register(&Meter{}))
	old := p1Start(t, h.addr.String(), "old")
	require.True(t, h.s.WaitFor("old", p2Wait))

	got := make(chan error, 1)
	var echo string
	ctx, cancel := context.WithTimeout(envelope.WithTrace(context.Background(), "trace-1"), 20*time.Second)
	defer cancel()
	go func() {
		got <- h.s.CallContext(socket.WithProgress(ctx, func(float64, float64, string) {}), "old", "Echo", "hi", &echo)
	}()
	old.answer(t, `{"jsonrpc":"2.0","id":1,"method":"Echo","params":"hi","meta":{"trace":"trace-1"}}`, `"hi"`)
	require.NoError(t, recv(t, got, "the call to Echo"))
	assert.Equal(t, "hi", echo)
	var sum int
	go func() { got <- h.s.CallContext(ctx, "old", "Add", testplugins.Args{A: 2, B: 3}, &sum) }()
	old.answer(t, `{"jsonrpc":"2.0","id":2,"method":"Add","params":{"a":2,"b":3},"meta":{"trace":"trace-1"}}`, `5`)
	require.NoError(t, recv(t, got, "the call to Add"))
	assert.Equal(t, 5, sum)

	// Its async items are taken as they are, {"value": …} and all.
	require.NoError(t, old.writeFrame([]byte(`{"jsonrpc":"2.0","method":"$/async","params":{"value":1}}`)))
	it, err := h.s.AsyncContext(callCtx(t))
	require.NoError(t, err)
	require.IsType(t, envelope.Connected{}, it.Payload)
	it, err = h.s.AsyncContext(callCtx(t))
	require.NoError(t, err)
	assert.Equal(t, &envelope.AsyncData{Name: "old", Payload: map[string]any{"value": float64(1)}}, it)

	// Protocol 1 has no services and no $/call.
	for _, m := range []string{"Meter.Sum", envelope.MethodCall} {
		r := old.request(t, 7, m, `{"a":1,"b":2}`)
		require.NotNil(t, r.Error, m)
		assert.Equal(t, &rawError{Code: envelope.CodeMethodNotFound, Message: "method not found: " + m}, r.Error)
	}
}

// TestProtocol2Negotiation: what the host answers to each "protocol" a
// plugin may offer, and what it refuses.
func TestProtocol2Negotiation(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HeartbeatInterval: -1})
	require.NoError(t, h.s.Register(&Meter{}))
	type answer struct {
		Name     string                     `json:"name"`
		Session  string                     `json:"session"`
		Protocol *int                       `json:"protocol"`
		Services map[string]json.RawMessage `json:"services"`
		Caps     json.RawMessage            `json:"capabilities"`
	}
	for i, tc := range []struct {
		offer    string // the protocol member, "" for none
		protocol int    // answered; 0 for no member
		services bool
	}{
		{``, 0, false},
		{`"protocol":1`, 1, false},
		{`"protocol":null`, 0, false}, // the same as none: protocol 1's answer
		{`"protocol":2`, 2, true},
		{`"protocol":3`, 2, true},
		{`"protocol":10`, 2, true},
		{`"protocol":99999999999999999999999`, 2, true},
		{`"protocol":2,"capabilities":{"future":true}`, 2, true},
		{`"protocol":2,"capabilities":null`, 2, true},
	} {
		name := fmt.Sprintf("n%d", i)
		params := `{"name":"` + name + `"`
		if tc.offer != "" {
			params += "," + tc.offer
		}
		p, body := rawHello(t, h.addr.String(), params+"}")
		var m struct {
			Result answer    `json:"result"`
			Error  *rawError `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &m), body)
		require.Nil(t, m.Error, "offer %s: %s", tc.offer, body)
		if tc.protocol == 0 {
			assert.Nil(t, m.Result.Protocol, "no protocol offered, none answered: %s", body)
		} else if assert.NotNil(t, m.Result.Protocol, "offer %s: %s", tc.offer, body) {
			assert.Equal(t, tc.protocol, *m.Result.Protocol, "offer %s", tc.offer)
		}
		assert.Equal(t, tc.services, m.Result.Services != nil, "services in the answer to %s", tc.offer)
		if tc.services {
			assert.Contains(t, m.Result.Services, "Meter.Sum")
		}
		assert.Nil(t, m.Result.Caps, "the host has no capabilities to answer")
		require.True(t, h.s.WaitFor(name, p2Wait))
		_ = p
	}

	for _, bad := range []string{`0`, `-1`, `"2"`, `2.5`, `2.0`, `2e0`, `true`, `{}`, `[2]`} {
		_, body := rawHello(t, h.addr.String(), `{"name":"bad","protocol":`+bad+`}`)
		var m rawMsg
		require.NoError(t, json.Unmarshal([]byte(body), &m), body)
		if assert.NotNil(t, m.Error, "protocol %s: %s", bad, body) {
			assert.EqualValues(t, envelope.CodeInvalidParams, m.Error.Code)
			assert.Equal(t, "malformed handshake: protocol: want a positive integer, got "+bad, m.Error.Message)
		}
	}
	for _, bad := range []string{`[]`, `"x"`, `1`, `true`} {
		_, body := rawHello(t, h.addr.String(), `{"name":"bad","protocol":2,"capabilities":`+bad+`}`)
		var m rawMsg
		require.NoError(t, json.Unmarshal([]byte(body), &m), body)
		if assert.NotNil(t, m.Error, "capabilities %s: %s", bad, body) {
			assert.EqualValues(t, envelope.CodeInvalidParams, m.Error.Code)
			assert.Equal(t, "malformed handshake: capabilities: want an object, got "+bad, m.Error.Message)
		}
	}
	assert.ElementsMatch(t, []string{"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"}, keys(h.s.Connected(false)), "the refusals disturbed none")
}

// p2Start connects a protocol 2 plugin by hand and checks the answer.
func p2Start(t *testing.T, addr, name string) *rawPeer {
	t.Helper()
	p, ans := rawHello(t, addr, `{"name":"`+name+`","protocol":2}`)
	var m struct {
		Result struct {
			Name     string                     `json:"name"`
			Protocol int                        `json:"protocol"`
			Services map[string]json.RawMessage `json:"services"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(ans), &m), ans)
	require.Equal(t, name, m.Result.Name, ans)
	require.Equal(t, 2, m.Result.Protocol, ans)
	p.name = name
	return p
}

// TestProtocol2InputWithoutADescription: a function described without an
// input (a Go method taking struct{} describes none) is not an object
// input, so whatever it is given travels as {"value": …}, as a plugin
// written from the document expects.
func TestProtocol2InputWithoutADescription(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HeartbeatInterval: -1, CallTimeout: -1})
	p, ans := rawHello(t, h.addr.String(), `{"name":"raw2","protocol":2,"functions":{"Hold":{"name":"Hold","output":{"type":"string"}}}}`)
	require.Contains(t, ans, `"protocol":2`)
	got := make(chan error, 1)
	ctx := envelope.WithTrace(context.Background(), "t")
	for _, tc := range []struct {
		payload any
		params  string
	}{
		{nil, `{"value":null,"_meta":{"trace":"t"}}`},
		{"x", `{"value":"x","_meta":{"trace":"t"}}`},
		{map[string]int{"x": 1}, `{"value":{"x":1},"_meta":{"trace":"t"}}`},
	} {
		go func() { got <- h.s.CallContext(ctx, "raw2", "Hold", tc.payload, nil) }()
		body := p.body(t)
		var m rawMsg
		require.NoError(t, json.Unmarshal([]byte(body), &m))
		assert.Equal(t, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"method":"Hold","params":`+tc.params+`}`, body, "payload %v", tc.payload)
		require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":"held"}`)))
		require.NoError(t, recv(t, got, "the call to Hold"))
	}
}

// TestProtocol2Hostile: what a protocol 2 plugin may send a host service
// that is wrong gets -32602 naming what is wrong, what is unusual but
// allowed is served, and the host serves on.
func TestProtocol2Hostile(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HeartbeatInterval: -1})
	require.NoError(t, h.s.Register(&Meter{}))
	p := p2Start(t, h.addr.String(), "raw2")
	id := 10
	serves := func() {
		t.Helper()
		id++
		r := p.request(t, id, "Meter.Sum", `{"a":1,"b":2,"_meta":{"trace":"t"}}`)
		require.Nil(t, r.Error, "the host serves on")
		assert.Equal(t, "3", string(r.Result))
	}

	for _, tc := range []struct{ method, params, msg string }{
		{"Meter.Sum", `{"a":1,"_meta":{"deadline":"tomorrow"}}`, `_meta.deadline: want an RFC 3339 time, got "tomorrow"`},
		{"Meter.Sum", `{"a":1,"_meta":{"deadline":"2026-13-01T00:00:00Z"}}`, `_meta.deadline: want an RFC 3339 time`},
		{"Meter.Sum", `{"a":1,"_meta":{"deadline":5}}`, `_meta.deadline: want a string`},
		{"Meter.Sum", `{"a":1,"_meta":"soon"}`, `_meta: want an object, got a string`},
		{"Meter.Sum", `{"a":1,"_meta":[]}`, `_meta: want an object, got an array`},
		{"Meter.Sum", `{"a":1,"_meta":{},"_meta":{}}`, `params have two _meta members`},
		{"Meter.Sum", `{"_meta":{},"a":1,"\u005fmeta":{}}`, `params have two _meta members`},
		{"Meter.Sum", `{"a":1,"_meta":{"trace":5}}`, `_meta.trace: want a string, got a number`},
		{"Meter.Sum", `{"a":1,"_meta":{"traceparent":{}}}`, `_meta.traceparent: want a string`},
		{"Meter.Sum", `{"a":1,"_meta":{"progressToken":true}}`, `_meta.progressToken: want a string or an integer`},
		{"Meter.Sum", `{"a":1,"_meta":{"progressToken":{}}}`, `_meta.progressToken: want a string or an integer`},
		{"Meter.Sum", `5`, `protocol 2 params must be an object or an array, got a number`},
		{"Meter.Echo", `"hi"`, `protocol 2 params must be an object or an array, got a string`},
		{"Meter.Sum", `[]`, `got none`},
		{"Meter.Sum", `[{"a":1},{"b":2}]`, `got more`},
		{"Meter.Sum", `{"a":1,"b":"2"}`, `field "b": expected int, got string`},
		{"Meter.Echo", `{"value":5}`, `expected string, got number`},
		{envelope.MethodCall, `5`, `protocol 2 params must be an object or an array, got a number`},
		{envelope.MethodCall, `{"plugin":5}`, `field "plugin"`},
	} {
		id++
		r := p.request(t, id, tc.method, tc.params)
		if assert.NotNil(t, r.Error, "%s %s", tc.method, tc.params) {
			assert.EqualValues(t, envelope.CodeInvalidParams, r.Error.Code, "%s %s", tc.method, tc.params)
			assert.Contains(t, r.Error.Message, "invalid params for "+tc.method+": ", tc.params)
			assert.Contains(t, r.Error.Message, tc.msg, tc.params)
		}
		serves()
	}

	for _, tc := range []struct{ method, params, result string }{
		{"Meter.Sum", `{"_meta":{"trace":"x","future":[1,{"a":2}]},"a":1,"b":2}`, `3`},
		{"Meter.Sum", `{"a":1,"\u005fmeta":{"trace":"x"},"b":2}`, `3`},
		{"Meter.Sum", ` { "a" : 1 , "b" : 2 , "_meta" : { } } `, `3`},
		{"Meter.Sum", `{"a":1,"b":2,"_meta":null}`, `3`},
		{"Meter.Sum", `[{"a":1,"b":2}]`, `3`},
		{"Meter.Sum", `{}`, `0`},
		{"Meter.Sum", ``, `0`},
		{"Meter.Echo", `{"value":"hi","other":1,"_meta":{}}`, `"hi"`},
		{"Meter.Echo", `["hi"]`, `"hi"`},
		{"Meter.Echo", `{"_meta":{}}`, `""`},
		{"Meter.Sum", `{"a":1,"b":2,"_meta":{"progressToken":"p-1"}}`, `3`},
		{"Meter.Sum", `{"a":1,"b":2,"_meta":{"progressToken":7}}`, `3`},
	} {
		id++
		r := p.request(t, id, tc.method, tc.params)
		require.Nil(t, r.Error, "%s %s", tc.method, tc.params)
		assert.Equal(t, tc.result, string(r.Result), "%s %s", tc.method, tc.params)
	}

	// Any RFC 3339 time is a deadline, the trace id is the request's, and
	// the service knows which plugin asked.
	for _, d := range []string{"2099-01-01T00:00:00.5+02:00", "2099-01-01t00:00:00z", "2099-01-01T00:00:00.123456789Z"} {
		id++
		r := p.request(t, id, "Meter.Look", `{"_meta":{"deadline":"`+d+`","trace":"t-raw"}}`)
		require.Nil(t, r.Error, d)
		var s Seen
		require.NoError(t, json.Unmarshal(r.Result, &s))
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(d))
		require.NoError(t, err)
		assert.True(t, want.Equal(s.Deadline), "deadline %s: the service saw %v", d, s.Deadline)
		assert.Equal(t, "t-raw", s.Trace)
		assert.Equal(t, "raw2", s.Plugin)
	}

	// The protocol's own methods, and what the host ignores.
	r := p.request(t, 90, "$/whatever", `{}`)
	assert.Equal(t, &rawError{Code: envelope.CodeMethodNotFound, Message: "method not found: $/whatever"}, r.Error)
	for _, note := range []string{
		`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":12345}}`,
		`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":1,"progress":1}}`,
		`{"jsonrpc":"2.0","method":"$/progress","params":"junk"}`,
		`{"jsonrpc":"2.0","method":"Meter.Sum","params":{"a":1,"b":2}}`,
		`{"jsonrpc":"2.0","method":"$/whatever"}`,
	} {
		require.NoError(t, p.writeFrame([]byte(note)))
	}
	serves()

	// A Go plugin is served all the same.
	var sum int
	require.NoError(t, hostOf(t, h.plug(&Probe{id: "go"}, "go")).Call(callCtx(t), "Meter.Sum", testplugins.Args{A: 20, B: 22}, &sum))
	assert.Equal(t, 42, sum)
}

// TestProtocol2ProgressFromAHandWrittenPlugin: the host takes a plugin's
// reports for the token it sent, in order, until the answer; reports for
// other tokens, malformed ones and late ones go nowhere.
func TestProtocol2ProgressFromAHandWrittenPlugin(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HeartbeatInterval: -1, CallTimeout: -1})
	p, _ := rawHello(t, h.addr.String(), `{"name":"raw2","protocol":2,"functions":{"Slow":{"name":"Slow","input":{"type":"int"},"output":{"type":"string"}}}}`)
	var rep reports
	got := make(chan error, 1)
	var out string
	go func() {
		got <- h.s.CallContext(socket.WithProgress(envelope.WithTrace(context.Background(), "t"), rep.add), "raw2", "Slow", 5, &out)
	}()
	assert.Equal(t, `{"jsonrpc":"2.0","id":1,"method":"Slow","params":{"value":5,"_meta":{"trace":"t","progressToken":1}}}`, p.body(t))
	for _, note := range []string{
		`{"progressToken":1,"progress":1,"total":5,"message":"one"}`,
		`{"progressToken":"1","progress":9}`,
		`{"progressToken":2,"progress":9}`,
		`{"progressToken":1,"progress":"two"}`,
		`{"progressToken":1.5,"progress":9}`,
		`{"progress":9}`,
		`[1,2]`,
		`{"progressToken":1,"progress":2}`,
	} {
		require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","method":"$/progress","params":`+note+`}`)))
	}
	require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"result":"slow"}`)))
	require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":1,"progress":3}}`)))
	require.NoError(t, recv(t, got, "the call to Slow"))
	rep.done.Store(true)
	assert.Equal(t, "slow", out)
	// The late report is read before the answer to this.
	r := p.request(t, 5, envelope.MethodPing, "")
	require.Nil(t, r.Error)
	assert.Equal(t, []report{{1, 5, "one"}, {2, 0, ""}}, rep.all())
	assert.Zero(t, rep.late.Load(), "reports after the answer")
}

// TestProtocol2AsyncAndPing: a protocol 2 plugin's $/async items are
// the value in {"value": …} or [item]; what is malformed is dropped, and
// the host goes on. Pings carry no params either way.
func TestProtocol2AsyncAndPing(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HeartbeatInterval: -1})
	p := p2Start(t, h.addr.String(), "raw2")
	it, err := h.s.AsyncContext(callCtx(t))
	require.NoError(t, err)
	require.IsType(t, envelope.Connected{}, it.Payload)
	for _, tc := range []struct {
		params string
		want   any
		kept   bool
	}{
		{`{"value":1}`, float64(1), true},
		{`{"value":{"a":[1,"x"]},"_meta":{"trace":"t"}}`, map[string]any{"a": []any{float64(1), "x"}}, true},
		{`["item"]`, "item", true},
		{`{"other":1}`, nil, true},
		{`5`, nil, false},
		{`"bare"`, nil, false},
		{`{"value":1,"_meta":"bad"}`, nil, false},
		{`[1,2]`, nil, false},
	} {
		require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","method":"$/async","params":`+tc.params+`}`)))
		require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","method":"$/async","params":{"value":"next"}}`)))
		if tc.kept {
			it, err := h.s.AsyncContext(callCtx(t))
			require.NoError(t, err)
			assert.Equal(t, &envelope.AsyncData{Name: "raw2", Payload: tc.want}, it, "params %s", tc.params)
		}
		it, err := h.s.AsyncContext(callCtx(t))
		require.NoError(t, err)
		assert.Equal(t, &envelope.AsyncData{Name: "raw2", Payload: "next"}, it, "after params %s", tc.params)
	}

	r := p.request(t, 1, envelope.MethodPing, "")
	assert.Equal(t, "null", string(r.Result))
	assert.Nil(t, r.Error)

	pinged := newHost(t, "tcp", socket.Config{HeartbeatInterval: 20 * time.Millisecond})
	q := p2Start(t, pinged.addr.String(), "pinged")
	assert.Equal(t, `{"jsonrpc":"2.0","id":1,"method":"$/ping"}`, q.body(t))
	require.NoError(t, q.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"result":null}`)))
}

// TestProtocol2CancelRequest: a plugin's $/cancelRequest cancels its
// service request, whose answer is then -32800.
func TestProtocol2CancelRequest(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HeartbeatInterval: -1})
	g := &Gate{entered: make(chan int, 4), release: make(chan struct{})}
	require.NoError(t, h.s.Register(g))
	p := p2Start(t, h.addr.String(), "raw2")
	require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","id":"w-1","method":"Gate.Wait","params":{"value":1}}`)))
	assert.Equal(t, 1, recv(t, g.entered, "Gate.Wait to start"))
	// An id in flight is not to be used again until answered.
	require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","id":"w-1","method":"Gate.Wait","params":{"value":9}}`)))
	assert.Equal(t, `{"jsonrpc":"2.0","id":"w-1","error":{"code":-32600,"message":"Gate.Wait: request id \"w-1\" is already in flight"}}`, p.body(t))
	require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"w-1"}}`)))
	var m rawMsg
	require.NoError(t, json.Unmarshal([]byte(p.body(t)), &m))
	assert.Equal(t, `"w-1"`, string(m.ID))
	if assert.NotNil(t, m.Error) {
		assert.EqualValues(t, envelope.CodeRequestCancelled, m.Error.Code, m.Error.Message)
	}
	close(g.release)
	r := p.request(t, 2, "Gate.Wait", `{"value":2}`)
	assert.Equal(t, "2", string(r.Result))
}

// teeConn records the frames a plugin writes and reads, in the order it
// wrote and read them.
type teeConn struct {
	net.Conn
	mu      sync.Mutex
	in, out []byte // what is not a whole frame yet, each way
	frames  []teeFrame
}

type teeFrame struct {
	fromPlugin bool
	body       string
}

func (c *teeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.add(false, b[:n])
	return n, err
}

func (c *teeConn) Write(b []byte) (int, error) {
	// Recorded before it is written: the answer may be read before Write
	// returns.
	c.add(true, b)
	return c.Conn.Write(b)
}

var contentLength = regexp.MustCompile(`(?i)Content-Length: *(\d+)\r\n`)

func (c *teeConn) add(fromPlugin bool, p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := &c.in
	if fromPlugin {
		buf = &c.out
	}
	*buf = append(*buf, p...)
	for {
		i := strings.Index(string(*buf), "\r\n\r\n")
		if i < 0 {
			return
		}
		m := contentLength.FindSubmatch((*buf)[:i+2])
		if m == nil {
			return
		}
		n, _ := strconv.Atoi(string(m[1]))
		if len(*buf) < i+4+n {
			return
		}
		c.frames = append(c.frames, teeFrame{fromPlugin, string((*buf)[i+4 : i+4+n])})
		*buf = (*buf)[i+4+n:]
	}
}

func (c *teeConn) session() []teeFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]teeFrame(nil), c.frames...)
}

// Wired is the plugin whose session TestProtocol2Wire records.
type Wired struct {
	hook    chan any
	waiting chan struct{}
}

func (w *Wired) UseAsyncHook(h chan any) { w.hook = h }

func (w *Wired) Add(_ context.Context, in testplugins.Args) (int, error) { return in.A + in.B, nil }

func (w *Wired) Echo(_ context.Context, s string) (string, error) { return s, nil }

// Steps reports n steps of progress, then answers n.
func (w *Wired) Steps(ctx context.Context, n int) (int, error) {
	for i := 1; i <= n; i++ {
		plugin.Progress(ctx, float64(i), float64(n), fmt.Sprintf("step %d", i))
	}
	return n, nil
}

// Wait returns once its context has ended, saying so on waiting first.
func (w *Wired) Wait(ctx context.Context, _ struct{}) (int, error) {
	w.waiting <- struct{}{}
	<-ctx.Done()
	return 0, ctx.Err()
}

// Clock is the host service of the recorded session.
type Clock struct{}

func (*Clock) Now(context.Context, struct{}) (string, error) { return "2026-12-01T21:50:00.123Z", nil }

// strictMembers checks that a frame has JSON-RPC 2.0's members only, and
// params that are an object.
func strictMembers(t *testing.T, body string) {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	allowed := map[string]bool{"jsonrpc": true, "id": true}
	if _, ok := m["method"]; ok {
		allowed["method"], allowed["params"] = true, true
		if p, ok := m["params"]; ok {
			assert.True(t, strings.HasPrefix(string(p), "{"), "params are an object: %s", body)
		}
	} else {
		allowed["result"], allowed["error"] = true, true
		_, r := m["result"]
		_, e := m["error"]
		assert.True(t, r != e, "a response has result or error: %s", body)
	}
	for k := range m {
		assert.True(t, allowed[k], "member %q is not JSON-RPC 2.0's: %s", k, body)
	}
	if e, ok := m["error"]; ok {
		var em map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(e, &em), body)
		for k := range em {
			assert.Contains(t, []string{"code", "message", "data"}, k, "error member: %s", body)
		}
	}
}

// TestProtocol2Wire records a whole protocol 2 session between a Go plugin
// and a Socket and checks it byte for byte.
func TestProtocol2Wire(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HeartbeatInterval: -1, CallTimeout: -1})
	require.NoError(t, h.s.Register(&Clock{}))
	nc, err := net.Dial(h.addr.Network(), h.addr.String())
	require.NoError(t, err)
	tee := &teeConn{Conn: nc}
	w := &Wired{waiting: make(chan struct{}, 1)}
	connected := make(chan string, 1)
	p := &plugin.Plugin{Logger: quiet, HeartbeatInterval: -1, OnConnect: func(n string) { connected <- n }}
	stopped := make(chan error, 1)
	go func() { stopped <- p.Start(w, &envelope.PluginInfo{Name: "wire", Version: "1.0.0"}, tee, nil) }()
	require.Equal(t, "wire", recv(t, connected, "OnConnect"))
	it, err := h.s.AsyncContext(callCtx(t))
	require.NoError(t, err)
	require.IsType(t, envelope.Connected{}, it.Payload)

	// A call with an object input, a trace id and a deadline.
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(envelope.WithTrace(context.Background(), "t-1"), deadline)
	defer cancel()
	var sum int
	require.NoError(t, h.s.CallContext(ctx, "wire", "Add", testplugins.Args{A: 1, B: 2}, &sum))
	assert.Equal(t, 3, sum)
	// One with a string input and no deadline.
	var echo string
	require.NoError(t, h.s.CallContext(envelope.WithTrace(context.Background(), "t-2"), "wire", "Echo", "hi", &echo))
	assert.Equal(t, "hi", echo)
	// An async item.
	w.hook <- map[string]int{"n": 1}
	it, err = h.s.AsyncContext(callCtx(t))
	require.NoError(t, err)
	assert.Equal(t, &envelope.AsyncData{Name: "wire", Payload: map[string]any{"n": float64(1)}}, it)
	// The plugin calls the host's service.
	var now string
	require.NoError(t, p.Host().Call(envelope.WithTrace(context.Background(), "t-3"), "Clock.Now", nil, &now))
	assert.Equal(t, "2026-12-01T21:50:00.123Z", now)
	// An error answer.
	err = h.s.CallContext(envelope.WithTrace(context.Background(), "t-4"), "wire", "Add", map[string]string{"a": "x"}, nil)
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	// A call that asks for progress.
	var rep reports
	var steps int
	require.NoError(t, h.s.CallContext(socket.WithProgress(envelope.WithTrace(context.Background(), "t-5"), rep.add), "wire", "Steps", 2, &steps))
	assert.Equal(t, []report{{1, 2, "step 1"}, {2, 2, "step 2"}}, rep.all())
	// A call given up on.
	wctx, wcancel := context.WithCancel(envelope.WithTrace(context.Background(), "t-6"))
	waited := make(chan error, 1)
	go func() { waited <- h.s.CallContext(wctx, "wire", "Wait", nil, nil) }()
	recv(t, w.waiting, "Wait to start")
	wcancel()
	assert.ErrorIs(t, recv(t, waited, "the call to Wait to return"), context.Canceled)
	// The host unplugs the plugin.
	h.s.Unplug("t-7", "wire")
	require.NoError(t, recv(t, stopped, "Start to return"))

	frames := tee.session()
	var log strings.Builder
	for _, f := range frames {
		dir := "host → plugin"
		if f.fromPlugin {
			dir = "plugin → host"
		}
		fmt.Fprintf(&log, "%s  %s\n", dir, f.body)
	}
	t.Logf("the protocol 2 session:\n%s", log.String())

	session := regexp.MustCompile(`"session":"[0-9a-f-]{36}"`)
	var fromPlugin, toPlugin []string
	for _, f := range frames {
		strictMembers(t, f.body)
		assert.NotContains(t, f.body, `"meta"`, "no top-level meta in protocol 2")
		if f.fromPlugin {
			fromPlugin = append(fromPlugin, f.body)
		} else {
			toPlugin = append(toPlugin, session.ReplaceAllString(f.body, `"session":"…"`))
		}
	}
	d := wireDeadline(deadline).Format(deadlineLayout)
	require.NotEmpty(t, toPlugin)
	require.NotEmpty(t, fromPlugin)
	assert.Contains(t, toPlugin[0], `"outputSchema":{"$schema":"https://json-schema.org/draft/2020-12/schema"`, "the services carry their schemas")
	assert.Contains(t, fromPlugin[0], `"inputSchema":{"$schema":"https://json-schema.org/draft/2020-12/schema"`, "the functions carry their schemas")
	assert.JSONEq(t, `{"jsonrpc":"2.0","id":1,"result":{"name":"wire","session":"…","protocol":2,"services":{"Clock.Now":{"name":"Clock.Now","output":{"name":"string","type":"string"}}}}}`, withoutSchemas(t, toPlugin[0]))
	assert.JSONEq(t, `{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"wire","version":"1.0.0","functions":{"Add":{"name":"Add","input":{"name":"Args","type":"struct","fields":[{"name":"a","type":"int","mandatory":true},{"name":"b","type":"int","mandatory":true}]},"output":{"name":"int","type":"int"}},"Echo":{"name":"Echo","input":{"name":"string","type":"string"},"output":{"name":"string","type":"string"}},"Steps":{"name":"Steps","input":{"name":"int","type":"int"},"output":{"name":"int","type":"int"}},"Wait":{"name":"Wait","output":{"name":"int","type":"int"}}},"protocol":2}}`, withoutSchemas(t, fromPlugin[0]))
	toPlugin[0], fromPlugin[0] = "(the answer, above)", "(the handshake, above)"
	assert.Equal(t, []string{
		"(the answer, above)",
		`{"jsonrpc":"2.0","id":1,"method":"Add","params":{"a":1,"b":2,"_meta":{"trace":"t-1","deadline":"` + d + `"}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"Echo","params":{"value":"hi","_meta":{"trace":"t-2"}}}`,
		`{"jsonrpc":"2.0","id":2,"result":"2026-12-01T21:50:00.123Z"}`,
		`{"jsonrpc":"2.0","id":3,"method":"Add","params":{"a":"x","_meta":{"trace":"t-4"}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"Steps","params":{"value":2,"_meta":{"trace":"t-5","progressToken":4}}}`,
		`{"jsonrpc":"2.0","id":5,"method":"Wait","params":{"_meta":{"trace":"t-6"}}}`,
		`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":5}}`,
		`{"jsonrpc":"2.0","id":6,"method":"$/shutdown"}`,
	}, toPlugin, "what the host sent")
	require.NotEmpty(t, fromPlugin)
	assert.Equal(t, []string{
		"(the handshake, above)",
		`{"jsonrpc":"2.0","id":1,"result":3}`,
		`{"jsonrpc":"2.0","id":2,"result":"hi"}`,
		`{"jsonrpc":"2.0","method":"$/async","params":{"value":{"n":1}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"Clock.Now","params":{"_meta":{"trace":"t-3"}}}`,
		`{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"invalid params for Add: field \"a\": expected int, got string"}}`,
		`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":4,"progress":1,"total":2,"message":"step 1"}}`,
		`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":4,"progress":2,"total":2,"message":"step 2"}}`,
		`{"jsonrpc":"2.0","id":4,"result":2}`,
		`{"jsonrpc":"2.0","id":5,"error":{"code":-32800,"message":"Wait: context canceled"}}`,
		`{"jsonrpc":"2.0","id":6,"result":null}`,
	}, fromPlugin, "what the plugin sent")
}
