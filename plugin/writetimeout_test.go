package plugin_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Bulky answers with as many bytes as it is asked for.
type Bulky struct{}

func (Bulky) Big(_ context.Context, n int) (string, error) { return strings.Repeat("x", n), nil }

// A host that stops reading must not hold the plugin's writers, and with
// them every method's answer, for good: past the write timeout the plugin
// gives up on it, as the host does on a plugin (socket.Config.WriteTimeout),
// and Start returns an error that says so.
func TestWriteTimeoutCutsOffAHostThatStopsReading(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	pc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	hc, err := l.Accept()
	require.NoError(t, err)
	// Small buffers, so that a few answers fill them rather than the
	// megabytes loopback TCP would otherwise take in unread.
	require.NoError(t, pc.(*net.TCPConn).SetWriteBuffer(16<<10))
	require.NoError(t, hc.(*net.TCPConn).SetReadBuffer(16<<10))

	// The host answers the handshake, then its read loop stays in the
	// handler: it reads nothing more.
	stuck := make(chan struct{})
	host := envelope.NewConn(hc, envelope.ConnOptions{Logger: quiet, Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		if m.Method == envelope.MethodHandshake {
			_ = c.Reply(m.ID, envelope.HandshakeResult{Name: "bulky", Session: "s"})
		}
		<-stuck
	}})
	host.Start()
	defer func() {
		close(stuck)
		host.Close()
		<-host.Done()
		host.Wait()
	}()

	const timeout = 200 * time.Millisecond
	connected := make(chan string, 1)
	p := &plugin.Plugin{Logger: quiet, WriteTimeout: timeout, HeartbeatInterval: -1,
		OnConnect: func(name string) { connected <- name }}
	startErr := make(chan error, 1)
	go func() { startErr <- p.Start(Bulky{}, nil, pc, nil) }()
	assert.Equal(t, "bulky", recv(t, connected, "the handshake"))

	// The answer, just under 4 MiB (the frame limit; over it the answer
	// would be refused unwritten), cannot fit in what the host leaves
	// unread.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	called := make(chan error, 1)
	go func() { called <- host.Call(ctx, "Big", 4<<20-1<<10, nil) }()

	begun := time.Now()
	err = recv(t, startErr, "Start to give up on the host")
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "the write timed out")
	assert.Contains(t, err.Error(), "write")
	assert.GreaterOrEqual(t, time.Since(begun), timeout, "not before the write timeout")
	cancel()
	recv(t, called, "the host's call to end")
}
