package plugin_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testnet"
	"github.com/plugsock/plugsock/plugin"
)

// pipePair and tcpPair give the two ends of a connection: net.Pipe has no
// buffering at all, so every write waits for the reader, while loopback
// TCP is what a real host and plugin use.
func pipePair(testing.TB) (pluginEnd, hostEnd net.Conn) { return net.Pipe() }

func tcpPair(t testing.TB) (pluginEnd, hostEnd net.Conn) {
	hostEnd, pluginEnd = testnet.TCPPair(t)
	return pluginEnd, hostEnd
}

// bareHost answers the handshake and nothing else, with none of the fake
// host's recording, so that benchmarks measure the plugin.
func bareHost(c *envelope.Conn, m *envelope.Envelope) {
	if m.Method == envelope.MethodHandshake {
		_ = c.Reply(m.ID, envelope.HandshakeResult{Name: "calc", Session: "bench"})
	}
}

type connPair func(testing.TB) (pluginEnd, hostEnd net.Conn)

// serveBare connects a calc plugin to a bare host over a new pair of ends
// and returns the host's Conn; cleanup closes the plugin and waits for
// both.
func serveBare(t testing.TB, ends connPair) *envelope.Conn {
	t.Helper()
	pluginEnd, hostEnd := ends(t)
	host := envelope.NewConn(hostEnd, envelope.ConnOptions{Handler: bareHost, Logger: quiet})
	host.Start()
	connected := make(chan struct{})
	p := &plugin.Plugin{Logger: quiet, OnConnect: func(string) { close(connected) }}
	stopped := make(chan error, 1)
	go func() { stopped <- p.Start(newCalc(), nil, pluginEnd, nil) }()
	recv(t, connected, "OnConnect")
	t.Cleanup(func() {
		assert.NoError(t, p.Close())
		assert.NoError(t, recv(t, stopped, "Start to return"))
		_ = host.Close()
		recv(t, host.Done(), "host connection to end")
	})
	return host
}

func TestOverTCP(t *testing.T) {
	host := serveBare(t, tcpPair)
	var out total
	require.NoError(t, host.Call(t.Context(), "Add", pair{A: 20, B: 22}, &out))
	assert.Equal(t, 42, out.Sum)
}

// BenchmarkDispatch measures one call's round trip: the host encodes and
// writes it, the plugin decodes it, runs the method and answers.
func BenchmarkDispatch(b *testing.B) {
	for _, tr := range []struct {
		name string
		ends connPair
	}{{"pipe", pipePair}, {"tcp", tcpPair}} {
		b.Run(tr.name, func(b *testing.B) {
			host := serveBare(b, tr.ends)
			ctx := context.Background()
			in := pair{A: 1, B: 2}
			var out total
			b.ReportAllocs()
			for b.Loop() {
				if err := host.Call(ctx, "Add", in, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
