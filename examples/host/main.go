// Command host is an application that embeds a plugsock Socket. It
// listens for plugins, offers them a host service (Clock, which kv asks for
// the time), calls each of the example plugins (calc and kv) when it
// connects, prints whatever the plugins send asynchronously, and on Ctrl-C
// unplugs them all and exits.
//
//	go run ./examples/host            # listens on 127.0.0.1:7700
//	go run ./examples/calc            # in another terminal
//	go run ./examples/kv              # and another
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:7700", "`address` to listen on: host:port, or unix:/path")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string) error {
	network, address := "tcp", addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", path
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return err
	}
	if network == "tcp" {
		addr = l.Addr().String() // the real port, when asked for port 0
	}

	var s socket.Socket
	// Registered before Serve, so that every plugin finds it in its
	// handshake's answer.
	if err := s.Register(new(Clock)); err != nil {
		return err
	}
	// The socket logs through slog; keep this program's output to what
	// it prints itself, plus warnings.
	s.Serve(l, socket.Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	fmt.Printf("host: listening on %s\n", addr)
	fmt.Printf("host: start plugins with PLUGSOCK_ADDR=%s, e.g. go run ./examples/calc\n", addr)

	// Async is read by one goroutine, this one, for the life of the
	// socket. Calls to a plugin that has just connected run on goroutines
	// of their own, so that reading never waits for a call: a plugin's
	// answers can queue up behind its async data, which only moves while
	// someone reads.
	var calls sync.WaitGroup
	for {
		item, err := s.AsyncContext(ctx)
		if err != nil {
			break // interrupted
		}
		switch p := item.Payload.(type) {
		case envelope.Connected:
			fmt.Printf("host: %s %s connected, with functions %s\n", item.Name, p.Info.Version, functions(s.PluginInfo(item.Name)))
			calls.Go(func() { useExample(ctx, &s, item.Name) })
		case envelope.Disconnected:
			fmt.Printf("host: %s disconnected (graceful: %v)\n", item.Name, p.Graceful)
		default:
			fmt.Printf("host: async data from %s: %v\n", item.Name, p)
		}
	}

	fmt.Println("host: shutting down")
	// Shutdown unplugs every plugin; each finishes the calls it has in
	// flight first. Then the calls started above can end, and Async
	// gives what is left before it reports ErrShutdown.
	err = s.Shutdown("")
	calls.Wait()
	for {
		item, aerr := s.Async()
		if aerr != nil {
			break
		}
		if p, ok := item.Payload.(envelope.Disconnected); ok {
			fmt.Printf("host: %s disconnected (graceful: %v)\n", item.Name, p.Graceful)
		}
	}
	return err
}

// useExample calls the example plugins, when it is one of them.
func useExample(ctx context.Context, s *socket.Socket, name string) {
	type args struct {
		A float64 `json:"a"`
		B float64 `json:"b"`
	}
	switch name {
	case "calc":
		var sum float64
		if err := s.CallContext(ctx, name, "Add", args{A: 2, B: 3}, &sum); err != nil {
			fmt.Println("host: calc.Add failed:", err)
			return
		}
		fmt.Printf("host: calc.Add 2 + 3 = %v\n", sum)
		err := s.CallContext(ctx, name, "Div", args{A: 1, B: 0}, nil)
		var e *envelope.Error
		if errors.As(err, &e) {
			// The plugin method's own error: its text, unchanged, and
			// code -32000.
			fmt.Printf("host: calc.Div 1 / 0 failed as it should: %s (code %d)\n", e.Message, e.Code)
		}
	case "kv":
		entry := map[string]any{"key": "greeting", "value": "hello"}
		if err := s.CallContext(ctx, name, "Set", entry, nil); err != nil {
			fmt.Println("host: kv.Set failed:", err)
			return
		}
		var got struct {
			Value any       `json:"value"`
			At    time.Time `json:"at"`
		}
		if err := s.CallContext(ctx, name, "Get", map[string]string{"key": "greeting"}, &got); err != nil {
			fmt.Println("host: kv.Get failed:", err)
			return
		}
		// At is the time Clock.Now gave kv while it served the Set.
		fmt.Printf("host: kv.Get greeting = %v, set at %s\n", got.Value, got.At.UTC().Format(time.RFC3339Nano))
	}
}

// Clock is a host service: plugins that speak protocol 2 may call its
// methods, Clock.Now here (Register names it by the type). kv does, to
// stamp the entries it stores with the host's time.
type Clock struct{}

// Now returns the host's time. Like a plugin's method it runs for one
// request, and its ctx says which plugin sent it.
func (*Clock) Now(ctx context.Context, _ struct{}) (time.Time, error) {
	t := time.Now().UTC()
	fmt.Printf("host: %s asked for the time (Clock.Now): %s\n", socket.PluginFrom(ctx), t.Format(time.RFC3339Nano))
	return t, nil
}

// functions lists a plugin's function names.
func functions(info *envelope.PluginInfo) string {
	if info == nil {
		return "(gone already)"
	}
	var names []string
	for n := range info.Functions {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
