//go:build linux

package mcpplugin_test

import (
	"log/slog"
	"net"
	"os/exec"
	"testing"

	"github.com/plugsock/plugsock/mcpplugin"
	"github.com/plugsock/plugsock/socket"
)

// BenchmarkCall is one Socket.Call of a tool of the Go SDK's server,
// launched: the socket's call over the in-memory pipe, the bridge's
// tools/call over the server's stdio, and back.
func BenchmarkCall(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var s socket.Socket
	s.Serve(l, socket.Config{Logger: quiet})
	defer func() { _ = s.Shutdown("") }()
	name, err := s.Launch(b.Context(), exec.Command(binary(b, "goserver")), mcpplugin.Launch(mcpplugin.Config{Name: "gotools"}))
	if err != nil {
		b.Fatal(err)
	}
	args := map[string]int{"a": 2, "b": 3}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Call("", name, "add", args); err != nil {
			b.Fatal(err)
		}
	}
}
