// Command kv is the key-value store plugin as a program of its own. It dials
// the socket at PLUGSOCK_ADDR (host:port, or unix:/path; 127.0.0.1:7700 when
// unset, where "plugsock serve" listens) and serves until the host unplugs
// it or the process is interrupted.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/plugin"
)

func main() {
	info := &envelope.PluginInfo{Name: kv.Name, Version: kv.Version}
	if err := dialAndStart(context.Background(), new(kv.Store), info); err != nil {
		fmt.Fprintln(os.Stderr, "kv:", err)
		os.Exit(1)
	}
}

// dialAndStart connects v to the socket at PLUGSOCK_ADDR and serves it
// until the socket unplugs it (nil) or the connection fails (an error).
// SIGINT or SIGTERM make it leave in good order, so the host sees a
// graceful disconnect.
//
// Replaced by plugin.Run once available.
func dialAndStart(ctx context.Context, v any, info *envelope.PluginInfo) error {
	addr := os.Getenv("PLUGSOCK_ADDR")
	if addr == "" {
		addr = "127.0.0.1:7700"
	}
	network, address := "tcp", addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", path
	}
	conn, err := net.Dial(network, address)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	connected := make(chan struct{})
	p := &plugin.Plugin{
		Token:     os.Getenv("PLUGSOCK_TOKEN"),
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnConnect: func(string) { close(connected) },
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		// Leave in good order once connected. The host may count the
		// plugin as connected before OnConnect runs here, so hanging up
		// mid-handshake would look like a crash; the handshake is
		// bounded by the plugin's HandshakeTimeout.
		select {
		case <-connected:
			_ = p.Close()
		case <-done:
		}
	}()
	err = p.Start(v, info, conn, nil)
	if err != nil && ctx.Err() != nil {
		return nil // interrupted
	}
	return err
}
