package envelope

import (
	"log/slog"
	"net"
	"testing"

	"github.com/plugsock/plugsock/internal/testnet"
)

var noLog = slog.New(slog.DiscardHandler)

// loopback returns both ends of a loopback TCP connection, closed when
// the test ends.
func loopback(t *testing.T) (ours, theirs net.Conn) { return testnet.TCPPair(t) }
