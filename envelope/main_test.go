package envelope_test

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testnet"
)

// TestMain fails the run if any test leaves a goroutine behind: every read
// loop must end with its connection, whatever way it ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait in these tests. It is generous because -race
// on a loaded machine is slow; a passing run never comes near it.
const waitLimit = 10 * time.Second

// quiet keeps the expected protocol-violation warnings out of test output.
var quiet = slog.New(slog.DiscardHandler)

// transport makes a connected pair of stream ends. Both kinds matter:
// net.Pipe is synchronous (every Write waits for a Read), which exposes
// ordering and blocking bugs; TCP adds kernel buffering and real sockets.
type transport struct {
	name string
	pair func(t testing.TB) (net.Conn, net.Conn)
}

var transports = []transport{
	{"pipe", pipePair},
	{"tcp", tcpPair},
}

func pipePair(t testing.TB) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func tcpPair(t testing.TB) (net.Conn, net.Conn) { return testnet.TCPPair(t) }

// forEachTransport runs fn once per transport as a subtest.
func forEachTransport(t *testing.T, fn func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { fn(t, tr) })
	}
}

// startPair starts a server and a client Conn over tr and closes both when
// the test ends, waiting for their read loops so goleak stays quiet.
func startPair(t testing.TB, tr transport, srvOpts, cliOpts envelope.ConnOptions) (srv, cli *envelope.Conn) {
	a, b := tr.pair(t)
	if srvOpts.Logger == nil {
		srvOpts.Logger = quiet
	}
	if cliOpts.Logger == nil {
		cliOpts.Logger = quiet
	}
	srv = envelope.NewConn(a, srvOpts)
	cli = envelope.NewConn(b, cliOpts)
	srv.Start()
	cli.Start()
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
		waitDone(t, cli)
		waitDone(t, srv)
	})
	return srv, cli
}

// startConn starts one Conn over rwc and closes it when the test ends.
func startConn(t testing.TB, rwc net.Conn, opts envelope.ConnOptions) *envelope.Conn {
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	c := envelope.NewConn(rwc, opts)
	c.Start()
	t.Cleanup(func() {
		c.Close()
		waitDone(t, c)
	})
	return c
}

func waitDone(t testing.TB, c *envelope.Conn) {
	t.Helper()
	waited := make(chan struct{})
	go func() { c.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(waitLimit):
		t.Fatalf("connection and its goroutines did not end within %v", waitLimit)
	}
}

// recv waits for one value on ch or fails the test.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("nothing arrived within %v", waitLimit)
		var zero T
		return zero
	}
}

// newWorkers tracks goroutines that handlers start. Call it before
// startPair: cleanups run last-first, so the wait comes after the Conns are
// closed, which is what unblocks a worker stuck in a write.
func newWorkers(t testing.TB) *sync.WaitGroup {
	wg := new(sync.WaitGroup)
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		recv(t, done)
	})
	return wg
}
