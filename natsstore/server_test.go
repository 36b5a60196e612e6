package natsstore

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/eventlog"
)

// testServer is a real nats-server with JetStream, embedded in the test
// process, listening on a free loopback port and keeping its streams in
// dir (file storage), so that another server started on dir finds them.
type testServer struct {
	*server.Server
	dir string
}

// serverConfig changes what runServer starts.
type serverConfig struct {
	maxPayload int32 // 0: nats-server's default, 1 MiB
	noJS       bool
}

// bigPayload lets an event of eventlog.DefaultMaxEventSize through, with
// room for its encoding and headers: the setting the package
// documentation tells users to give their servers.
const bigPayload = 2 << 20

func runServer(t testing.TB, dir string, sc serverConfig) *testServer {
	t.Helper()
	opts := &server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  !sc.noJS,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: sc.maxPayload,
	}
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server did not start")
	}
	ts := &testServer{Server: s, dir: dir}
	t.Cleanup(ts.stop)
	return ts
}

// stop shuts the server down and waits until it is gone; a second call
// does nothing.
func (ts *testServer) stop() {
	ts.Shutdown()
	ts.WaitForShutdown()
}

// connect returns a client connection to ts, closed when t ends. It does
// not reconnect: a test that stops the server wants to hear about it.
func (ts *testServer) connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ts.ClientURL(), append([]nats.Option{nats.NoReconnect()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

var prefixes atomic.Int64

// newPrefix returns a prefix no other store of the test process has, so
// that stores sharing a server start empty.
func newPrefix() string {
	return fmt.Sprintf("t%d", prefixes.Add(1))
}

// open opens a store on nc and closes it when t ends.
func openStore(t testing.TB, nc *nats.Conn, c Config) eventlog.Store {
	t.Helper()
	s, err := Open(nc, c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}
