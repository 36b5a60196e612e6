package plugin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

const wait = 10 * time.Second

type Item struct {
	Price float64 `json:"price"`
}

type Order struct {
	ID    int    `json:"id"`
	Items []Item `json:"items"`
}

// Shop is the plugin under test.
type Shop struct {
	entered chan struct{}
	release chan struct{}
}

func (s *Shop) Total(_ context.Context, o Order) (float64, error) {
	var t float64
	for _, it := range o.Items {
		t += it.Price
	}
	return t, nil
}

func (s *Shop) Hold(ctx context.Context, _ struct{}) (string, error) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
		return "released", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// servedHost answers a plugin's handshake and gives the test an
// envelope.Conn to call it with. It stands in for a socket so that these
// tests see only the plugin package.
func servedHost(t *testing.T, p *plugin.Plugin, v any) *envelope.Conn {
	t.Helper()
	hostEnd, pluginEnd := net.Pipe()
	admitted := make(chan struct{})
	host := envelope.NewConn(hostEnd, envelope.ConnOptions{Logger: quiet, Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		switch m.Method {
		case envelope.MethodHandshake:
			var hs envelope.Handshake
			require.NoError(t, envelope.DecodeParams(m, &hs))
			_ = c.ReplyFirst(m.ID, envelope.HandshakeResult{Name: hs.Name, Session: "s"}, func() { close(admitted) })
		case envelope.MethodPing:
			_ = c.Reply(m.ID, nil)
		}
	}})
	host.Start()
	p.Logger = quiet
	done := make(chan error, 1)
	go func() { done <- p.Start(v, nil, pluginEnd, nil) }()
	select {
	case <-admitted:
	case err := <-done:
		t.Fatalf("Start: %v", err)
	case <-time.After(wait):
		t.Fatal("no handshake")
	}
	t.Cleanup(func() {
		host.Close()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("Start did not return")
		}
	})
	return host
}

func TestInvalidParamsNameTheMethodAndTheField(t *testing.T) {
	host := servedHost(t, &plugin.Plugin{}, &Shop{})
	for _, tc := range []struct {
		params, want string
		v2           string // what encoding/json v2 (GOEXPERIMENT=jsonv2) says instead, if it differs
	}{
		{`{"id":"seven"}`, `invalid params for Total: field "id": expected int, got string`, ""},
		// v2 names the array element as well.
		{`{"items":[{"price":1},{"price":"x"}]}`, `invalid params for Total: field "items.price": expected float64, got string`,
			`invalid params for Total: field "items.1.price": expected float64, got string`},
		{`{"items":{"price":1}}`, `invalid params for Total: field "items": expected []struct, got object`, ""},
		{`{"id":1.5}`, `invalid params for Total: field "id": expected int, got number 1.5`, ""},
		{`"an order"`, `invalid params for Total: expected struct, got string`, ""},
	} {
		err := host.Call(context.Background(), "Total", json.RawMessage(tc.params), nil)
		var e *envelope.Error
		require.ErrorAs(t, err, &e, tc.params)
		assert.EqualValues(t, envelope.CodeInvalidParams, e.Code, tc.params)
		assert.ErrorIs(t, err, envelope.ErrInvalidParams)
		if tc.v2 != "" && e.Message == tc.v2 {
			continue
		}
		assert.Equal(t, tc.want, e.Message)
	}
	var total float64
	require.NoError(t, host.Call(context.Background(), "Total", Order{Items: []Item{{1.5}, {2}}}, &total))
	assert.Equal(t, 3.5, total, "the plugin serves on")
}

func TestMaxInFlight(t *testing.T) {
	shop := &Shop{entered: make(chan struct{}, 4), release: make(chan struct{})}
	host := servedHost(t, &plugin.Plugin{MaxInFlight: 2}, shop)
	results := make(chan error, 2)
	for range 2 {
		go func() { results <- host.Call(context.Background(), "Hold", nil, nil) }()
	}
	for range 2 {
		select {
		case <-shop.entered:
		case <-time.After(wait):
			t.Fatal("Hold did not start")
		}
	}
	err := host.Call(context.Background(), "Total", Order{}, nil)
	assert.ErrorIs(t, err, envelope.ErrOverloaded, "a third call at once is refused")
	assert.ErrorContains(t, err, "2 calls in flight")
	close(shop.release)
	for range 2 {
		require.NoError(t, <-results)
	}
	require.NoError(t, host.Call(context.Background(), "Total", Order{}, nil), "room again")
}

// silentHost accepts one connection, answers its handshake, and from then
// on neither reads nor writes: a frozen process, as the plugin sees it.
func silentHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		fr := envelope.NewFrameReader(bufio.NewReader(nc), 0)
		body, err := fr.ReadFrame()
		if err != nil {
			return
		}
		m, err := envelope.Decode(body)
		if err != nil {
			return
		}
		res, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": envelope.HandshakeResult{Name: "x", Session: "s"}})
		if _, err := nc.Write(envelope.AppendFrame(nil, res)); err != nil {
			return
		}
		// Read everything, answer nothing, until the plugin hangs up.
		_ = nc.SetReadDeadline(time.Now().Add(wait))
		_, _ = io.Copy(io.Discard, nc)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-served
	})
	return ln.Addr().String()
}

func TestHeartbeatFindsASilentHost(t *testing.T) {
	addr := silentHost(t)
	conn, err := plugin.Dial(context.Background(), "tcp", addr, nil)
	require.NoError(t, err)
	p := &plugin.Plugin{Logger: quiet, HeartbeatInterval: 20 * time.Millisecond, HeartbeatMisses: 2}
	done := make(chan error, 1)
	go func() { done <- p.Start(&Shop{}, nil, conn, nil) }()
	select {
	case err = <-done:
	case <-time.After(wait):
		t.Fatal("Start did not give up on a silent host")
	}
	assert.ErrorIs(t, err, envelope.ErrUnresponsive)
	assert.ErrorContains(t, err, "connection lost")
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}
