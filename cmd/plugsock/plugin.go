package main

// The hidden "plugin" command: the demo runs its plugins as separate
// processes by running this same executable as "plugsock plugin calc".

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/calc/calc"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/plugin"
)

// builtinPlugins are the plugins this executable can serve.
var builtinPlugins = map[string]func() (any, *envelope.PluginInfo){
	calc.Name: func() (any, *envelope.PluginInfo) {
		return new(calc.Calc), &envelope.PluginInfo{Name: calc.Name, Version: calc.Version}
	},
	kv.Name: func() (any, *envelope.PluginInfo) {
		return new(kv.Store), &envelope.PluginInfo{Name: kv.Name, Version: kv.Version}
	},
}

var pluginCmd = command{
	name:  "plugin",
	usage: "calc|kv",
	// No summary: the demo's helper, not listed in help.
}

func init() {
	pluginCmd.run = runPlugin
	register(pluginCmd)
}

func runPlugin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := pluginCmd
	c.summary = "Serve a built-in example plugin to the socket at $PLUGSOCK_ADDR (host:port or unix:/path)."
	fs := c.flags()
	pos, code, ok := c.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || builtinPlugins[pos[0]] == nil {
		var names []string
		for n := range builtinPlugins {
			names = append(names, n)
		}
		sort.Strings(names)
		return c.usageError(stderr, "name one plugin of: %s", strings.Join(names, ", "))
	}
	v, info := builtinPlugins[pos[0]]()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := dialAndStart(ctx, v, info, log); err != nil {
		return c.fail(stderr, "%s: %v", pos[0], err)
	}
	return exitOK
}

// dialAndStart connects v to the socket at PLUGSOCK_ADDR and serves it
// until the socket unplugs it (nil) or the connection fails (an error).
// SIGINT or SIGTERM make it leave in good order, so the host sees a
// graceful disconnect.
//
// Replaced by plugin.Run once available.
func dialAndStart(ctx context.Context, v any, info *envelope.PluginInfo, log *slog.Logger) error {
	addr := os.Getenv("PLUGSOCK_ADDR")
	if addr == "" {
		addr = defaultListen
	}
	network, address := "tcp", addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", path
	}
	conn, err := net.Dial(network, address)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", addr, err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	connected := make(chan struct{})
	p := &plugin.Plugin{
		Token:     os.Getenv("PLUGSOCK_TOKEN"),
		Logger:    log,
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
