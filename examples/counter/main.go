// Command counter is the Kapacitor-shaped stateful counter as a program
// of its own. It counts the events of the topic COUNTER_TOPIC ("points"
// when unset), and adds a Pid function, which returns the process id, so
// that a host can tell one process from the next after a restart. It
// dials the socket at PLUGSOCK_ADDR (host:port, or unix:/path;
// 127.0.0.1:7700 when unset, where "plugsock serve" listens), waiting for
// the host if it is not there yet, and serves until the host unplugs it or
// the process is interrupted. A lost connection is dialled again.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/counter/counter"
	"github.com/plugsock/plugsock/plugin"
)

// program is the counter with what a supervisor may ask the process.
type program struct{ *counter.Counter }

// Pid returns the process id.
func (program) Pid(context.Context, struct{}) (int, error) { return os.Getpid(), nil }

func main() {
	if os.Getenv(envelope.EnvAddr) == "" { // where "plugsock serve" listens
		os.Setenv(envelope.EnvAddr, "127.0.0.1:7700")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info := &envelope.PluginInfo{Name: counter.Name, Version: counter.Version}
	if err := plugin.Run(ctx, program{&counter.Counter{Topic: os.Getenv("COUNTER_TOPIC")}}, info); err != nil {
		log.Fatalf("counter: %v", err)
	}
}
