// Command kapacitor is the Kapacitor-shaped moving-average processor as a
// program of its own. It dials the socket at PLUGSOCK_ADDR (host:port, or
// unix:/path; 127.0.0.1:7700 when unset, where "plugsock serve" listens),
// waiting for the host if it is not there yet, and serves until the host
// unplugs it or the process is interrupted. A lost connection is dialled
// again.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/kapacitor/kapacitor"
	"github.com/plugsock/plugsock/plugin"
)

func main() {
	if os.Getenv(envelope.EnvAddr) == "" { // where "plugsock serve" listens
		os.Setenv(envelope.EnvAddr, "127.0.0.1:7700")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info := &envelope.PluginInfo{Name: kapacitor.Name, Version: kapacitor.Version}
	if err := plugin.Run(ctx, new(kapacitor.UDF), info); err != nil {
		log.Fatalf("kapacitor: %v", err)
	}
}
