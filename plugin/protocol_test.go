package plugin_test

// A Go plugin against hosts written by hand, frame by frame: one that
// speaks protocol 1, knowing nothing of "protocol", and one that answers a
// protocol the plugin never offered. host_test.go has a protocol 2 host.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// frameHost plays a host by hand: it writes the frames it is given and
// reads the plugin's exactly as the plugin wrote them.
type frameHost struct {
	t     *testing.T
	nc    net.Conn
	fr    *envelope.FrameReader
	p     *plugin.Plugin
	hosts chan *plugin.Host // what Host returned in OnConnect
	done  chan error        // what Start returned
	hello string            // the plugin's handshake request
}

// ends are the connections the plugin tests run over.
var ends = map[string]connPair{"pipe": pipePair, "tcp": tcpPair}

// startFrameHost starts v against a host played by hand and reads the
// plugin's handshake request, which the test then answers (connect).
// tune, when given, changes the Plugin's settings before it starts.
func startFrameHost(t *testing.T, pair connPair, v any, tune ...func(*plugin.Plugin)) *frameHost {
	t.Helper()
	pluginEnd, hostEnd := pair(t)
	h := &frameHost{
		t:     t,
		nc:    hostEnd,
		fr:    envelope.NewFrameReader(hostEnd, 0),
		hosts: make(chan *plugin.Host, 1),
		done:  make(chan error, 1),
	}
	// Nothing on the wire but what the test expects.
	h.p = &plugin.Plugin{Logger: quiet, HeartbeatInterval: -1}
	h.p.OnConnect = func(string) { h.hosts <- h.p.Host() }
	for _, f := range tune {
		f(h.p)
	}
	go func() { h.done <- h.p.Start(v, &envelope.PluginInfo{Name: "prober", Version: "1.0.0"}, pluginEnd, nil) }()
	t.Cleanup(func() {
		_ = hostEnd.Close()
		recv(t, h.done, "Start to return")
	})
	h.hello = h.next()
	return h
}

// send writes one frame.
func (h *frameHost) send(body string) {
	h.t.Helper()
	require.NoError(h.t, h.nc.SetWriteDeadline(time.Now().Add(patience)))
	_, err := h.nc.Write(envelope.AppendFrame(nil, []byte(body)))
	require.NoError(h.t, err)
}

// next returns the body of the plugin's next frame.
func (h *frameHost) next() string {
	h.t.Helper()
	require.NoError(h.t, h.nc.SetReadDeadline(time.Now().Add(patience)))
	body, err := h.fr.ReadFrame()
	require.NoError(h.t, err)
	return string(body)
}

// connect answers the handshake with result and returns the plugin's Host
// as OnConnect saw it.
func (h *frameHost) connect(result string) *plugin.Host {
	h.t.Helper()
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	require.NoError(h.t, json.Unmarshal([]byte(h.hello), &m))
	h.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":` + result + `}`)
	return recv(h.t, h.hosts, "OnConnect")
}

// exchange sends a request and checks that the plugin's next frame is want.
func (h *frameHost) exchange(request, want string) {
	h.t.Helper()
	h.send(request)
	assert.Equal(h.t, want, h.next(), "the answer to %s", request)
}

// Looked is what Prober.Look saw of its context.
type Looked struct {
	Trace    string    `json:"trace"`
	Host     int       `json:"host"` // HostFrom(ctx).Protocol(): 0 for no Host
	Deadline time.Time `json:"deadline"`
	Has      bool      `json:"has"`
	Progress bool      `json:"progress"`
}

// Prober is the plugin of these tests.
type Prober struct {
	hook chan any
}

func (p *Prober) UseAsyncHook(h chan any) { p.hook = h }

func (p *Prober) Echo(_ context.Context, s string) (string, error) { return s, nil }

func (p *Prober) Add(_ context.Context, in pair) (int, error) { return in.A + in.B, nil }

func (p *Prober) Look(ctx context.Context, _ struct{}) (Looked, error) {
	l := Looked{Trace: envelope.TraceFrom(ctx), Host: plugin.HostFrom(ctx).Protocol(), Progress: envelope.ProgressRequested(ctx)}
	l.Deadline, l.Has = ctx.Deadline()
	return l, nil
}

// Count reports n steps of progress, then answers n.
func (p *Prober) Count(ctx context.Context, n int) (int, error) {
	for i := 1; i <= n; i++ {
		plugin.Progress(ctx, float64(i), float64(n), fmt.Sprintf("step %d of %d", i, n))
	}
	return n, nil
}

// Ask calls the host's service Svc.Sum from inside a method, with the
// method's context.
func (p *Prober) Ask(ctx context.Context, in pair) (int, error) {
	h := plugin.HostFrom(ctx)
	if h == nil {
		return 0, errors.New("no host in the method's context")
	}
	var n int
	err := h.Call(ctx, "Svc.Sum", in, &n)
	return n, err
}

// TestProtocol1Host: a host that answers the handshake without "protocol"
// speaks 1, and the plugin speaks 1 to it: params as they are, top-level
// meta, async items bare, and no calls to the host.
func TestProtocol1Host(t *testing.T) {
	for name, over := range ends {
		t.Run(name, func(t *testing.T) {
			v := &Prober{}
			h := startFrameHost(t, over, v)
			assert.Contains(t, h.hello, `,"protocol":2}}`, "the plugin offers protocol 2")
			host := h.connect(`{"name":"prober","session":"s-1"}`)
			require.NotNil(t, host, "Host in OnConnect")
			assert.Equal(t, envelope.Protocol1, host.Protocol())
			assert.Equal(t, host, h.p.Host())
			assert.Empty(t, host.Services())

			err := host.Call(context.Background(), "Svc.Sum", pair{A: 1}, nil)
			assert.ErrorIs(t, err, envelope.ErrMethodNotFound)
			assert.ErrorContains(t, err, "protocol 1")
			err = host.CallPlugin(context.Background(), "calc", "Add", pair{A: 1}, nil)
			assert.ErrorIs(t, err, envelope.ErrMethodNotFound)

			h.exchange(`{"jsonrpc":"2.0","id":1,"method":"Echo","params":"hi","meta":{"trace":"t-1"}}`,
				`{"jsonrpc":"2.0","id":1,"result":"hi"}`)
			h.exchange(`{"jsonrpc":"2.0","id":2,"method":"Add","params":{"a":1,"b":2}}`,
				`{"jsonrpc":"2.0","id":2,"result":3}`)
			h.exchange(`{"jsonrpc":"2.0","id":3,"method":"Look","meta":{"trace":"t-3"}}`,
				`{"jsonrpc":"2.0","id":3,"result":{"trace":"t-3","host":0,"deadline":"0001-01-01T00:00:00Z","has":false,"progress":false}}`)
			// _meta is nothing special in protocol 1: Add ignores the
			// member, Echo cannot take an object.
			h.exchange(`{"jsonrpc":"2.0","id":4,"method":"Add","params":{"a":1,"b":2,"_meta":{"deadline":"tomorrow"}}}`,
				`{"jsonrpc":"2.0","id":4,"result":3}`)
			h.exchange(`{"jsonrpc":"2.0","id":5,"method":"Echo","params":{"value":"hi"}}`,
				`{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"invalid params for Echo: expected string, got object"}}`)
			// A method that reports progress sends none: protocol 1 has no
			// tokens. The answer is the next frame.
			h.exchange(`{"jsonrpc":"2.0","id":6,"method":"Count","params":3}`,
				`{"jsonrpc":"2.0","id":6,"result":3}`)
			h.exchange(`{"jsonrpc":"2.0","id":7,"method":"Ask","params":{"a":1,"b":2}}`,
				`{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"no host in the method's context"}}`)

			v.hook <- "x"
			assert.Equal(t, `{"jsonrpc":"2.0","method":"$/async","params":"x"}`, h.next(), "an async item, bare")
			v.hook <- map[string]int{"n": 1}
			assert.Equal(t, `{"jsonrpc":"2.0","method":"$/async","params":{"n":1}}`, h.next())

			h.exchange(`{"jsonrpc":"2.0","id":9,"method":"$/shutdown","meta":{"trace":"t-9"}}`,
				`{"jsonrpc":"2.0","id":9,"result":null}`)
			require.NoError(t, recv(t, h.done, "Start to return"))
			h.done <- nil // for the cleanup
			assert.Nil(t, h.p.Host(), "no Host once Start has returned")
		})
	}
}

// TestProtocol1ByName: a host that names protocol 1 outright is spoken to
// in protocol 1 as well.
func TestProtocol1ByName(t *testing.T) {
	h := startFrameHost(t, pipePair, &Prober{})
	host := h.connect(`{"name":"prober","session":"s-1","protocol":1}`)
	assert.Equal(t, envelope.Protocol1, host.Protocol())
	h.exchange(`{"jsonrpc":"2.0","id":1,"method":"Echo","params":"hi"}`, `{"jsonrpc":"2.0","id":1,"result":"hi"}`)
}

// TestProtocolAboveTheOffer: a host that answers a protocol above the one
// offered breaks the protocol, and Start says so.
func TestProtocolAboveTheOffer(t *testing.T) {
	for name, over := range ends {
		t.Run(name, func(t *testing.T) {
			h := startFrameHost(t, over, &Prober{})
			h.send(`{"jsonrpc":"2.0","id":1,"result":{"name":"prober","session":"s-1","protocol":3}}`)
			err := recv(t, h.done, "Start to return")
			h.done <- nil // for the cleanup
			require.ErrorIs(t, err, envelope.ErrProtocol)
			assert.ErrorContains(t, err, "protocol 3")
			select {
			case <-h.hosts:
				t.Error("OnConnect ran for a host that broke the protocol")
			default:
			}
			assert.Nil(t, h.p.Host())
		})
	}
}
