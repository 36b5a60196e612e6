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
func ExampleConfig_token() {
	var s socket.Socket
	l := mustListen()
	s.Serve(l, socket.Config{Logger: quiet, Token: "s3cret"})
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
func ExampleConfig_heartbeat() {
	var s socket.Socket
	s.Serve(mustListen(), socket.Config{
		Logger:            quiet,
		HeartbeatInterval: 5 * time.Second,
		HeartbeatMisses:   3, // found out within 20 s
		MaxInFlight:       100,
		MaxPlugins:        500,
	})
	defer s.Shutdown("")
	name, err := s.Attach(Greeter{}, &envelope.PluginInfo{Name: "greeter"})
	fmt.Println(name, err)
	// Output: greeter <nil>
}
