package socket

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// writeless is a connection whose writes all fail: the host's answer to
// the handshake never reaches the plugin.
type writeless struct{ net.Conn }

func (writeless) Write([]byte) (int, error) { return 0, errors.New("the peer went away") }

// oneConn is a listener that hands out one connection.
type oneConn struct {
	c    chan net.Conn
	done chan struct{}
}

func (l *oneConn) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *oneConn) Close() error   { close(l.done); return nil }
func (l *oneConn) Addr() net.Addr { return pipeAddrOf{} }

type pipeAddrOf struct{}

func (pipeAddrOf) Network() string { return "pipe" }
func (pipeAddrOf) String() string  { return "pipe" }

// A plugin whose handshake answer could not be written was never
// admitted: it is not reported as disconnected, no callback runs for it,
// and the data it sent behind its handshake is not passed on without a
// Connected event before it.
func TestHandshakeAnswerLost(t *testing.T) {
	hostEnd, pluginEnd := net.Pipe()
	l := &oneConn{c: make(chan net.Conn, 1), done: make(chan struct{})}
	l.c <- writeless{hostEnd}
	var s Socket
	called := make(chan string, 1)
	s.RegisterCallback(func(info *envelope.PluginInfo, _ bool) { called <- info.Name })
	s.Serve(l, Config{Logger: slog.New(slog.DiscardHandler)})
	defer s.Shutdown("")

	frames := envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"lost"}}`))
	frames = envelope.AppendFrame(frames, []byte(`{"jsonrpc":"2.0","method":"$/async","params":{"n":1}}`))
	_, err := pluginEnd.Write(frames)
	require.NoError(t, err)
	// The host closes its end once it has given up on the connection.
	require.NoError(t, pluginEnd.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.Copy(io.Discard, pluginEnd)
	require.NoError(t, err, "the host closed the connection")
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 0
	}, 10*time.Second, time.Millisecond, "the host is done with the connection")

	assert.Nil(t, s.PluginInfo("lost"))
	st := s.Stats()
	assert.Zero(t, st.AsyncQueued, "neither Disconnected nor data without a Connected event")
	select {
	case name := <-called:
		t.Fatalf("a disconnect callback ran for %q, which was never connected", name)
	case <-time.After(100 * time.Millisecond): // observing that nothing happens
	}
}
