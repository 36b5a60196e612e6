package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
)

// sse reads a raw event stream line by line.
type sse struct {
	t     *testing.T
	resp  *http.Response
	lines chan string
}

func openSSE(t *testing.T, e *env, ctx context.Context) *sse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.ts.Client().Do(req)
	require.NoError(t, err)
	s := &sse{t: t, resp: resp, lines: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		resp.Body.Close()
		<-done
	})
	return s
}

// next returns the next line, failing the test after a deadline.
func (s *sse) next() (string, bool) {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		return l, ok
	case <-time.After(5 * time.Second):
		s.t.Fatal("no line on the event stream within 5s")
		return "", false
	}
}

// event returns the next event's type and data, skipping comments.
func (s *sse) event() (typ, data string) {
	s.t.Helper()
	for {
		l, ok := s.next()
		require.True(s.t, ok, "stream ended")
		switch {
		case strings.HasPrefix(l, "event: "):
			typ = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: "):
			data = strings.TrimPrefix(l, "data: ")
		case l == "" && typ != "":
			return typ, data
		}
	}
}

func TestEventsStream(t *testing.T) {
	e := newEnv(t)
	e.forward()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openSSE(t, e, ctx)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	assert.Equal(t, "text/event-stream", s.resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", s.resp.Header.Get("Cache-Control"))
	first, _ := s.next()
	require.Equal(t, ": subscribed", first, "the stream opens with a comment")

	c := newCalc()
	e.attach(c, "calc", "1.0.0")
	typ, data := s.event()
	assert.Equal(t, "connected", typ)
	assert.JSONEq(t, `{"name":"calc","payload":{"name":"calc","version":"1.0.0"}}`, data)

	r := e.do("POST", "/api/plugins/calc/call/Emit", `["one","two"]`)
	require.Equal(t, http.StatusOK, r.status)
	r = e.do("POST", "/api/plugins/calc/call/Emit", `["three"]`)
	require.Equal(t, http.StatusOK, r.status)
	for _, want := range []string{`"one"`, `"two"`, `"three"`} {
		typ, data = s.event()
		assert.Equal(t, "async", typ)
		assert.JSONEq(t, `{"name":"calc","payload":`+want+`}`, data)
	}

	r = e.do("DELETE", "/api/plugins/calc", "")
	require.Equal(t, http.StatusNoContent, r.status)
	typ, data = s.event()
	assert.Equal(t, "disconnected", typ)
	assert.JSONEq(t, `{"name":"calc","payload":{"name":"calc","version":"1.0.0"},"graceful":true}`, data)
}

func TestEventsHeartbeat(t *testing.T) {
	e := newEnv(t, admin.Config{Heartbeat: 10 * time.Millisecond})
	s := openSSE(t, e, context.Background())
	first, _ := s.next()
	require.Equal(t, ": subscribed", first)
	blank, _ := s.next()
	require.Equal(t, "", blank)
	for range 2 {
		l, _ := s.next()
		require.Equal(t, ": heartbeat", l)
		l, _ = s.next()
		require.Equal(t, "", l)
	}
}

func TestEventsEndOnClose(t *testing.T) {
	e := newEnv(t)
	s1 := openSSE(t, e, context.Background())
	s2 := openSSE(t, e, context.Background())
	for _, s := range []*sse{s1, s2} {
		l, _ := s.next()
		require.Equal(t, ": subscribed", l)
	}
	e.waitSubscribers(2)
	e.a.Close()
	e.a.Close() // idempotent
	for _, s := range []*sse{s1, s2} {
		for {
			_, ok := s.next()
			if !ok {
				break // the server ended the stream
			}
		}
	}
	e.waitSubscribers(0)

	r := e.do("GET", "/api/events", "")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	_, msg := r.apiError(t)
	assert.Equal(t, "event streams are closed", msg)
	// Everything else still answers.
	assert.Equal(t, http.StatusOK, e.do("GET", "/api/plugins", "").status)
	e.a.Publish(&envelope.AsyncData{Name: "x", Payload: 1}) // a no-op, not a panic
}

func TestEventsEndWhenClientLeaves(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := openSSE(t, e, ctx)
	l, _ := s.next()
	require.Equal(t, ": subscribed", l)
	e.waitSubscribers(1)
	cancel()
	e.waitSubscribers(0)
}

func TestPublishWithoutSubscribers(t *testing.T) {
	e := newEnv(t)
	e.a.Publish(nil)
	for range 1000 {
		e.a.Publish(&envelope.AsyncData{Name: "x", Payload: "y"})
	}
	h, err := e.c.Health(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(0), h.EventsDropped, "no stream, nothing to drop")
}

func TestPublishEncodesEveryKind(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openSSE(t, e, ctx)
	l, _ := s.next()
	require.Equal(t, ": subscribed", l)
	info := &envelope.PluginInfo{Name: "p", Version: "2", Functions: nil}
	for _, item := range []*envelope.AsyncData{
		{Name: "p", Payload: envelope.Connected{Info: info}},
		{Name: "p", Payload: &envelope.Connected{Info: info}},
		{Name: "p", Payload: envelope.Disconnected{Info: info, Graceful: false}},
		{Name: "p", Payload: &envelope.Disconnected{Info: info, Graceful: true}},
		{Name: "p", Payload: nil},
		{Name: "p", Payload: map[string]any{"line": "a\nb"}},
	} {
		e.a.Publish(item)
	}
	for _, want := range []struct{ typ, data string }{
		{"connected", `{"name":"p","payload":{"name":"p","version":"2"}}`},
		{"connected", `{"name":"p","payload":{"name":"p","version":"2"}}`},
		{"disconnected", `{"name":"p","payload":{"name":"p","version":"2"},"graceful":false}`},
		{"disconnected", `{"name":"p","payload":{"name":"p","version":"2"},"graceful":true}`},
		{"async", `{"name":"p","payload":null}`},
		{"async", `{"name":"p","payload":{"line":"a\nb"}}`},
	} {
		typ, data := s.event()
		assert.Equal(t, want.typ, typ)
		assert.JSONEq(t, want.data, data)
	}
	// Publish(func) cannot be encoded: dropped with a log line, stream intact.
	e.a.Publish(&envelope.AsyncData{Name: "p", Payload: func() {}})
	e.a.Publish(&envelope.AsyncData{Name: "p", Payload: "after"})
	typ, data := s.event()
	assert.Equal(t, "async", typ)
	assert.JSONEq(t, `{"name":"p","payload":"after"}`, data)
}

func TestClientEvents(t *testing.T) {
	e := newEnv(t)
	e.forward()
	ctx, cancel := context.WithCancel(context.Background())
	events, done := e.events(ctx)
	e.attach(newCalc(), "calc", "")
	_, err := e.c.Call(ctx, "calc", "Emit", json.RawMessage(`["x"]`))
	require.NoError(t, err)
	require.NoError(t, e.c.Unplug(ctx, "calc"))

	next := func() admin.Event {
		select {
		case ev := <-events:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
			return admin.Event{}
		}
	}
	ev := next()
	assert.Equal(t, admin.EventConnected, ev.Type)
	assert.Equal(t, "calc", ev.Name)
	assert.JSONEq(t, `{"name":"calc"}`, string(ev.Payload))
	ev = next()
	assert.Equal(t, admin.Event{Type: admin.EventAsync, Name: "calc", Payload: json.RawMessage(`"x"`)}, ev)
	ev = next()
	assert.Equal(t, admin.EventDisconnected, ev.Type)
	assert.True(t, ev.Graceful)

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestClientEventsEndsWithServer(t *testing.T) {
	e := newEnv(t)
	done := make(chan error, 1)
	go func() { done <- e.c.Events(context.Background(), func(admin.Event) error { return nil }) }()
	e.waitSubscribers(1)
	e.a.Close()
	require.NoError(t, <-done)

	err := e.c.Events(context.Background(), func(admin.Event) error { return nil })
	var apiErr *admin.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusServiceUnavailable, apiErr.Status)
}

func TestClientEventsStopsOnCallbackError(t *testing.T) {
	e := newEnv(t)
	stop := assert.AnError
	done := make(chan error, 1)
	go func() { done <- e.c.Events(context.Background(), func(admin.Event) error { return stop }) }()
	e.waitSubscribers(1)
	e.a.Publish(&envelope.AsyncData{Name: "p", Payload: 1})
	require.ErrorIs(t, <-done, stop)
	e.waitSubscribers(0)
}
