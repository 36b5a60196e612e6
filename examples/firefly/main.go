// Command firefly is the FireFly-shaped event transport as a program of
// its own. It subscribes to the topics FIREFLY_TOPIC names ("ff.*" when
// unset) and refuses the first delivery of every event whose offset is a
// multiple of FIREFLY_FAIL_EVERY (7 when unset; 0 refuses none). It dials
// the socket at PLUGSOCK_ADDR (host:port, or unix:/path; 127.0.0.1:7700
// when unset, where "plugsock serve" listens), waiting for the host if it
// is not there yet, and serves until the host unplugs it or the process
// is interrupted. A lost connection is dialled again.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/firefly/firefly"
	"github.com/plugsock/plugsock/plugin"
)

func main() {
	if os.Getenv(envelope.EnvAddr) == "" { // where "plugsock serve" listens
		os.Setenv(envelope.EnvAddr, "127.0.0.1:7700")
	}
	t := &firefly.Transport{Topic: os.Getenv("FIREFLY_TOPIC"), FailEvery: 7}
	if v := os.Getenv("FIREFLY_FAIL_EVERY"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			log.Fatalf("firefly: FIREFLY_FAIL_EVERY: %v", err)
		}
		t.FailEvery = n
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info := &envelope.PluginInfo{Name: firefly.Name, Version: firefly.Version}
	if err := plugin.Run(ctx, t, info); err != nil {
		log.Fatalf("firefly: %v", err)
	}
}
