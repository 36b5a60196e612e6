package socket_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/rpc"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/socket"
)

// TestBroadcastPayloadShapes: the payload Broadcast encodes once reaches
// each plugin as that plugin's description asks, an object by name and
// anything else as {"value": ...}, with validation on and off; one that
// does not encode fails every plugin's call, naming why.
func TestBroadcastPayloadShapes(t *testing.T) {
	for _, validate := range []bool{false, true} {
		t.Run(fmt.Sprint("validation=", validate), func(t *testing.T) {
			h := newHost(t, "tcp", socket.Config{Validation: validate})
			h.plug(newCalc(), "a")
			h.plug(newCalc(), "b")

			results, errs := h.s.Broadcast("", "Add", testplugins.Args{A: 1, B: 2})
			require.Empty(t, errs)
			assert.Equal(t, map[string]any{"a": float64(3), "b": float64(3)}, results, "an object")

			results, errs = h.s.Broadcast("", "Echo", "<b>&</b>")
			require.Empty(t, errs)
			assert.Equal(t, map[string]any{"a": "<b>&</b>", "b": "<b>&</b>"}, results, "a string, in {\"value\": ...}")

			results, errs = h.s.Broadcast("", "Add", json.RawMessage(` {"a": 2, "b": 5} `))
			require.Empty(t, errs)
			assert.Equal(t, map[string]any{"a": float64(7), "b": float64(7)}, results, "raw JSON")

			results, errs = h.s.Broadcast("", "Add", make(chan int))
			assert.Empty(t, results)
			require.Len(t, errs, 2)
			for name, err := range errs {
				var ute *json.UnsupportedTypeError
				assert.ErrorAs(t, err, &ute, name)
			}

			results, errs = h.s.Broadcast("", "Add", json.RawMessage(`{"a":`))
			assert.Empty(t, results)
			assert.Len(t, errs, 2, "malformed raw JSON reaches no plugin")
		})
	}
}

// broadcastSizes are the plugin counts the broadcast benchmarks run at;
// the growth exponent is fitted between 100 and 1000.
var broadcastSizes = []int{10, 100, 300, 1000}

// BenchmarkBroadcast is one Broadcast of a small struct to n plugins in
// this process over loopback TCP, and, for the ratio, the same echo to n
// net/rpc gob servers called from a goroutine per server.
func BenchmarkBroadcast(b *testing.B) {
	in := Small{A: 42, S: "hello"}
	for _, n := range broadcastSizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			h := newBenchHost(b, "tcp")
			for i := range n {
				h.connect(b, newEchoer(), fmt.Sprintf("echo-%d", i))
			}
			// Warm: what a first call on a connection costs is not timed.
			if res, errs := h.s.Broadcast("", "Echo", in); len(errs) > 0 || len(res) != n {
				b.Fatalf("%d results, errors %v", len(res), errs)
			}
			b.ReportAllocs()
			for b.Loop() {
				res, errs := h.s.Broadcast("", "Echo", in)
				if len(errs) > 0 || len(res) != n {
					b.Fatalf("%d results, errors %v", len(res), errs)
				}
			}
		})
		b.Run(fmt.Sprintf("gob/N=%d", n), func(b *testing.B) {
			clients := gobServers(b, n)
			b.ReportAllocs()
			for b.Loop() {
				var (
					wg     sync.WaitGroup
					mu     sync.Mutex
					failed error
				)
				results := make(map[int]Small, n)
				for i, c := range clients {
					wg.Go(func() {
						var out Small
						err := c.Call("GobEcho.Small", in, &out)
						mu.Lock()
						if err != nil {
							failed = err
						} else {
							results[i] = out
						}
						mu.Unlock()
					})
				}
				wg.Wait()
				if failed != nil || len(results) != n {
					b.Fatalf("%d results, error %v", len(results), failed)
				}
			}
		})
	}
}

// gobServers starts n net/rpc servers of GobEcho (echo_bench_test.go) on loopback TCP, each on its own
// connection as a plugin is, and returns a client of each.
func gobServers(b *testing.B, n int) []*rpc.Client {
	b.Helper()
	srv := rpc.NewServer()
	if err := srv.Register(GobEcho{}); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var served sync.WaitGroup
	served.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			served.Go(func() { srv.ServeConn(conn) })
		}
	})
	clients := make([]*rpc.Client, 0, n)
	b.Cleanup(func() {
		_ = l.Close()
		for _, c := range clients {
			_ = c.Close()
		}
		served.Wait()
	})
	for range n {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c := rpc.NewClient(conn)
		clients = append(clients, c)
		// Warm: gob sends its type descriptions with a connection's first
		// call, which is not what the benchmark measures.
		var out Small
		if err := c.Call("GobEcho.Small", Small{}, &out); err != nil {
			b.Fatal(err)
		}
	}
	return clients
}
