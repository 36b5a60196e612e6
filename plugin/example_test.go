package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Greeter is a plugin: a plain struct whose methods take a context and one
// input, and return one output and an error.
type Greeter struct {
	Greeting string
}

// GreetArgs is what callers of Greet send, as JSON.
type GreetArgs struct {
	Name  string `json:"name"`
	Shout bool   `json:"shout,omitempty"`
}

// Greet is served to the host; the error's text reaches the caller as is.
func (g *Greeter) Greet(ctx context.Context, in GreetArgs) (string, error) {
	if in.Name == "" {
		return "", errors.New("greet whom?")
	}
	s := g.Greeting + ", " + in.Name + "!"
	if in.Shout {
		s = strings.ToUpper(s)
	}
	return s, nil
}

func ExamplePlugin_Start() {
	// A real plugin dials the host's socket,
	//	conn, err := net.Dial("tcp", "localhost:7000")
	// Here a few lines play the host at the other end of a pipe.
	conn, hostEnd := net.Pipe()
	host := envelope.NewConn(hostEnd, envelope.ConnOptions{Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		if m.Method == envelope.MethodHandshake {
			var hs envelope.Handshake
			_ = envelope.DecodeParams(m, &hs)
			in, _ := json.Marshal(hs.Functions["Greet"].Input)
			fmt.Printf("host: %s %s offers Greet(%s)\n", hs.Name, hs.Version, in)
			_ = c.Reply(m.ID, envelope.HandshakeResult{Name: hs.Name, Session: "example"})
		}
	}})
	host.Start()
	defer host.Close()

	connected := make(chan struct{})
	p := &plugin.Plugin{OnConnect: func(name string) {
		fmt.Println("plugin: connected as", name)
		close(connected)
	}}
	stopped := make(chan error)
	go func() {
		info := &envelope.PluginInfo{Name: "greeter", Version: "1.0.0"}
		stopped <- p.Start(&Greeter{Greeting: "Hello"}, info, conn, nil)
	}()
	<-connected

	var out string
	_ = host.Call(context.Background(), "Greet", GreetArgs{Name: "Ada", Shout: true}, &out)
	fmt.Println("host: Greet ->", out)
	err := host.Call(context.Background(), "Greet", GreetArgs{}, nil)
	fmt.Println("host: Greet -> error:", err)

	_ = p.Close()
	fmt.Println("plugin: Start returned", <-stopped)
	// Output:
	// host: greeter 1.0.0 offers Greet({"name":"GreetArgs","type":"struct","fields":[{"name":"name","type":"string","mandatory":true},{"name":"shout","type":"bool"}]})
	// plugin: connected as greeter
	// host: Greet -> HELLO, ADA!
	// host: Greet -> error: greet whom?
	// plugin: Start returned <nil>
}
