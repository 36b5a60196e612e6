package plugin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// RunOptions give a test what Run takes from the process.
type RunOptions struct {
	Plugin   *Plugin // the Plugin to run, as Plugin.Run does; a new one when nil
	Args     []string
	Env      map[string]string
	Stdout   io.Writer
	Log      *slog.Logger
	Lifeline func(gone func()) (stop func())
	Dial     func(ctx context.Context, network, address string) (net.Conn, error)
	// Backoff between connection attempts; small in tests.
	MinDelay, MaxDelay, ResetAfter time.Duration
	OnSession                      func(name string)
}

// RunWith is Run with its environment given by o.
func RunWith(ctx context.Context, v any, info *envelope.PluginInfo, o RunOptions) error {
	r := &runner{
		plugin:     o.Plugin,
		args:       o.Args,
		getenv:     func(k string) string { return o.Env[k] },
		stdout:     o.Stdout,
		log:        o.Log,
		lifeline:   o.Lifeline,
		dial:       o.Dial,
		minDelay:   o.MinDelay,
		maxDelay:   o.MaxDelay,
		resetAfter: o.ResetAfter,
		onSession:  o.OnSession,
	}
	return r.run(ctx, v, info)
}

// WatchFD exposes the lifeline watcher on any descriptor.
func WatchFD(fd int, gone func()) (stop func()) { return watchFD(fd, gone) }

// WatchStdin exposes the lifeline watcher on standard input.
func WatchStdin(gone func()) (stop func()) { return watchStdin(gone) }
