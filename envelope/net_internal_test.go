package envelope

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var noLog = slog.New(slog.DiscardHandler)

// loopback returns both ends of a loopback TCP connection, closed when
// the test ends.
func loopback(t *testing.T) (ours, theirs net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	theirs, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	select {
	case ours = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
	t.Cleanup(func() { ours.Close(); theirs.Close() })
	return ours, theirs
}
