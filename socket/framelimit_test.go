package socket_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Payloads echoes bytes and makes answers of any size.
type Payloads struct{}

func (Payloads) Echo(_ context.Context, b []byte) ([]byte, error) { return b, nil }

func (Payloads) Big(_ context.Context, n int) (string, error) { return strings.Repeat("b", n), nil }

// plugLimited connects v as a plugin whose frame limit is maxFrame.
func (h *host) plugLimited(v any, name string, maxFrame int) *plugin.Plugin {
	h.t.Helper()
	conn, err := net.Dial(h.addr.Network(), h.addr.String())
	require.NoError(h.t, err)
	connected := make(chan string, 1)
	startErr := make(chan error, 1)
	p := &plugin.Plugin{Logger: quiet, MaxFrameSize: maxFrame, OnConnect: func(n string) { connected <- n }}
	h.wg.Go(func() { startErr <- p.Start(v, &envelope.PluginInfo{Name: name, Version: "1.0.0"}, conn, nil) })
	select {
	case got := <-connected:
		require.Equal(h.t, name, got)
	case err := <-startErr:
		h.t.Fatalf("plugin %q did not connect: %v", name, err)
	case <-time.After(10 * time.Second):
		h.t.Fatalf("plugin %q did not connect in time", name)
	}
	return p
}

// TestPayloadOverTheLimitFailsOneCall: whichever side's limit a payload
// is over, and whether it is a request or an answer, that one call fails
// with an error naming the limit, and the next call on the same
// connection succeeds.
func TestPayloadOverTheLimitFailsOneCall(t *testing.T) {
	const small = 64 << 10
	tests := []struct {
		name             string
		hostMax, plugMax int
		method           string
		payload          any
		limit            int    // the limit the error names
		says             string // and what it says went over
	}{
		{"request over the shared limit", 0, 0, "Echo", make([]byte, 4<<20), envelope.DefaultMaxFrameSize, `request "Echo" of`},
		{"request over the plugin's limit", 0, small, "Echo", make([]byte, 2*small), small, `request "Echo" of`},
		{"result over the shared limit", 0, 0, "Big", 5 << 20, envelope.DefaultMaxFrameSize, "result of"},
		{"result over the host's limit", small, 0, "Big", 2 * small, small, "response of"},
	}
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					h := newHost(t, network, socket.Config{MaxFrameSize: tt.hostMax})
					cbs := h.callbacks()
					p := h.plugLimited(Payloads{}, "payloads", tt.plugMax)
					ctx := context.Background()

					err := h.s.CallContext(ctx, "payloads", tt.method, tt.payload, nil)
					require.Error(t, err)
					require.ErrorIs(t, err, envelope.ErrFrameTooLarge)
					assert.Contains(t, err.Error(), fmt.Sprintf("exceeds the limit of %d bytes", tt.limit))
					assert.Contains(t, err.Error(), tt.says)

					var out []byte
					want := []byte("the next call")
					require.NoError(t, h.s.CallContext(ctx, "payloads", "Echo", want, &out), "the next call on the same connection")
					assert.Equal(t, want, out)
					assert.NotNil(t, h.s.PluginInfo("payloads"), "still connected")
					select {
					case cb := <-cbs.ch:
						t.Fatalf("the plugin was disconnected: %s", cb)
					default:
					}
					require.NoError(t, p.Close())
					assert.Equal(t, "payloads graceful=true", recv(t, cbs.ch, "the callback"))
				})
			}
		})
	}
}

// rawDialNet is rawDial on any network.
func rawDialNet(t *testing.T, addr net.Addr) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout(addr.Network(), addr.String(), rawWait)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{nc: nc, br: bufio.NewReader(nc)}
}

// TestForeignPluginOversizedRequest: a plugin written by hand sends the
// host a request over its limit with "id" last, as many JSON libraries
// write it; the host answers that request with an error naming the
// limit, and goes on serving the connection.
func TestForeignPluginOversizedRequest(t *testing.T) {
	const limit = 64 << 10
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			h := newHost(t, network, socket.Config{MaxFrameSize: limit, HeartbeatInterval: -1})
			c := rawDialNet(t, h.addr)
			require.Nil(t, c.handshake(t, `1`, "foreign").Error)
			require.True(t, h.s.WaitFor("foreign", rawWait))

			body := `{"jsonrpc":"2.0","method":"$/ping","params":{"id":7,"pad":"` + strings.Repeat("p", 2*limit) + `","nested":[{"id":8}]},"id":"last"}`
			require.NoError(t, c.writeFrame([]byte(body)))
			m := c.mustRead(t)
			assert.JSONEq(t, `"last"`, string(m.ID))
			require.NotNil(t, m.Error)
			assert.EqualValues(t, envelope.CodeFrameTooLarge, m.Error.Code)
			assert.Contains(t, m.Error.Message, fmt.Sprintf("request \"$/ping\" of %d bytes exceeds the limit of %d bytes", len(body), limit))

			require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":"after","method":"$/ping"}`)))
			m = c.mustRead(t)
			assert.JSONEq(t, `"after"`, string(m.ID))
			assert.Nil(t, m.Error, "the connection lives on")
			assert.NotNil(t, h.s.PluginInfo("foreign"))
		})
	}
}

// TestPayload64MiB: with the limit raised on both sides, a 64 MiB []byte
// goes to the plugin and back (base64 makes it 85 MiB on the wire, each
// way), over loopback TCP and a unix socket.
func TestPayload64MiB(t *testing.T) {
	if testing.Short() || raceEnabled {
		// About 4 s in a plain run, 200 s and more under -race.
		t.Skip("moves 340 MiB through JSON: not under -short or -race")
	}
	const limit = 128 << 20
	payload := make([]byte, 64<<20)
	for i := range payload {
		payload[i] = byte(i*7 + i>>13)
	}
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			h := newHost(t, network, socket.Config{MaxFrameSize: limit})
			p := h.plugLimited(Payloads{}, "payloads", limit)
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var out []byte
			require.NoError(t, h.s.CallContext(ctx, "payloads", "Echo", payload, &out))
			runtime.ReadMemStats(&after)
			require.Len(t, out, len(payload))
			assert.True(t, bytes.Equal(payload, out), "the echo differs")
			perByte := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(payload))
			t.Logf("allocated %.1f bytes per payload byte, host and plugin together; heap in use after: %d MiB",
				perByte, after.HeapInuse>>20)
			// Today about a dozen copies: base64, the JSON text, the
			// frame each way. Twice that means buffers gone wrong.
			assert.Less(t, perByte, 24.0, "bytes allocated per payload byte")
		})
	}
}
