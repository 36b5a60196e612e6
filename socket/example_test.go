package socket_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Greeter is a plugin: a plain struct whose methods take a context and one
// input and return one output and an error.
type Greeter struct{}

// GreetIn is what Greet takes.
type GreetIn struct {
	Name string `json:"name"`
}

// Greet says hello.
func (Greeter) Greet(_ context.Context, in GreetIn) (string, error) {
	return "hello, " + in.Name, nil
}

// Shout is another function of the plugin.
func (Greeter) Shout(_ context.Context, s string) (string, error) {
	return strings.ToUpper(s), nil
}

func Example() {
	var s socket.Socket
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s.Serve(l, socket.Config{Logger: quiet})

	// A plugin dials in; usually it runs in its own process.
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	p := &plugin.Plugin{Logger: quiet}
	done := make(chan error, 1)
	go func() { done <- p.Start(Greeter{}, &envelope.PluginInfo{Name: "greeter", Version: "1.0.0"}, conn, nil) }()

	s.WaitFor("greeter", time.Second*5)
	out, err := s.Call("", "greeter", "Greet", GreetIn{Name: "plugsock"})
	fmt.Println(out, err)

	var loud string
	err = s.CallContext(context.Background(), "greeter", "Shout", "quiet please", &loud)
	fmt.Println(loud, err)

	_ = s.Shutdown("")
	fmt.Println("plugin stopped:", <-done)
	// Output:
	// hello, plugsock <nil>
	// QUIET PLEASE <nil>
	// plugin stopped: <nil>
}

func ExampleSocket_Attach() {
	var s socket.Socket
	s.Serve(mustListen(), socket.Config{Logger: quiet})
	defer s.Shutdown("")

	name, err := s.Attach(Greeter{}, &envelope.PluginInfo{Name: "builtin"})
	if err != nil {
		panic(err)
	}
	out, err := s.Call("", name, "Greet", GreetIn{Name: "in-process"})
	fmt.Println(name, out, err)
	// Output: builtin hello, in-process <nil>
}

func ExampleSocket_PluginInfo() {
	var s socket.Socket
	s.Serve(mustListen(), socket.Config{Logger: quiet})
	defer s.Shutdown("")
	if _, err := s.Attach(Greeter{}, &envelope.PluginInfo{Name: "greeter"}); err != nil {
		panic(err)
	}
	f := s.PluginInfo("greeter").Functions["Greet"]
	fmt.Printf("%s(%s %s) %s\n", f.Name, f.Input.Fields[0].Name, f.Input.Fields[0].Type, f.Output.Type)
	// Output: Greet(name string) string
}

func ExampleSocket_RegisterCallback() {
	var s socket.Socket
	s.Serve(mustListen(), socket.Config{Logger: quiet})
	gone := make(chan string, 1)
	s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		gone <- fmt.Sprintf("%s left, graceful=%v", info.Name, graceful)
	})
	if _, err := s.Attach(Greeter{}, &envelope.PluginInfo{Name: "greeter"}); err != nil {
		panic(err)
	}
	s.Unplug("", "greeter")
	fmt.Println(<-gone)
	_ = s.Shutdown("")
	// Output: greeter left, graceful=true
}

func mustListen() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return l
}
