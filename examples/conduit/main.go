// Command conduit is the Conduit-shaped source connector as a program of
// its own. It serves as many records as CONDUIT_RECORDS says (1000 when
// unset). It dials the socket at PLUGSOCK_ADDR (host:port, or unix:/path;
// 127.0.0.1:7700 when unset, where "plugsock serve" listens), waiting for
// the host if it is not there yet, and serves until the host unplugs it or
// the process is interrupted. A lost connection is dialled again.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/conduit/conduit"
	"github.com/plugsock/plugsock/plugin"
)

// EnvRecords is the environment variable that holds how many records the
// source has.
const EnvRecords = "CONDUIT_RECORDS"

// defaultRecords is the number of records when EnvRecords is unset.
const defaultRecords = 1000

// program is the connector with what a supervisor may ask the process.
type program struct{ *conduit.Connector }

// Pid returns the process id, so that a host can tell one process of the
// plugin from the next after a restart.
func (program) Pid(context.Context, struct{}) (int, error) { return os.Getpid(), nil }

func records() (conduit.Position, error) {
	v := os.Getenv(EnvRecords)
	if v == "" {
		return defaultRecords, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", EnvRecords, err)
	}
	return conduit.Position(n), nil
}

func main() {
	n, err := records()
	if err != nil {
		log.Fatalf("conduit: %v", err)
	}
	if os.Getenv(envelope.EnvAddr) == "" { // where "plugsock serve" listens
		os.Setenv(envelope.EnvAddr, "127.0.0.1:7700")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info := &envelope.PluginInfo{Name: conduit.Name, Version: conduit.Version}
	if err := plugin.Run(ctx, program{&conduit.Connector{Records: n}}, info); err != nil {
		log.Fatalf("conduit: %v", err)
	}
}
