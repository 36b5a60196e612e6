// Command broken is a plugin that gets the protocol wrong on purpose, for
// the conformance battery to catch: it answers unknown methods with the
// wrong code, answers Add with a string where it promised an int, and
// never answers $/shutdown. With BROKEN_MODE=crash it dies instead at
// the first call of Add.
package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

func main() {
	network, addr, err := envelope.ParseAddr(os.Getenv(envelope.EnvAddr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "broken:", err)
		os.Exit(1)
	}
	nc, err := net.Dial(network, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broken:", err)
		os.Exit(1)
	}
	conn := envelope.NewConn(nc, envelope.ConnOptions{Handler: handle})
	conn.Start()
	hs := envelope.Handshake{PluginInfo: envelope.PluginInfo{
		Name:    "broken",
		Version: "0.0.1",
		Functions: map[string]typedesc.Function{"Add": {
			Name: "Add",
			Input: &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{
				{Name: "a", Type: "int", Mandatory: true}, {Name: "b", Type: "int", Mandatory: true}}},
			Output: &typedesc.Entity{Type: "int"},
		}},
	}}
	if err := conn.Call(context.Background(), envelope.MethodHandshake, hs, nil); err != nil {
		fmt.Fprintln(os.Stderr, "broken: handshake:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "broken: connected, and about to misbehave")
	<-conn.Done()
}

func handle(c *envelope.Conn, m *envelope.Envelope) {
	if !m.IsRequest() {
		return
	}
	switch m.Method {
	case envelope.MethodPing:
		_ = c.Reply(m.ID, nil)
	case envelope.MethodShutdown:
		// Wrong: never answered, and the connection stays open.
	case "Add":
		if os.Getenv("BROKEN_MODE") == "crash" {
			fmt.Fprintln(os.Stderr, "broken: crashing as told")
			os.Exit(2)
		}
		_ = c.Reply(m.ID, "forty-two") // wrong: the description says int
	default:
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodError, "no such thing: %s", m.Method)) // wrong code
	}
}
