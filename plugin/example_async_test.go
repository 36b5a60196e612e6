package plugin_test

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Counter tells the host each time it is bumped, besides answering the
// call.
type Counter struct {
	mu   sync.Mutex
	n    int
	hook chan any
}

// UseAsyncHook is called once, before the handshake, with the channel that
// leads to the host.
func (c *Counter) UseAsyncHook(hook chan any) { c.hook = hook }

func (c *Counter) Bump(ctx context.Context, by int) (int, error) {
	c.mu.Lock()
	c.n += by
	n := c.n
	c.mu.Unlock()
	// The hook blocks when the connection falls behind; a call should not
	// outlive its context waiting for it.
	select {
	case c.hook <- map[string]int{"count": n}:
	case <-ctx.Done():
	}
	return n, nil
}

func Example_asyncHook() {
	// A stand-in for the host, which would hand $/async items to
	// Socket.Async.
	conn, hostEnd := net.Pipe()
	async := make(chan string, 8)
	host := envelope.NewConn(hostEnd, envelope.ConnOptions{Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		switch m.Method {
		case envelope.MethodHandshake:
			_ = c.Reply(m.ID, envelope.HandshakeResult{Name: "counter"})
		case envelope.MethodAsync:
			async <- string(m.Params)
		}
	}})
	host.Start()
	defer host.Close()

	var p plugin.Plugin
	stopped := make(chan error)
	go func() { stopped <- p.Start(&Counter{}, nil, conn, nil) }()

	for _, by := range []int{2, 3} {
		var n int
		_ = host.Call(context.Background(), "Bump", by, &n)
		fmt.Println("Bump", by, "->", n)
	}
	fmt.Println("async:", <-async)
	fmt.Println("async:", <-async)

	_ = p.Close()
	fmt.Println(<-stopped)
	// Output:
	// Bump 2 -> 2
	// Bump 3 -> 5
	// async: {"count":2}
	// async: {"count":5}
	// <nil>
}
