package mcpplugin

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugsock/plugsock/socket"
)

// Launch is the option that makes Socket.Launch run its command as an MCP
// server speaking over its standard input and output (MCP's stdio
// transport: newline-delimited JSON), bridged into a plugin:
//
//	name, err := s.Launch(ctx, exec.Command("mcp-server-time"), mcpplugin.Launch(mcpplugin.Config{Name: "time"}))
//
// For each process the bridge initializes an MCP client session (the
// official go-sdk's), lists the tools, and connects to the socket in the
// process's stead with the tools as the plugin's functions; then it turns
// calls into tools/call (see the package documentation for the mapping).
// Launch returns once that handshake is done. Everything else is Launch's
// own, unchanged: the restart policy and its limits (a server that exits,
// crashes or is killed is started again, and bridged again), the lines of
// its standard error in the socket's log, Unplug and Shutdown (the
// calls in flight finish and answer, then the server's standard input is
// closed, as MCP's stdio transport asks, then SIGTERM and SIGKILL after
// the grace periods). Pass a socket.LaunchConfig beside it for those
// settings.
//
// A server that does not answer initialize or tools/list within
// cfg.Timeout, writes what is not JSON-RPC, writes a line longer than
// cfg.MaxMessageSize or lists more than cfg.MaxTools tools fails: its
// process is killed, and Launch returns the error (after a restart, the
// restart policy takes it from there).
func Launch(cfg Config) socket.LaunchOption {
	return socket.LaunchConfig{Bridge: func(ctx context.Context, p *socket.BridgedProcess) error {
		return bridgeStdio(ctx, p, cfg.settings(p.Logger.With("pid", p.Pid)))
	}}
}

// bridgeStdio is the Bridge of one launched MCP server.
func bridgeStdio(ctx context.Context, p *socket.BridgedProcess, cfg *settings) error {
	t := &mcp.IOTransport{Reader: keepOpen{p.Stdout}, Writer: nopClose{p.Stdin}, MaxLineLength: cfg.MaxMessageSize}
	srv, err := connect(ctx, t, cfg)
	if err != nil {
		return err
	}
	defer srv.close()
	err = srv.serve(ctx, p.Pipe, p.Launch, nil, nil)
	switch {
	case ctx.Err() != nil, errors.Is(err, errStopped):
		return nil // stopped by the socket, or the process exited
	case errors.Is(err, errServerGone) && srv.endedCleanly():
		return nil // the server ended its output: its exit says how it went
	}
	return err
}

// keepOpen is the server's output for the go-sdk, which closes its
// transport when the session ends, a failed one included: closing it only
// stops the SDK's reading (a read deadline), so that the pipes stay open,
// and the server running, until the bridge has returned what failed. The
// socket closes them then.
type keepOpen struct{ io.ReadCloser }

func (k keepOpen) Close() error {
	if d, ok := k.ReadCloser.(interface{ SetReadDeadline(time.Time) error }); ok && d.SetReadDeadline(time.Unix(1, 0)) == nil {
		return nil
	}
	return k.ReadCloser.Close()
}

// nopClose is the server's input for the go-sdk: the socket closes it once
// the bridge has returned.
type nopClose struct{ io.Writer }

func (nopClose) Close() error { return nil }
