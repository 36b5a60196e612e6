package socket_test

import (
	"context"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Small is the benchmarks' payload: a small struct, echoed back.
type Small struct {
	A int    `json:"a"`
	S string `json:"s"`
}

// Echoer is the benchmarks' plugin.
type Echoer struct {
	hook chan any
	stop chan struct{} // closed to end a Pump
	done chan struct{} // closed when the Pump has ended
}

func (e *Echoer) UseAsyncHook(h chan any) { e.hook = h }

// Echo returns its input.
func (e *Echoer) Echo(_ context.Context, in Small) (Small, error) { return in, nil }

// Pump pushes its input through the async hook until stop is closed.
func (e *Echoer) Pump(_ context.Context, in Small) (bool, error) {
	go func() {
		defer close(e.done)
		for {
			select {
			case e.hook <- in:
			case <-e.stop:
				return
			}
		}
	}()
	return true, nil
}

func newEchoer() *Echoer { return &Echoer{stop: make(chan struct{}), done: make(chan struct{})} }

// benchHost is a Socket with plugins connected over one transport.
type benchHost struct {
	s       *socket.Socket
	network string
	addr    net.Addr
	wg      sync.WaitGroup
}

// newBenchHost starts a socket listening on network ("tcp", "unix"; for
// "pipe" plugins are attached in-process, over Attach's in-memory pipe).
func newBenchHost(b *testing.B, network string) *benchHost {
	b.Helper()
	h := &benchHost{s: new(socket.Socket), network: network}
	var (
		l   net.Listener
		err error
	)
	switch network {
	case "unix":
		l, err = net.Listen("unix", filepath.Join(b.TempDir(), "s.sock"))
	default:
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		b.Fatal(err)
	}
	h.addr = l.Addr()
	h.s.Serve(l, socket.Config{Logger: quiet})
	b.Cleanup(func() {
		if err := h.s.Shutdown(""); err != nil {
			b.Error(err)
		}
		h.wg.Wait()
	})
	return h
}

// connect plugs v in and returns the name it was given.
func (h *benchHost) connect(b *testing.B, v any, name string) string {
	b.Helper()
	if h.network == "pipe" {
		n, err := h.s.Attach(v, &envelope.PluginInfo{Name: name})
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	conn, err := net.Dial(h.addr.Network(), h.addr.String())
	if err != nil {
		b.Fatal(err)
	}
	connected := make(chan string, 1)
	failed := make(chan error, 1)
	p := &plugin.Plugin{Logger: quiet, OnConnect: func(n string) { connected <- n }}
	h.wg.Go(func() {
		if err := p.Start(v, &envelope.PluginInfo{Name: name}, conn, nil); err != nil {
			failed <- err
		}
	})
	select {
	case n := <-connected:
		return n
	case err := <-failed:
		b.Fatal(err)
	case <-time.After(10 * time.Second):
		b.Fatal("plugin did not connect in time")
	}
	return ""
}

var benchNetworks = []string{"tcp", "unix", "pipe"}

// BenchmarkCall is one sequential Call with a small struct, its result
// decoded into any, over each transport.
func BenchmarkCall(b *testing.B) {
	for _, network := range benchNetworks {
		b.Run(network, func(b *testing.B) {
			h := newBenchHost(b, network)
			name := h.connect(b, newEchoer(), "echo")
			in := Small{A: 42, S: "hello"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.s.Call("", name, "Echo", in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCallContext is one sequential call decoded into a typed result,
// without and with a caller-supplied trace id.
func BenchmarkCallContext(b *testing.B) {
	for _, network := range benchNetworks {
		b.Run(network, func(b *testing.B) {
			h := newBenchHost(b, network)
			name := h.connect(b, newEchoer(), "echo")
			in := Small{A: 42, S: "hello"}
			b.ReportAllocs()
			for b.Loop() {
				var out Small
				if err := h.s.CallContext(context.Background(), name, "Echo", in, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("tcp/trace", func(b *testing.B) {
		h := newBenchHost(b, "tcp")
		name := h.connect(b, newEchoer(), "echo")
		in := Small{A: 42, S: "hello"}
		ctx := envelope.WithTrace(context.Background(), "3d1f7c2a-95b4-4e0f-8a61-2c7d9e4b1f03")
		b.ReportAllocs()
		for b.Loop() {
			var out Small
			if err := h.s.CallContext(ctx, name, "Echo", in, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCallParallel is 64 goroutines calling one plugin over TCP at
// once; ns/op is the inverse of the throughput.
func BenchmarkCallParallel(b *testing.B) {
	h := newBenchHost(b, "tcp")
	name := h.connect(b, newEchoer(), "echo")
	in := Small{A: 42, S: "hello"}
	b.ReportAllocs()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var out Small
			if err := h.s.CallContext(context.Background(), name, "Echo", in, &out); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAsync is one item a plugin pushes through its async hook read
// from Async at the host; ns/op is the inverse of the throughput.
func BenchmarkAsync(b *testing.B) {
	h := newBenchHost(b, "tcp")
	e := newEchoer()
	name := h.connect(b, e, "echo")
	if it, err := h.s.Async(); err != nil || it.Name != name {
		b.Fatalf("first item %v, %v; want the connect event", it, err)
	}
	if _, err := h.s.Call("", name, "Pump", Small{A: 42, S: "hello"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.s.Async(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(e.stop)
	<-e.done
	// The host keeps reading while it shuts down: a full queue would
	// otherwise hold the plugin's items, and with them its goodbye, for
	// the async wait each.
	shut := make(chan error, 1)
	go func() { shut <- h.s.Shutdown("") }()
	for {
		if _, err := h.s.Async(); err != nil {
			break
		}
	}
	if err := <-shut; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHandshake is one plugin dialling in over TCP and being
// admitted: dial, handshake with one function described, until the plugin
// knows its name. Unplugging it is not timed.
func BenchmarkHandshake(b *testing.B) {
	h := newBenchHost(b, "tcp")
	b.ReportAllocs()
	for b.Loop() {
		conn, err := net.Dial("tcp", h.addr.String())
		if err != nil {
			b.Fatal(err)
		}
		connected := make(chan string, 1)
		ended := make(chan error, 1)
		p := &plugin.Plugin{Logger: quiet, OnConnect: func(n string) { connected <- n }}
		go func() { ended <- p.Start(new(Echoer), &envelope.PluginInfo{Name: "echo"}, conn, nil) }()
		var name string
		select {
		case name = <-connected:
		case err := <-ended:
			b.Fatal(err)
		}
		b.StopTimer()
		h.s.Unplug("", name)
		if err := <-ended; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
