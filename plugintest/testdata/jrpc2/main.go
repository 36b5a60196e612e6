// Command jrpc2plugin is a plugsock plugin built on
// github.com/creachadair/jrpc2 alone, written from docs/protocol.md and
// protocol 2's wire without any of plugsock's packages: jrpc2 reads and
// writes the frames (channel.LSP), serves the host's calls (a jrpc2.Server
// over handler.Map), and sends the plugin's own requests, the handshake
// and calls of host services, as server pushes (Server.Callback).
//
// It offers Add, Div, Echo, Trace, Deadline, Slow, Cancelled and HostEcho
// (see functions). Start it with PLUGSOCK_ADDR set (host:port or
// unix:/path), as a host's Launch or plugsock check does; it exits 0 after
// the host's $/shutdown, and 1 on any other ending.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"github.com/creachadair/jrpc2"
	"github.com/creachadair/jrpc2/channel"
)

// handshakeTimeout is the host's default handshake deadline: an answer
// later than that will not come.
const handshakeTimeout = 10 * time.Second

var logger = log.New(os.Stderr, "jrpc2calc: ", 0)

func main() {
	if err := run(); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

func run() error {
	network, address := parseAddr(os.Getenv("PLUGSOCK_ADDR"))
	conn, err := net.DialTimeout(network, address, handshakeTimeout)
	if err != nil {
		return fmt.Errorf("connecting to the host: %w", err)
	}
	g := newGate(conn)
	srv := jrpc2.NewServer(g, &jrpc2.ServerOptions{
		// The Server's own requests (the handshake, host services) go out
		// as pushes, which it sends only when allowed to.
		AllowPush: true,
		// rpc.serverInfo and the other rpc.* names are jrpc2's, not the
		// protocol's; with the built-ins off they are unknown methods.
		DisableBuiltin: true,
		// A handler holds one of these for as long as it runs, Slow for
		// up to 30 s, and jrpc2 dispatches a $/cancelRequest only once the
		// notifications before it have finished: too few, and calls that
		// wait starve the cancellation that would end them.
		Concurrency: 256,
	})
	// The server is ended by closing conn, never by Server.Stop: Stop
	// closes a channel that the reading goroutine sends on, unchecked,
	// when a message arrives as it stops, and the plugin would panic.
	// Closing conn ends the reading goroutine, which stops the server
	// itself.
	srv.Start(channel.LSP(conn, conn))

	if os.Getenv("PLUGSOCK_LIFELINE") == "stdin" {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			logger.Print("standard input ended: the host is gone")
			g.leave()
			_ = conn.Close()
		}()
	}

	w, err := handshake(srv)
	if err != nil {
		_ = conn.Close()
		_ = srv.Wait()
		return err
	}
	g.setServices(w.Services)
	logger.Printf("serving as %q, session %s, protocol %s, %d host services", w.Name, w.Session, w.Protocol, len(w.Services))

	st := srv.WaitStatus()
	switch {
	case !st.Success():
		return fmt.Errorf("the connection failed: %w", st.Err)
	case g.left():
		logger.Print("shut down")
		return nil
	default:
		return errors.New("the host closed the connection without a $/shutdown")
	}
}

// parseAddr reads PLUGSOCK_ADDR: "unix:/path", "tcp:host:port" or
// "host:port"; empty means where plugsock serve listens.
func parseAddr(s string) (network, address string) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		return "unix", p
	}
	s = strings.TrimPrefix(s, "tcp:")
	if s == "" {
		s = "127.0.0.1:7700"
	}
	return "tcp", s
}

// handshake sends $/handshake and reads the answer: the host must speak
// protocol 2, the only one this plugin speaks (jrpc2 refuses protocol 1's
// top-level meta and its params that are neither object nor array).
func handshake(srv *jrpc2.Server) (*welcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	rsp, err := srv.Callback(ctx, "$/handshake", hello{
		Name:      "jrpc2calc",
		Version:   "1.0.0",
		Protocol:  2,
		Token:     os.Getenv("PLUGSOCK_TOKEN"),
		Launch:    os.Getenv("PLUGSOCK_LAUNCH"),
		Functions: functions,
	})
	if err != nil {
		return nil, fmt.Errorf("handshake refused or unanswered: %w", err)
	}
	var w welcome
	if err := rsp.UnmarshalResult(&w); err != nil {
		return nil, fmt.Errorf("handshake answer %s: %w", clip(rsp.ResultString()), err)
	}
	switch p := string(w.Protocol); p {
	case "2":
	case "":
		return nil, errors.New("the host speaks protocol 1 (its handshake answer has no protocol); this plugin speaks only 2")
	default:
		return nil, fmt.Errorf("protocol violation: the handshake answer's protocol is %s; this plugin offered 2", clip(p))
	}
	return &w, nil
}

// clip shortens s for a log line.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
