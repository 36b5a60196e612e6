package socket_test

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// A socket that requires a token refuses plugins without it. Over a
// network, serve a tls.Listener as well: see docs/security.md.
func ExampleWithToken() {
	var s socket.Socket
	l := mustListen()
	s.Serve(l, socket.WithLogger(quiet), socket.WithToken("s3cret"))
	defer s.Shutdown("")

	start := func(token string) error {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return err
		}
		p := &plugin.Plugin{Logger: quiet, Token: token}
		return p.Start(Greeter{}, &envelope.PluginInfo{Name: "greeter"}, conn, nil)
	}
	err := start("guess")
	fmt.Println(errors.Is(err, envelope.ErrUnauthorized), err)

	go func() { _ = start("s3cret") }()
	s.WaitFor("greeter", 5*time.Second)
	out, err := s.Call("", "greeter", "Greet", GreetIn{Name: "member"})
	fmt.Println(out, err)
	// Output:
	// true plugsock: plugin "greeter": handshake: unauthorised: wrong token
	// hello, member <nil>
}

// Heartbeats find a plugin that stops answering without hanging up;
// limits bound what any one plugin can cost the host.
func ExampleWithHeartbeat() {
	var s socket.Socket
	s.Serve(mustListen(), socket.WithLogger(quiet),
		socket.WithHeartbeat(5*time.Second, 3), // found out within 20 s
		socket.WithMaxInFlight(100),
		socket.WithMaxPlugins(500),
	)
	defer s.Shutdown("")
	name, err := s.Attach(Greeter{}, &envelope.PluginInfo{Name: "greeter"})
	fmt.Println(name, err)
	// Output: greeter <nil>
}
