package main

// The hidden "plugin" command: the demo runs its plugins as separate
// processes by running this same executable as "plugsock plugin calc".

import (
	"context"
	"io"
	"log/slog"
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
	if os.Getenv(envelope.EnvAddr) == "" {
		os.Setenv(envelope.EnvAddr, defaultListen)
	}
	// plugin.Run logs through slog.Default: warnings only, so that a
	// demo's plugins keep quiet unless something is wrong.
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := plugin.Run(ctx, v, info); err != nil {
		return c.fail(stderr, "%s: %v", pos[0], err)
	}
	return exitOK
}
