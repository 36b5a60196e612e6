package envelope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// p2Add is an object input, by name, as protocol 2 sends it.
type p2Add struct {
	A int `json:"a"`
	B int `json:"b"`
}

// rawPeer is the far end of a stream a Conn is on, read and written by
// hand as a plugin in another language would, so that tests see the bytes
// themselves.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	fr   *envelope.FrameReader
}

// startRaw starts a Conn over tr speaking protocol proto (none set when
// zero) and returns it with the raw peer on the other end.
func startRaw(t *testing.T, tr transport, opts envelope.ConnOptions, proto int) (*envelope.Conn, *rawPeer) {
	a, b := tr.pair(t)
	c := startConn(t, a, opts)
	if proto != 0 {
		c.SetProtocol(proto)
	}
	return c, &rawPeer{t: t, conn: b, fr: envelope.NewFrameReader(b, 0)}
}

// send writes one frame with body to the Conn.
func (p *rawPeer) send(body string) {
	p.t.Helper()
	require.NoError(p.t, p.conn.SetWriteDeadline(time.Now().Add(waitLimit)))
	_, err := p.conn.Write(envelope.AppendFrame(nil, []byte(body)))
	require.NoError(p.t, err)
}

// read returns the body of the next frame the Conn wrote.
func (p *rawPeer) read() string {
	p.t.Helper()
	type res struct {
		body []byte
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		b, err := p.fr.ReadFrame()
		ch <- res{bytes.Clone(b), err}
	}()
	r := recv(p.t, ch)
	require.NoError(p.t, r.err)
	return string(r.body)
}

// startPair2 is startPair with both sides speaking protocol 2, as after a
// handshake that settled it.
func startPair2(t *testing.T, tr transport, srvOpts, cliOpts envelope.ConnOptions) (srv, cli *envelope.Conn) {
	srv, cli = startPair(t, tr, srvOpts, cliOpts)
	srv.SetProtocol(envelope.Protocol2)
	cli.SetProtocol(envelope.Protocol2)
	return srv, cli
}

// goCall runs c.Call on a goroutine of its own; net.Pipe's writes wait
// for the reader, and the test is that reader.
func goCall(c *envelope.Conn, ctx context.Context, method string, params, result any) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctx, method, params, result) }()
	return errc
}

func goNotify(c *envelope.Conn, method string, params any) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- c.Notify(method, params) }()
	return errc
}

func withDeadline(t *testing.T, ctx context.Context, d time.Time) context.Context {
	ctx, cancel := context.WithDeadline(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

// assertNoTopLevelMeta checks that a protocol 2 frame has only the members
// JSON-RPC 2.0 gives a request.
func assertNoTopLevelMeta(t *testing.T, body string) {
	t.Helper()
	var members map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &members), body)
	for k := range members {
		assert.Contains(t, []string{"jsonrpc", "id", "method", "params"}, k, "member %q in a protocol 2 request", k)
	}
}

func TestProtocolVersion(t *testing.T) {
	a, _ := pipePair(t)
	c := envelope.NewConn(a, envelope.ConnOptions{})
	assert.Equal(t, envelope.Protocol1, c.Protocol(), "a Conn starts in protocol 1")
	c.SetProtocol(envelope.Protocol2)
	assert.Equal(t, envelope.Protocol2, c.Protocol())
	c.SetProtocol(0)
	assert.Equal(t, envelope.Protocol1, c.Protocol(), "no version is protocol 1")
	assert.Equal(t, envelope.Protocol2, envelope.Protocol)
}

// The deadline every frame below carries: in a zone that is not UTC, and
// a nanosecond short of the next millisecond, so that rounding instead of
// truncating, or leaving the zone, shows.
var (
	p2Deadline     = time.Date(2099, 1, 2, 3, 4, 5, 123_999_999, time.FixedZone("CET", 3600))
	p2DeadlineText = "2099-01-02T02:04:05.123Z"
)

func TestProtocol2CallFrames(t *testing.T) {
	const (
		tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		ts = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
	)
	forEachTransport(t, func(t *testing.T, tr transport) {
		cli, peer := startRaw(t, tr, envelope.ConnOptions{}, envelope.Protocol2)
		bg := context.Background()
		traced := withDeadline(t, envelope.WithTrace(bg, "t"), p2Deadline)
		meta := `"_meta":{"trace":"t","deadline":"` + p2DeadlineText + `"}`
		tests := []struct {
			name   string
			ctx    context.Context
			method string
			params any
			want   string // the params member, or "" for none
		}{
			{"struct by name", traced, "Add", envelope.Params(p2Add{1, 2}, true), `{"a":1,"b":2,` + meta + `}`},
			{"pointer to struct", traced, "Add", envelope.Params(&p2Add{1, 2}, true), `{"a":1,"b":2,` + meta + `}`},
			{"map", traced, "Add", envelope.Params(map[string]int{"b": 2, "a": 1}, true), `{"a":1,"b":2,` + meta + `}`},
			{"empty map", traced, "Add", envelope.Params(map[string]int{}, true), `{` + meta + `}`},
			{"raw object with space", traced, "Add", envelope.Params(json.RawMessage(" { \"a\" : 1 }\n"), true), `{"a":1,` + meta + `}`},
			{"raw empty object with space", traced, "Add", envelope.Params(json.RawMessage("{ \t}"), true), `{` + meta + `}`},
			{"nil object", traced, "Add", envelope.Params(nil, true), `{` + meta + `}`},
			{"nil pointer object", traced, "Add", envelope.Params((*p2Add)(nil), true), `{` + meta + `}`},
			{"value", traced, "Add", envelope.Params(5, false), `{"value":5,` + meta + `}`},
			{"string value", traced, "Add", envelope.Params("x", false), `{"value":"x",` + meta + `}`},
			{"nil value", traced, "Add", envelope.Params(nil, false), `{"value":null,` + meta + `}`},
			{"slice value", traced, "Add", envelope.Params([]int{1, 2}, false), `{"value":[1,2],` + meta + `}`},
			{"struct as value", traced, "Add", envelope.Params(p2Add{1, 2}, false), `{"value":{"a":1,"b":2},` + meta + `}`},
			{"trace only", envelope.WithTrace(bg, "t-1"), "Add", envelope.Params(p2Add{1, 2}, true), `{"a":1,"b":2,"_meta":{"trace":"t-1"}}`},
			{"trace that needs escaping", envelope.WithTrace(bg, "a\"b\\c\n"), "Add", envelope.Params(5, false), `{"value":5,"_meta":{"trace":"a\"b\\c\n"}}`},
			{"deadline only", withDeadline(t, bg, p2Deadline), "Add", envelope.Params(5, false), `{"value":5,"_meta":{"deadline":"` + p2DeadlineText + `"}}`},
			{"deadline a nanosecond before a new year", withDeadline(t, bg, time.Date(2099, 12, 31, 23, 59, 59, 999_999_999, time.UTC)), "Add",
				envelope.Params(5, false), `{"value":5,"_meta":{"deadline":"2099-12-31T23:59:59.999Z"}}`},
			{"deadline on a second", withDeadline(t, bg, time.Date(2099, 6, 1, 12, 0, 0, 0, time.UTC)), "Add",
				envelope.Params(5, false), `{"value":5,"_meta":{"deadline":"2099-06-01T12:00:00.000Z"}}`},
			{"trace context", withDeadline(t, envelope.WithTraceContext(envelope.WithTrace(bg, "t"), tp, ts), p2Deadline), "Add", envelope.Params(5, false),
				`{"value":5,"_meta":{"trace":"t","traceparent":"` + tp + `","tracestate":"` + ts + `","deadline":"` + p2DeadlineText + `"}}`},
			{"tracestate only", envelope.WithTraceContext(bg, "", "k=v"), "Add", envelope.Params(5, false), `{"value":5,"_meta":{"tracestate":"k=v"}}`},
			{"no metadata", bg, "Add", envelope.Params(p2Add{1, 2}, true), `{"a":1,"b":2}`},
			{"no metadata, value", bg, "Add", envelope.Params(5, false), `{"value":5}`},
			{"no metadata, nil object", bg, "Add", envelope.Params(nil, true), `{}`},
			{"plugin to plugin", traced, envelope.MethodCall, map[string]any{"plugin": "calc", "method": "Add", "params": p2Add{1, 2}},
				`{"method":"Add","params":{"a":1,"b":2},"plugin":"calc",` + meta + `}`},
			{"$/ping carries no _meta", traced, envelope.MethodPing, nil, ""},
			{"$/shutdown carries no _meta", traced, envelope.MethodShutdown, nil, ""},
		}
		for i, tt := range tests {
			id := i + 1
			errc := goCall(cli, tt.ctx, tt.method, tt.params, nil)
			want := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q`, id, tt.method)
			if tt.want != "" {
				want += `,"params":` + tt.want
			}
			want += `}`
			got := peer.read()
			assert.Equal(t, want, got, tt.name)
			assertNoTopLevelMeta(t, got)
			peer.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":null}`, id))
			require.NoError(t, recv(t, errc), tt.name)
		}
	})
}

// An object input by name with its metadata as the last member, the
// shape every protocol 2 call to a Go function has.
func TestProtocol2AddFrame(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cli, peer := startRaw(t, tr, envelope.ConnOptions{}, envelope.Protocol2)
		ctx := withDeadline(t, envelope.WithTrace(context.Background(), "t"), p2Deadline)
		var sum int
		errc := goCall(cli, ctx, "Add", envelope.Params(p2Add{1, 2}, true), &sum)
		assert.Equal(t, `{"jsonrpc":"2.0","id":1,"method":"Add","params":{"a":1,"b":2,"_meta":{"trace":"t","deadline":"2099-01-02T02:04:05.123Z"}}}`, peer.read())
		peer.send(`{"jsonrpc":"2.0","id":1,"result":3}`)
		require.NoError(t, recv(t, errc))
		assert.Equal(t, 3, sum)
	})
}

func TestProtocol2CancelCarriesNoMeta(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cli, peer := startRaw(t, tr, envelope.ConnOptions{}, envelope.Protocol2)
		ctx, cancel := context.WithCancel(envelope.WithTrace(context.Background(), "t"))
		defer cancel()
		errc := goCall(cli, ctx, "Slow", envelope.Params(1, false), nil)
		assert.Equal(t, `{"jsonrpc":"2.0","id":1,"method":"Slow","params":{"value":1,"_meta":{"trace":"t"}}}`, peer.read())
		cancel()
		assert.Equal(t, `{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}`, peer.read())
		assert.ErrorIs(t, recv(t, errc), context.Canceled)
	})
}

// A payload that is not an object where the input is one fails the call
// before a byte of it is written.
func TestProtocol2CallNonObjectParams(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cli, peer := startRaw(t, tr, envelope.ConnOptions{}, envelope.Protocol2)
		ctx := withDeadline(t, envelope.WithTrace(context.Background(), "t"), p2Deadline)
		tests := []struct {
			params any
			kind   string
		}{
			{5, "a number"},
			{-1.5, "a number"},
			{json.RawMessage(" 7 "), "a number"},
			{"s", "a string"},
			{[]int{1}, "an array"},
			{true, "a boolean"},
		}
		for _, tt := range tests {
			err := cli.Call(ctx, "Add", envelope.Params(tt.params, true), nil)
			require.Error(t, err, "%#v", tt.params)
			assert.ErrorIs(t, err, envelope.ErrInvalidParams)
			var rpcErr *envelope.Error
			assert.False(t, errors.As(err, &rpcErr), "a local error, not the peer's answer")
			assert.Contains(t, err.Error(), "Add")
			assert.Contains(t, err.Error(), "must be a JSON object")
			assert.Contains(t, err.Error(), tt.kind)

			// Nor in protocol 2 without metadata.
			err = cli.Call(context.Background(), "Add", envelope.Params(tt.params, true), nil)
			assert.ErrorIs(t, err, envelope.ErrInvalidParams)
		}
		// Nothing was written: the next frame is the next call's.
		errc := goCall(cli, context.Background(), "After", envelope.Params(nil, true), nil)
		got := peer.read()
		m, err := envelope.Decode([]byte(got))
		require.NoError(t, err)
		assert.Equal(t, "After", m.Method, got)
		assert.Equal(t, `{}`, string(m.Params))
		peer.send(`{"jsonrpc":"2.0","id":` + m.ID.String() + `,"result":null}`)
		require.NoError(t, recv(t, errc))
		assert.NoError(t, cli.Err())
	})
}

func TestProtocol2NotifyFrames(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		c, peer := startRaw(t, tr, envelope.ConnOptions{}, envelope.Protocol2)
		for _, bad := range []any{5, "s", []int{1}, false, json.RawMessage(`2`)} {
			err := c.Notify("note", bad)
			assert.ErrorIs(t, err, envelope.ErrInvalidParams, "%#v", bad)
		}
		tests := []struct {
			method string
			params any
			want   string
		}{
			{"note", envelope.Params(5, false), `{"jsonrpc":"2.0","method":"note","params":{"value":5}}`},
			{"note", envelope.Params(p2Add{1, 2}, true), `{"jsonrpc":"2.0","method":"note","params":{"a":1,"b":2}}`},
			{"note", envelope.Params(nil, true), `{"jsonrpc":"2.0","method":"note","params":{}}`},
			{envelope.MethodAsync, envelope.Params([]string{"x"}, false), `{"jsonrpc":"2.0","method":"$/async","params":{"value":["x"]}}`},
			{envelope.MethodCancel, envelope.CancelParams{ID: envelope.NumberID(3)}, `{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":3}}`},
			{envelope.MethodShutdown, nil, `{"jsonrpc":"2.0","method":"$/shutdown"}`},
		}
		for _, tt := range tests {
			errc := goNotify(c, tt.method, tt.params)
			got := peer.read()
			assert.Equal(t, tt.want, got)
			assertNoTopLevelMeta(t, got)
			require.NoError(t, recv(t, errc))
		}
	})
}

// Protocol 1, a Conn's protocol until SetProtocol, writes what it always
// has: params as given, the trace id in a top-level meta, nothing of
// protocol 2's _meta, deadline, trace context or progress token.
func TestProtocol1FramesUnchanged(t *testing.T) {
	for _, proto := range []int{0, envelope.Protocol1} {
		forEachTransport(t, func(t *testing.T, tr transport) {
			cli, peer := startRaw(t, tr, envelope.ConnOptions{CallTimeout: time.Hour}, proto)
			bg := context.Background()
			ctx := withDeadline(t, envelope.WithTraceContext(envelope.WithTrace(bg, "t"), "00-x-y-01", "k=v"), p2Deadline)
			ctx = envelope.WithProgress(ctx, func(float64, float64, string) { t.Error("progress in protocol 1") })
			tests := []struct {
				ctx    context.Context
				method string
				params any
				want   string
			}{
				{ctx, "Add", p2Add{1, 2}, `{"jsonrpc":"2.0","id":1,"method":"Add","params":{"a":1,"b":2},"meta":{"trace":"t"}}`},
				{ctx, "Add", 5, `{"jsonrpc":"2.0","id":2,"method":"Add","params":5,"meta":{"trace":"t"}}`},
				{ctx, "Add", nil, `{"jsonrpc":"2.0","id":3,"method":"Add","meta":{"trace":"t"}}`},
				{bg, "Add", p2Add{1, 2}, `{"jsonrpc":"2.0","id":4,"method":"Add","params":{"a":1,"b":2}}`},
				{bg, "Add", nil, `{"jsonrpc":"2.0","id":5,"method":"Add"}`},
				{bg, envelope.MethodPing, nil, `{"jsonrpc":"2.0","id":6,"method":"$/ping"}`},
			}
			for i, tt := range tests {
				errc := goCall(cli, tt.ctx, tt.method, tt.params, nil)
				assert.Equal(t, tt.want, peer.read())
				peer.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":null}`, i+1))
				require.NoError(t, recv(t, errc))
			}
			for _, n := range []struct {
				params any
				want   string
			}{
				{5, `{"jsonrpc":"2.0","method":"note","params":5}`},
				{nil, `{"jsonrpc":"2.0","method":"note"}`},
				{[]int{1}, `{"jsonrpc":"2.0","method":"note","params":[1]}`},
			} {
				errc := goNotify(cli, "note", n.params)
				assert.Equal(t, n.want, peer.read())
				require.NoError(t, recv(t, errc))
			}
		})
	}
}

// seen is what a protocol 2 handler read from a request.
type seen struct {
	method        string
	deadline      time.Time
	hasDeadline   bool
	ctxErr        error
	trace         string
	parent, state string
	params        string
	err           error
}

// seeingHandler reads each message with RequestContext, reports what it
// saw on the channel it returns, and answers requests with null.
func seeingHandler(t *testing.T) (<-chan seen, func(c *envelope.Conn, m *envelope.Envelope)) {
	ch := make(chan seen, 16)
	wg := newWorkers(t)
	return ch, func(c *envelope.Conn, m *envelope.Envelope) {
		ctx, cancel, err := c.RequestContext(context.Background(), m)
		s := seen{method: m.Method, err: err, trace: m.Trace(), params: string(m.Params), ctxErr: ctx.Err()}
		s.deadline, s.hasDeadline = ctx.Deadline()
		s.parent, s.state = envelope.TraceContextFrom(ctx)
		cancel()
		ch <- s
		if m.IsRequest() {
			wg.Go(func() { _ = c.Reply(m.ID, nil) })
		}
	}
}

func TestProtocol2RequestContextDeadline(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		seenc, handler := seeingHandler(t)
		const cto = 30 * time.Second
		_, cli := startPair2(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{CallTimeout: cto})

		// The caller's deadline, to the millisecond, never later.
		d := time.Now().Add(time.Hour)
		require.NoError(t, cli.Call(withDeadline(t, context.Background(), d), "Add", envelope.Params(p2Add{1, 2}, true), nil))
		s := recv(t, seenc)
		require.NoError(t, s.err)
		require.True(t, s.hasDeadline)
		assert.True(t, s.deadline.Equal(d.Truncate(time.Millisecond)), "callee's deadline %v, caller's %v", s.deadline, d)
		assert.False(t, s.deadline.After(d))
		assert.Equal(t, `{"a":1,"b":2}`, s.params, "_meta is not part of the input")

		// No deadline of its own: now plus the call timeout.
		before := time.Now()
		require.NoError(t, cli.Call(context.Background(), "Add", envelope.Params(5, false), nil))
		after := time.Now()
		s = recv(t, seenc)
		require.NoError(t, s.err)
		require.True(t, s.hasDeadline, "the call timeout gives the callee a deadline")
		assert.False(t, s.deadline.Before(before.Add(cto).Truncate(time.Millisecond)), "%v before %v", s.deadline, before.Add(cto))
		assert.False(t, s.deadline.After(after.Add(cto)), "%v after %v", s.deadline, after.Add(cto))
		assert.Equal(t, `{"value":5}`, s.params)
		assert.NoError(t, s.ctxErr)
	})
}

func TestProtocol2RequestContextNoDeadline(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		seenc, handler := seeingHandler(t)
		_, cli := startPair2(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		require.NoError(t, cli.Call(context.Background(), "Add", envelope.Params(p2Add{1, 2}, true), nil))
		s := recv(t, seenc)
		require.NoError(t, s.err)
		assert.False(t, s.hasDeadline, "no deadline and no call timeout: none for the callee")
		assert.Equal(t, "", s.trace)
		assert.Equal(t, `{"a":1,"b":2}`, s.params)
	})
}

func TestProtocol2RequestContextTrace(t *testing.T) {
	const (
		tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		ts = "congo=t61rcWkgMzE"
	)
	forEachTransport(t, func(t *testing.T, tr transport) {
		seenc, handler := seeingHandler(t)
		_, cli := startPair2(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
		bg := context.Background()

		require.NoError(t, cli.Call(envelope.WithTrace(bg, "trace-7"), "Add", envelope.Params(p2Add{1, 2}, true), nil))
		s := recv(t, seenc)
		require.NoError(t, s.err)
		assert.Equal(t, "trace-7", s.trace)
		assert.Equal(t, `{"a":1,"b":2}`, s.params)
		assert.Equal(t, [2]string{"", ""}, [2]string{s.parent, s.state})

		require.NoError(t, cli.Call(envelope.WithTraceContext(envelope.WithTrace(bg, "t"), tp, ts), "Add", envelope.Params(nil, true), nil))
		s = recv(t, seenc)
		require.NoError(t, s.err)
		assert.Equal(t, "t", s.trace)
		assert.Equal(t, tp, s.parent)
		assert.Equal(t, ts, s.state)
		assert.Equal(t, `{}`, s.params)

		require.NoError(t, cli.Call(envelope.WithTraceContext(bg, tp, ""), "Add", envelope.Params(1, false), nil))
		s = recv(t, seenc)
		require.NoError(t, s.err)
		assert.Equal(t, "", s.trace)
		assert.Equal(t, [2]string{tp, ""}, [2]string{s.parent, s.state})
	})
}

func TestWithTraceContext(t *testing.T) {
	bg := context.Background()
	p, s := envelope.TraceContextFrom(bg)
	assert.Equal(t, [2]string{"", ""}, [2]string{p, s})
	ctx := envelope.WithTraceContext(envelope.WithTrace(bg, "id"), "tp", "ts")
	p, s = envelope.TraceContextFrom(ctx)
	assert.Equal(t, [2]string{"tp", "ts"}, [2]string{p, s})
	assert.Equal(t, "id", envelope.TraceFrom(ctx), "the trace id is kept apart")
	p, s = envelope.TraceContextFrom(envelope.WithTraceContext(ctx, "tp2", ""))
	assert.Equal(t, [2]string{"tp2", ""}, [2]string{p, s}, "the inner one wins, whole")
}

// request is a protocol 2 request with the given params, as a raw peer
// writes it.
func request(id int, params string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"M","params":%s}`, id, params)
}

func TestProtocol2MetaRemoved(t *testing.T) {
	tests := []struct {
		name, params, want, trace string
	}{
		{"first", `{"_meta":{"trace":"x"},"a":1,"b":2}`, `{"a":1,"b":2}`, "x"},
		{"middle", `{"a":1,"_meta":{"trace":"x"},"b":2}`, `{"a":1,"b":2}`, "x"},
		{"last", `{"a":1,"b":2,"_meta":{"trace":"x"}}`, `{"a":1,"b":2}`, "x"},
		{"only", `{"_meta":{"trace":"x"}}`, `{}`, "x"},
		{"only, with space", " \t{ \"_meta\" : { \"trace\" : \"x\" } }\n", ``, "x"},
		{"first, with space", `{ "_meta" : {"trace":"x"} , "a" : 1 }`, ``, "x"},
		{"middle, with space", `{ "a" : 1 , "_meta" : { "trace" : "x" } , "b" : [ 2 ] }`, ``, "x"},
		{"last, with space", "{ \"a\" : 1 ,\n\t\"_meta\" : {\"trace\":\"x\"}\r\n}", ``, "x"},
		{"escaped key", `{"a":1,"\u005fmeta":{"trace":"x"}}`, `{"a":1}`, "x"},
		{"escaped key, first", `{"\u005f\u006d\u0065\u0074\u0061":{"trace":"x"},"a":1}`, `{"a":1}`, "x"},
		{"null", `{"a":1,"_meta":null}`, `{"a":1}`, ""},
		{"empty", `{"_meta":{},"a":1}`, `{"a":1}`, ""},
		{"unknown members ignored", `{"a":1,"_meta":{"trace":"x","future":{"_meta":1},"other":[1]}}`, `{"a":1}`, "x"},
		{"nested _meta is input", `{"a":{"_meta":{"trace":"no"}},"_meta":{"trace":"x"}}`, `{"a":{"_meta":{"trace":"no"}}}`, "x"},
		{"_meta in a string is input", `{"a":"\"_meta\":{}","_meta":{"trace":"x"},"b":"_meta"}`, `{"a":"\"_meta\":{}","b":"_meta"}`, "x"},
		{"other spellings are input", `{"_Meta":1,"meta":2,"_meta ":3}`, `{"_Meta":1,"meta":2,"_meta ":3}`, ""},
		{"none", `{"a":1}`, `{"a":1}`, ""},
		{"empty params", `{}`, `{}`, ""},
		{"value", `{"value":{"x":1},"_meta":{"trace":"x"}}`, `{"value":{"x":1}}`, "x"},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		seenc, handler := seeingHandler(t)
		_, peer := startRaw(t, tr, envelope.ConnOptions{Handler: handler}, envelope.Protocol2)
		for i, tt := range tests {
			peer.send(request(i+1, tt.params))
			s := recv(t, seenc)
			require.NoError(t, s.err, tt.name)
			if tt.want != "" {
				assert.Equal(t, tt.want, s.params, tt.name)
			}
			assert.True(t, json.Valid([]byte(s.params)), "%s: %s", tt.name, s.params)
			var got, orig map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(s.params), &got), tt.name)
			require.NoError(t, json.Unmarshal([]byte(tt.params), &orig), tt.name)
			delete(orig, "_meta")
			assert.Equal(t, orig, got, tt.name)
			assert.Equal(t, tt.trace, s.trace, tt.name)
			assert.Equal(t, `{"jsonrpc":"2.0","id":`+fmt.Sprint(i+1)+`,"result":null}`, peer.read())
		}
	})
}

func TestProtocol2MetaMalformed(t *testing.T) {
	tests := []struct {
		name, params string
		msg          []string // what the error says, in part
	}{
		{"two", `{"_meta":{},"a":1,"_meta":{}}`, []string{"two _meta members"}},
		{"two, adjacent", `{"a":1,"_meta":{"trace":"a"},"_meta":{"trace":"b"}}`, []string{"two _meta members"}},
		{"two, one escaped", `{"_meta":{},"\u005fmeta":{}}`, []string{"two _meta members"}},
		{"two nulls", `{"_meta":null,"_meta":null}`, []string{"two _meta members"}},
		{"three", `{"_meta":{},"_meta":{},"_meta":{}}`, []string{"two _meta members"}},
		{"a string", `{"_meta":"x"}`, []string{"_meta: want an object, got a string"}},
		{"a number", `{"a":1,"_meta":5}`, []string{"_meta: want an object, got a number"}},
		{"an array", `{"_meta":[{}],"a":1}`, []string{"_meta: want an object, got an array"}},
		{"a boolean", `{"_meta":true}`, []string{"_meta: want an object, got a boolean"}},
		{"deadline tomorrow", `{"_meta":{"deadline":"tomorrow"}}`, []string{`invalid params: _meta.deadline: want an RFC 3339 time, got "tomorrow"`}},
		{"deadline without zone", `{"_meta":{"deadline":"2026-12-01T21:50:00"}}`, []string{"_meta.deadline", "RFC 3339", `"2026-12-01T21:50:00"`}},
		{"deadline a date", `{"_meta":{"deadline":"2026-12-01"}}`, []string{"_meta.deadline", "RFC 3339"}},
		{"deadline a number", `{"_meta":{"deadline":1764625800}}`, []string{"_meta.deadline", "want a string"}},
		{"deadline long", `{"_meta":{"deadline":"` + strings.Repeat("9", 5000) + `"}}`, []string{"_meta.deadline", "RFC 3339"}},
		{"trace a number", `{"_meta":{"trace":5}}`, []string{"_meta.trace", "want a string"}},
		{"trace an object", `{"_meta":{"trace":{}}}`, []string{"_meta.trace", "want a string"}},
		{"traceparent an array", `{"_meta":{"traceparent":[]}}`, []string{"_meta.traceparent", "want a string"}},
		{"tracestate a boolean", `{"_meta":{"tracestate":false}}`, []string{"_meta.tracestate", "want a string"}},
		{"progressToken an object", `{"_meta":{"progressToken":{}}}`, []string{"_meta.progressToken", "want a string or an integer"}},
		{"progressToken an array", `{"_meta":{"progressToken":[1]}}`, []string{"_meta.progressToken", "want a string or an integer"}},
		{"progressToken a boolean", `{"_meta":{"progressToken":true}}`, []string{"_meta.progressToken", "want a string or an integer"}},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		seenc, handler := seeingHandler(t)
		_, peer := startRaw(t, tr, envelope.ConnOptions{Handler: handler}, envelope.Protocol2)
		for i, tt := range tests {
			peer.send(request(i+1, tt.params))
			s := recv(t, seenc)
			require.Error(t, s.err, tt.name)
			assert.ErrorIs(t, s.err, envelope.ErrInvalidParams, tt.name)
			for _, part := range tt.msg {
				assert.Contains(t, s.err.Error(), part, tt.name)
			}
			assert.Less(t, len(s.err.Error()), 200, "%s: a bounded message", tt.name)
			assert.False(t, s.hasDeadline, tt.name)
			peer.read() // the handler's answer
		}
	})
}

// A deadline in any RFC 3339 form is read; one already past gives a
// context that has ended.
func TestProtocol2DeadlineForms(t *testing.T) {
	tests := []struct {
		text string
		want time.Time
	}{
		{"2099-01-02T03:04:05Z", time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2099-01-02T03:04:05.5Z", time.Date(2099, 1, 2, 3, 4, 5, 500_000_000, time.UTC)},
		{"2099-01-02T03:04:05.123456789Z", time.Date(2099, 1, 2, 3, 4, 5, 123_456_789, time.UTC)},
		{"2099-01-02T04:04:05+01:00", time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2099-01-01T22:04:05.25-05:00", time.Date(2099, 1, 2, 3, 4, 5, 250_000_000, time.UTC)},
		// RFC 3339 5.6: "T" and "Z" may be lower case.
		{"2099-01-02t03:04:05z", time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		seenc, handler := seeingHandler(t)
		_, peer := startRaw(t, tr, envelope.ConnOptions{Handler: handler}, envelope.Protocol2)
		for i, tt := range tests {
			peer.send(request(i+1, `{"_meta":{"deadline":"`+tt.text+`"}}`))
			s := recv(t, seenc)
			require.NoError(t, s.err, tt.text)
			require.True(t, s.hasDeadline, tt.text)
			assert.True(t, s.deadline.Equal(tt.want), "%s: got %v", tt.text, s.deadline)
			assert.NoError(t, s.ctxErr)
			peer.read()
		}
		peer.send(request(100, `{"_meta":{"deadline":"2000-01-01T00:00:00.000Z"}}`))
		s := recv(t, seenc)
		require.NoError(t, s.err)
		assert.ErrorIs(t, s.ctxErr, context.DeadlineExceeded, "a deadline past already")
		peer.read()
	})
}

// inputSeen is what Input gave a handler.
type inputSeen struct {
	raw     string
	isNil   bool
	err     error
	decoded any
	decErr  error
}

func TestProtocol2Input(t *testing.T) {
	tests := []struct {
		name   string
		params string // "" for none
		object bool
		want   string // the raw input; "" for none, which is null
		err    string // in part
	}{
		{"object by name", `{"a":1,"b":2,"_meta":{"trace":"x"}}`, true, `{"a":1,"b":2}`, ""},
		{"object by name, _meta first", `{"_meta":{},"a":1}`, true, `{"a":1}`, ""},
		{"object, only _meta", `{"_meta":{"trace":"x"}}`, true, `{}`, ""},
		{"object, empty", `{}`, true, `{}`, ""},
		{"object, absent", "", true, "", ""},
		{"value", `{"value":5,"_meta":{}}`, false, `5`, ""},
		{"value after _meta", `{"_meta":{"trace":"x"},"value":"s"}`, false, `"s"`, ""},
		{"value with other members", `{"other":1,"value":[1,2],"more":{}}`, false, `[1,2]`, ""},
		{"value an object", `{"value":{"a":1}}`, false, `{"a":1}`, ""},
		{"value null", `{"value":null}`, false, `null`, ""},
		{"value escaped", `{"\u0076alue":7}`, false, `7`, ""},
		{"value twice, the last wins", `{"value":1,"value":2}`, false, `2`, ""},
		{"value missing", `{"_meta":{"trace":"x"}}`, false, "", ""},
		{"value missing, others", `{"Value":1,"values":2}`, false, "", ""},
		{"value, absent params", "", false, "", ""},
		{"by position, object", `[{"a":1,"b":2}]`, true, `{"a":1,"b":2}`, ""},
		{"by position, value", `[5]`, false, `5`, ""},
		{"by position, with space", "[ \"x\" \n]", false, `"x"`, ""},
		{"by position, array", `[[1,2]]`, false, `[1,2]`, ""},
		{"by position, null", `[null]`, true, `null`, ""},
		{"by position, none", `[]`, true, "", "got none"},
		{"by position, none, value", `[ ]`, false, "", "got none"},
		{"by position, two", `[1,2]`, false, "", "got more"},
		{"by position, two objects", `[{"a":1},{"b":2}]`, true, "", "got more"},
		{"scalar", `5`, false, "", "got a number"},
		{"scalar, object", `5`, true, "", "got a number"},
		{"string", `"s"`, false, "", "got a string"},
		{"boolean", `true`, true, "", "got a boolean"},
		{"null", `null`, false, "", "got null"},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		ch := make(chan inputSeen, 1)
		object := make(chan bool, 1)
		wg := newWorkers(t)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			obj := <-object
			_, cancel, err := c.RequestContext(context.Background(), m)
			cancel()
			if err != nil {
				ch <- inputSeen{err: fmt.Errorf("RequestContext: %w", err)}
				return
			}
			raw, err := m.Input(obj)
			s := inputSeen{raw: string(raw), isNil: raw == nil, err: err}
			if err == nil {
				var v any = "untouched"
				s.decErr = envelope.DecodeInput(m, &v, obj)
				s.decoded = v
			}
			ch <- s
			wg.Go(func() { _ = c.Reply(m.ID, nil) })
		}
		_, peer := startRaw(t, tr, envelope.ConnOptions{Handler: handler}, envelope.Protocol2)
		for i, tt := range tests {
			object <- tt.object
			if tt.params == "" {
				peer.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"M"}`, i+1))
			} else {
				peer.send(request(i+1, tt.params))
			}
			s := recv(t, ch)
			if tt.err != "" {
				require.Error(t, s.err, tt.name)
				assert.ErrorIs(t, s.err, envelope.ErrInvalidParams, tt.name)
				assert.Contains(t, s.err.Error(), tt.err, tt.name)
				assert.NotContains(t, s.err.Error(), "RequestContext", tt.name)
				peer.read()
				continue
			}
			require.NoError(t, s.err, tt.name)
			assert.Equal(t, tt.want, s.raw, tt.name)
			require.NoError(t, s.decErr, tt.name)
			if tt.want == "" {
				assert.True(t, s.isNil, "%s: no input at all", tt.name)
			}
			if tt.want == "" || tt.want == "null" {
				assert.Nil(t, s.decoded, "%s: a missing input is null", tt.name)
			} else {
				var want any
				require.NoError(t, json.Unmarshal([]byte(tt.want), &want))
				assert.Equal(t, want, s.decoded, tt.name)
			}
			assert.Equal(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":null}`, i+1), peer.read())
		}
	})
}

// DecodeInput decodes into the function's own input type, end to end
// between two Conns.
func TestProtocol2DecodeInputTyped(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		wg := newWorkers(t)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			_, cancel, err := c.RequestContext(context.Background(), m)
			if err != nil {
				cancel()
				_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "%v", err))
				return
			}
			wg.Go(func() {
				defer cancel()
				switch m.Method {
				case "Add":
					var in p2Add
					if err := envelope.DecodeInput(m, &in, true); err != nil {
						_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "%v", err))
						return
					}
					_ = c.Reply(m.ID, in.A+in.B)
				case "Double":
					var in int
					if err := envelope.DecodeInput(m, &in, false); err != nil {
						_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "%v", err))
						return
					}
					_ = c.Reply(m.ID, 2*in)
				}
			})
		}
		_, cli := startPair2(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{CallTimeout: time.Minute})
		ctx := envelope.WithTrace(context.Background(), "t")
		var n int
		require.NoError(t, cli.Call(ctx, "Add", envelope.Params(p2Add{40, 2}, true), &n))
		assert.Equal(t, 42, n)
		require.NoError(t, cli.Call(ctx, "Double", envelope.Params(21, false), &n))
		assert.Equal(t, 42, n)
		require.NoError(t, cli.Call(ctx, "Add", envelope.Params(nil, true), &n))
		assert.Equal(t, 0, n)
		err := cli.Call(ctx, "Double", envelope.Params("x", false), &n)
		assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	})
}

// In protocol 1 RequestContext leaves the request as it came: params with
// whatever they hold, the trace in the top-level meta.
func TestProtocol1RequestContextUntouched(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		type got struct {
			same   bool
			params string
			input  string
			trace  string
			err    error
			inErr  error
		}
		type parentKey struct{}
		ch := make(chan got, 1)
		wg := newWorkers(t)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			parent := context.WithValue(context.Background(), parentKey{}, 1)
			ctx, cancel, err := c.RequestContext(parent, m)
			cancel()
			raw, inErr := m.Input(false)
			ch <- got{ctx == parent, string(m.Params), string(raw), m.Trace(), err, inErr}
			wg.Go(func() { _ = c.Reply(m.ID, nil) })
		}
		_, peer := startRaw(t, tr, envelope.ConnOptions{Handler: handler}, 0)
		for i, params := range []string{
			`{"value":5,"_meta":{"trace":"x","deadline":"tomorrow"}}`,
			`{"_meta":{},"_meta":{}}`,
			`5`,
			`[1,2]`,
		} {
			peer.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"M","params":%s,"meta":{"trace":"p1"}}`, i+1, params))
			g := recv(t, ch)
			assert.NoError(t, g.err, params)
			assert.NoError(t, g.inErr, params)
			assert.True(t, g.same, "%s: the parent context itself", params)
			assert.Equal(t, params, g.params)
			assert.Equal(t, params, g.input, "protocol 1's input is its params")
			assert.Equal(t, "p1", g.trace)
			peer.read()
		}
	})
}

type report struct {
	Progress, Total float64
	Message         string
}

// reports collects what a ProgressFunc was given.
type reports struct {
	mu  sync.Mutex
	got []report
}

func (r *reports) fn(progress, total float64, message string) {
	r.mu.Lock()
	r.got = append(r.got, report{progress, total, message})
	r.mu.Unlock()
}

func (r *reports) all() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]report(nil), r.got...)
}

func TestProtocol2Progress(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		var want []report
		for i := range 50 {
			r := report{Progress: float64(i), Total: 49, Message: fmt.Sprint("step ", i)}
			if i%7 == 0 {
				r.Total, r.Message = 0, "" // left out on the wire
			}
			want = append(want, r)
		}
		late := make(chan error, 1)
		wg := newWorkers(t)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			ctx, cancel, err := c.RequestContext(context.Background(), m)
			if !assert.NoError(t, err) {
				cancel()
				return
			}
			wg.Go(func() {
				defer cancel()
				switch m.Method {
				case "Work":
					for _, r := range want {
						assert.NoError(t, envelope.Progress(ctx, r.Progress, r.Total, r.Message))
					}
					_ = c.Reply(m.ID, "done")
					// After the answer: the caller must not see it.
					late <- envelope.Progress(ctx, 1000, 0, "late")
				default:
					_ = c.Reply(m.ID, nil)
				}
			})
		}
		cliSaw := make(chan string, 16)
		_, cli := startPair2(t, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{
			Handler: func(c *envelope.Conn, m *envelope.Envelope) { cliSaw <- m.Method },
		})
		var r reports
		var res string
		require.NoError(t, cli.Call(envelope.WithProgress(context.Background(), r.fn), "Work", envelope.Params(nil, true), &res))
		assert.Equal(t, "done", res)
		assert.Equal(t, want, r.all(), "every report, in order, before Call returned")

		require.NoError(t, recv(t, late), "the late report was written")
		// It was on the wire before this call was made, so it has been read
		// by the time the answer is.
		require.NoError(t, cli.Call(context.Background(), "Sync", envelope.Params(nil, true), nil))
		assert.Equal(t, want, r.all(), "nothing after the answer")
		assert.Empty(t, cliSaw, "$/progress never reaches the Handler")
		assert.NoError(t, cli.Err())
	})
}

// The callee's reports on the wire, and no reports for a caller that asked
// for none.
func TestProtocol2ProgressFrames(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		type step struct {
			progress, total float64
			message         string
		}
		steps := []step{{0.5, 0, ""}, {1, 2, "m"}, {2, 2, "done \"now\""}}
		wg := newWorkers(t)
		noted := make(chan error, 1)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			ctx, cancel, err := c.RequestContext(context.Background(), m)
			if !assert.NoError(t, err) {
				cancel()
				return
			}
			if m.IsNotification() {
				// A notification has no answer to report progress on.
				noted <- envelope.Progress(ctx, 1, 2, "x")
				cancel()
				return
			}
			wg.Go(func() {
				defer cancel()
				for _, s := range steps {
					assert.NoError(t, envelope.Progress(ctx, s.progress, s.total, s.message))
				}
				_ = c.Reply(m.ID, "ok")
			})
		}
		_, peer := startRaw(t, tr, envelope.ConnOptions{Handler: handler}, envelope.Protocol2)

		for _, tok := range []string{`"tok"`, `7`, `"7"`, `-3`} {
			peer.send(`{"jsonrpc":"2.0","id":"r","method":"Work","params":{"a":1,"_meta":{"progressToken":` + tok + `}}}`)
			assert.Equal(t, `{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":`+tok+`,"progress":0.5}}`, peer.read())
			assert.Equal(t, `{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":`+tok+`,"progress":1,"total":2,"message":"m"}}`, peer.read())
			assert.Equal(t, `{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":`+tok+`,"progress":2,"total":2,"message":"done \"now\""}}`, peer.read())
			assert.Equal(t, `{"jsonrpc":"2.0","id":"r","result":"ok"}`, peer.read())
		}

		// No token, a null one, none at all: Progress writes nothing.
		for _, params := range []string{`{"a":1}`, `{"_meta":{"progressToken":null}}`, `{"_meta":{"trace":"t"}}`, `[1]`} {
			peer.send(`{"jsonrpc":"2.0","id":"q","method":"Work","params":` + params + `}`)
			assert.Equal(t, `{"jsonrpc":"2.0","id":"q","result":"ok"}`, peer.read(), params)
		}
		peer.send(`{"jsonrpc":"2.0","method":"Note","params":{"_meta":{"progressToken":5}}}`)
		assert.NoError(t, recv(t, noted))
		peer.send(`{"jsonrpc":"2.0","id":"after","method":"Work","params":{}}`)
		assert.Equal(t, `{"jsonrpc":"2.0","id":"after","result":"ok"}`, peer.read(), "nothing came before the answer")

		assert.NoError(t, envelope.Progress(context.Background(), 1, 1, "x"), "no request, nothing to do")
	})
}

// The caller sends its request's own id as the progress token, and drops
// reports about anything but a call in flight that asked for them.
func TestProtocol2ProgressCaller(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cliSaw := make(chan string, 16)
		cli, peer := startRaw(t, tr, envelope.ConnOptions{Handler: func(c *envelope.Conn, m *envelope.Envelope) {
			cliSaw <- m.Method
		}}, envelope.Protocol2)
		progress := func(params string) {
			peer.send(`{"jsonrpc":"2.0","method":"$/progress","params":` + params + `}`)
		}
		answer := func(id int) { peer.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":null}`, id)) }

		var r1 reports
		errc := goCall(cli, envelope.WithProgress(context.Background(), r1.fn), "Work", envelope.Params(nil, true), nil)
		assert.Equal(t, `{"jsonrpc":"2.0","id":1,"method":"Work","params":{"_meta":{"progressToken":1}}}`, peer.read())
		progress(`{"progressToken":999,"progress":9}`) // never sent
		progress(`{"progressToken":2,"progress":9}`)   // not yet sent
		progress(`{"progressToken":"1","progress":9}`) // a string: not this side's
		progress(`{"progressToken":-1,"progress":9}`)  // never a request number
		progress(`{"progressToken":1.5,"progress":9}`) // nor this
		progress(`{"progress":9}`)                     // no token
		progress(`5`)                                  // malformed
		progress(`{"progressToken":{},"progress":9}`)  // malformed
		progress(`{"progressToken":1,"progress":"9"}`) // malformed
		progress(`{"progressToken":1,"progress":1}`)   // this call's
		progress(`{"progressToken":1,"progress":2,"total":4,"message":"half"}`)
		answer(1)
		require.NoError(t, recv(t, errc))
		assert.Equal(t, []report{{1, 0, ""}, {2, 4, "half"}}, r1.all())

		// A finished call's token reaches no one, not even the next call
		// that asked for progress.
		var r2 reports
		errc = goCall(cli, envelope.WithProgress(context.Background(), r2.fn), "Work", envelope.Params(5, false), nil)
		assert.Equal(t, `{"jsonrpc":"2.0","id":2,"method":"Work","params":{"value":5,"_meta":{"progressToken":2}}}`, peer.read())
		progress(`{"progressToken":1,"progress":3}`)
		progress(`{"progressToken":2,"progress":7}`)
		answer(2)
		require.NoError(t, recv(t, errc))
		assert.Equal(t, []report{{1, 0, ""}, {2, 4, "half"}}, r1.all())
		assert.Equal(t, []report{{7, 0, ""}}, r2.all())

		// A call that gave up gets no more.
		var r3 reports
		ctx, cancel := context.WithCancel(envelope.WithProgress(envelope.WithTrace(context.Background(), "t"), r3.fn))
		errc = goCall(cli, ctx, "Work", envelope.Params(nil, true), nil)
		assert.Equal(t, `{"jsonrpc":"2.0","id":3,"method":"Work","params":{"_meta":{"trace":"t","progressToken":3}}}`, peer.read())
		cancel()
		assert.Equal(t, `{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":3}}`, peer.read())
		assert.ErrorIs(t, recv(t, errc), context.Canceled)
		progress(`{"progressToken":3,"progress":1}`)
		answer(3) // late, dropped

		// A call without WithProgress sends no token, and reports about it
		// are dropped too.
		errc = goCall(cli, context.Background(), "Work", envelope.Params(nil, true), nil)
		assert.Equal(t, `{"jsonrpc":"2.0","id":4,"method":"Work","params":{}}`, peer.read())
		progress(`{"progressToken":4,"progress":1}`)
		answer(4)
		require.NoError(t, recv(t, errc))
		assert.Empty(t, r3.all())

		assert.Empty(t, cliSaw, "$/progress never reaches the Handler")
		assert.NoError(t, cli.Err(), "a bad report is dropped, not a protocol violation")
	})
}

// A $/progress request (with an id) is not a report: the Handler gets it.
func TestProtocol2ProgressRequestIsHandled(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		_, peer := startRaw(t, tr, envelope.ConnOptions{}, envelope.Protocol2)
		peer.send(`{"jsonrpc":"2.0","id":1,"method":"$/progress","params":{"progressToken":1,"progress":1}}`)
		m, err := envelope.Decode([]byte(peer.read()))
		require.NoError(t, err)
		require.NotNil(t, m.Error)
		assert.EqualValues(t, envelope.CodeMethodNotFound, m.Error.Code)
	})
}

// Params and IsObject together: what a description says decides the
// params' shape on both sides.
func TestParamsByDescription(t *testing.T) {
	tests := []struct {
		typ    string
		object bool
	}{
		{"struct", true},
		{"map[string]int", true},
		{"map[int][]string", true},
		{"[]int", false},
		{"string", false},
		{"int", false},
		{"any", false},
		{"", false},
		{"*struct", false},
		{"mystruct", false},
	}
	for _, tt := range tests {
		e := &typedesc.Entity{Type: tt.typ}
		assert.Equal(t, tt.object, e.IsObject(), tt.typ)
	}
	var nilEntity *typedesc.Entity
	assert.False(t, nilEntity.IsObject())

	in := p2Add{1, 2}
	assert.Equal(t, in, envelope.Params(in, true))
	b, err := json.Marshal(envelope.Params(in, false))
	require.NoError(t, err)
	assert.Equal(t, `{"value":{"a":1,"b":2}}`, string(b))
	b, err = json.Marshal(envelope.Params(nil, false))
	require.NoError(t, err)
	assert.Equal(t, `{"value":null}`, string(b))
	assert.Nil(t, envelope.Params(nil, true))
}

func TestForbidden(t *testing.T) {
	err := error(envelope.Errorf(envelope.CodeForbidden, `plugin "a" may not call "calc.Add"`))
	assert.ErrorIs(t, fmt.Errorf("calling: %w", err), envelope.ErrForbidden)
	assert.NotErrorIs(t, err, envelope.ErrUnauthorized)
	assert.NotErrorIs(t, envelope.Errorf(envelope.CodeUnauthorized, "no"), envelope.ErrForbidden)
	assert.EqualValues(t, -32005, envelope.CodeForbidden)
}

func TestHandshakeProtocolFields(t *testing.T) {
	b, err := json.Marshal(envelope.Handshake{PluginInfo: envelope.PluginInfo{Name: "kv"}})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "protocol", "protocol 1's handshake is unchanged")
	assert.NotContains(t, string(b), "capabilities")
	b, err = json.Marshal(envelope.Handshake{PluginInfo: envelope.PluginInfo{Name: "kv"}, Protocol: 2, Capabilities: map[string]json.RawMessage{"x": json.RawMessage(`{}`)}})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"protocol":2`)
	assert.Contains(t, string(b), `"capabilities":{"x":{}}`)

	b, err = json.Marshal(envelope.HandshakeResult{Name: "kv", Session: "s"})
	require.NoError(t, err)
	assert.Equal(t, `{"name":"kv","session":"s"}`, string(b), "byte for byte protocol 1's answer")
	b, err = json.Marshal(envelope.HandshakeResult{Name: "kv", Session: "s", Protocol: 2})
	require.NoError(t, err)
	assert.Equal(t, `{"name":"kv","session":"s","protocol":2}`, string(b))
}
