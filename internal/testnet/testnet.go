// Package testnet gives tests the two ends of a real loopback TCP
// connection, closed when the test ends.
package testnet

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TCPPair returns the accepted and the dialled end of a loopback TCP
// connection. Both are closed when t ends; the listener is closed before
// TCPPair returns.
func TCPPair(t testing.TB) (accepted, dialed net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1) // the accepting goroutine never blocks
	go func() {
		c, err := ln.Accept()
		ch <- result{c, err}
	}()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { dialed.Close() })
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		accepted = r.c
	case <-time.After(10 * time.Second):
		t.Fatal("testnet: no connection accepted within 10s")
	}
	t.Cleanup(func() { accepted.Close() })
	return accepted, dialed
}
