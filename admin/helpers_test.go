package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet keeps expected warnings out of test output.
var quiet = slog.New(slog.DiscardHandler)

// Item and Order give the schema tests nested and optional fields.
type Item struct {
	Name  string  `json:"name"`
	Price float64 `json:"price"`
}

type Order struct {
	ID    int64  `json:"id"`
	Items []Item `json:"items"`
	Note  string `json:"note,omitempty"`
}

// Calc is the test plugin, with Total for the schema tests.
type Calc struct{ *testplugins.Calc }

func newCalc() *Calc { return &Calc{testplugins.NewCalc()} }

func (*Calc) Total(_ context.Context, o Order) (float64, error) {
	var t float64
	for _, it := range o.Items {
		t += it.Price
	}
	return t, nil
}

// Greeter is a second kind of plugin, without Calc's functions.
type Greeter struct{}

func (Greeter) Hello(_ context.Context, name string) (string, error) { return "hello, " + name, nil }

// testToken is the admin token of every env but those of newTokenlessEnv.
const testToken = "test-admin-token"

// env is a socket with plugins, an admin Server for it (with testToken),
// and a loopback HTTP server in front, built by Server.HTTPServer.
type env struct {
	t     *testing.T
	s     *socket.Socket
	l     net.Listener
	a     *admin.Server
	ts    *httptest.Server
	c     *admin.Client
	ended []chan error // results of plugins started over TCP
}

func newEnv(t *testing.T, opts ...admin.Option) *env {
	t.Helper()
	return newEnvOf(t, socket.Config{}, append([]admin.Option{admin.Config{Logger: quiet, Token: testToken}}, opts...))
}

// newTokenlessEnv is an env whose Server asks no token: a zero field of a
// later Config cannot take newEnv's token away.
func newTokenlessEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOf(t, socket.Config{}, []admin.Option{admin.Config{Logger: quiet}})
}

// newValidatingEnv is newEnv on a socket that validates payloads.
func newValidatingEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOf(t, socket.Config{Validation: true}, []admin.Option{admin.Config{Logger: quiet, Token: testToken}})
}

// newEnvOf is an env whose socket has the settings of sc on top of the
// tests' own.
func newEnvOf(t *testing.T, sc socket.Config, opts []admin.Option) *env {
	t.Helper()
	s := new(socket.Socket)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet, ShutdownTimeout: 5 * time.Second}, sc)
	a := admin.New(s, opts...)
	ts := httptest.NewUnstartedServer(a)
	ts.Config = a.HTTPServer()
	ts.Start()
	e := &env{t: t, s: s, l: l, a: a, ts: ts, c: &admin.Client{BaseURL: ts.URL, HTTP: ts.Client(), Token: testToken}}
	t.Cleanup(func() {
		a.Close()
		require.NoError(t, s.Shutdown(""))
		for _, done := range e.ended {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("a plugin did not stop after Shutdown")
			}
		}
		ts.Close()
	})
	return e
}

// attach runs v in-process under name.
func (e *env) attach(v any, name, version string) {
	e.t.Helper()
	got, err := e.s.Attach(v, &envelope.PluginInfo{Name: name, Version: version})
	require.NoError(e.t, err)
	require.Equal(e.t, name, got)
}

// dial connects v over TCP under name, as a separate plugin process would.
func (e *env) dial(v any, name, version string) {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.l.Addr().String())
	require.NoError(e.t, err)
	p := &plugin.Plugin{Logger: quiet}
	done := make(chan error, 1)
	go func() { done <- p.Start(v, &envelope.PluginInfo{Name: name, Version: version}, conn, nil) }()
	e.ended = append(e.ended, done)
	require.True(e.t, e.s.WaitFor(name, 5*time.Second), "plugin %s did not connect", name)
}

// bookingFunctions describe, with JSON Schema alone, the functions of a
// plugin written in another language: what the console builds its form
// from.
const bookingFunctions = `{
  "Book": {"name": "Book",
    "inputSchema": {"type": "object",
      "properties": {
        "title": {"type": "string", "minLength": 1, "description": "What is on."},
        "when": {"type": "string", "format": "date-time", "description": "When it starts."},
        "kind": {"enum": ["talk", "workshop"]},
        "seats": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
        "room": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Room"}]}},
      "required": ["title", "when"],
      "$defs": {"Room": {"type": "object", "properties": {"name": {"type": "string"}, "next": {"$ref": "#/$defs/Room"}}}}},
    "outputSchema": {"type": "object", "properties": {"title": {"type": "string"}}}}
}`

// dialBooking connects, over TCP, a plugin named name that describes its
// functions as bookingFunctions do and answers every call with its
// payload.
func (e *env) dialBooking(name string) {
	e.t.Helper()
	nc, err := net.Dial("tcp", e.l.Addr().String())
	require.NoError(e.t, err)
	c := envelope.NewConn(nc, envelope.ConnOptions{Logger: quiet, Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		if !m.IsRequest() {
			return
		}
		if m.Method == envelope.MethodShutdown {
			_ = c.Reply(m.ID, nil)
			_ = c.Close()
			return
		}
		result := json.RawMessage("null")
		if len(m.Params) > 0 {
			result = json.RawMessage(m.Params)
		}
		_ = c.Reply(m.ID, result)
	}})
	c.Start()
	ended := make(chan error, 1)
	e.ended = append(e.ended, ended)
	go func() {
		<-c.Done()
		ended <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var answer json.RawMessage
	require.NoError(e.t, c.Call(ctx, envelope.MethodHandshake, map[string]any{
		"name": name, "version": "1.0.0", "functions": json.RawMessage(bookingFunctions),
	}, &answer))
	require.True(e.t, e.s.WaitFor(name, 5*time.Second), "plugin %s did not connect", name)
}

// response is an HTTP answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// apiError decodes an error body and checks its shape.
func (r response) apiError(t *testing.T) (code int64, message string) {
	t.Helper()
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var body struct {
		Error *struct {
			Code    *int64  `json:"code"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &body), "body: %s", r.body)
	require.NotNil(t, body.Error, "body: %s", r.body)
	require.NotNil(t, body.Error.Code, "body: %s", r.body)
	require.NotNil(t, body.Error.Message, "body: %s", r.body)
	return *body.Error.Code, *body.Error.Message
}

// do sends a request with the test token, unless header sets
// Authorization itself ("" sends none), and reads the answer.
func (e *env) do(method, path string, body string, header ...string) response {
	e.t.Helper()
	return e.doContext(context.Background(), method, path, body, header...)
}

func (e *env) doContext(ctx context.Context, method, path string, body string, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.ts.URL+path, rd)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(header); i += 2 {
		switch {
		case header[i] == "Host":
			req.Host = header[i+1]
		case header[i+1] == "":
			req.Header.Del(header[i])
		default:
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := e.ts.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: bytes.TrimSpace(b)}
}

// forward runs the Server's Forward until the test ends.
func (e *env) forward() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.a.Forward(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// events streams the Server's events through Client.Events until ctx
// ends, and returns once the stream is open; done receives what Events
// returned.
func (e *env) events(ctx context.Context) (events <-chan admin.Event, done <-chan error) {
	e.t.Helper()
	evs := make(chan admin.Event, 64)
	ended := make(chan error, 1)
	go func() {
		ended <- e.c.Events(ctx, func(ev admin.Event) error {
			evs <- ev
			return nil
		})
	}()
	e.waitSubscribers(1)
	return evs, ended
}

// waitSubscribers waits until n event streams are open.
func (e *env) waitSubscribers(n int) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		h, err := e.c.Health(context.Background())
		return err == nil && h.Subscribers == n
	}, 5*time.Second, 5*time.Millisecond, "waiting for %d event stream(s)", n)
}
