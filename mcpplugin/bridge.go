package mcpplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/names"
)

// clientName is how the bridge introduces itself to MCP servers.
const clientName = "plugsock"

// maxPages bounds the pages of one tools/list, for a server that hands
// out cursors without end.
const maxPages = 1000

var (
	// errServerGone is a server's session's end: its process ended its
	// output, or the HTTP session was lost.
	errServerGone = errors.New("the MCP server's session ended")
	// errLeft is the end of a plugin its owner closed (Remote.Close).
	errLeft = errors.New("closed")
)

// server is one MCP client session with a server, and what the bridge
// routes through it: the progress of calls, and the news that its tools
// changed.
type server struct {
	cfg     *settings
	cs      *mcp.ClientSession
	changed chan struct{} // a notifications/tools/list_changed came
	gone    chan struct{} // closed once the session has ended
	goneErr error         // why; set before gone closes

	mu       sync.Mutex
	seq      uint64
	progress map[string]context.Context // the calls that asked for progress, by token
}

// connect starts an MCP client session over t: initialize, within the
// timeout.
func connect(ctx context.Context, t mcp.Transport, cfg *settings) (*server, error) {
	srv := &server{cfg: cfg, changed: make(chan struct{}, 1), gone: make(chan struct{}), progress: make(map[string]context.Context)}
	client := mcp.NewClient(&mcp.Implementation{Name: clientName, Version: "1"}, &mcp.ClientOptions{
		Logger:       cfg.Logger,
		Capabilities: &mcp.ClientCapabilities{}, // no roots, sampling or elicitation to offer
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case srv.changed <- struct{}{}:
			default: // one pending is as good as many
			}
		},
		ProgressNotificationHandler: srv.onProgress,
	})
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cs, err := client.Connect(cctx, t, &mcp.ClientSessionOptions{ProtocolVersion: cfg.ProtocolVersion})
	if err != nil {
		if ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("initialize: the MCP server did not answer within %v (Config.Timeout)", cfg.Timeout)
		}
		return nil, fmt.Errorf("initialize: %w", err)
	}
	srv.cs = cs
	go func() {
		srv.goneErr = cs.Wait()
		close(srv.gone)
	}()
	return srv, nil
}

// close ends the session and waits for it to have ended.
func (srv *server) close() {
	_ = srv.cs.Close()
	<-srv.gone
}

// endedCleanly reports whether the session, once gone, ended because
// the server closed its side: end of file, and no garbage before it.
func (srv *server) endedCleanly() bool {
	return srv.goneErr == nil || errors.Is(srv.goneErr, io.EOF) || errors.Is(srv.goneErr, mcp.ErrConnectionClosed)
}

// info is the plugin's name and version: the Config's, else the server's.
func (srv *server) info() (name, version string) {
	name, version = srv.cfg.Name, srv.cfg.Version
	var si *mcp.Implementation
	if r := srv.cs.InitializeResult(); r != nil {
		si = r.ServerInfo
	}
	if name == "" && si != nil {
		name = pluginName(si.Name)
	}
	if name == "" {
		name = "mcp"
	}
	if version == "" && si != nil {
		version = si.Version
	}
	return name, version
}

// pluginName makes a plugin name of a server's name: each character a
// name may not hold becomes '-', and it is cut to the longest allowed.
func pluginName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '@' || unicode.IsSpace(r) || !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return '-'
		}
		return r
	}, strings.ToValidUTF8(s, "-"))
	if len(s) > names.MaxLen {
		s = s[:names.MaxLen]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1] // a rune cut in two
		}
	}
	if names.Check(s) != nil {
		return ""
	}
	return s
}

// tools lists the server's tools, every page, within the timeout, and
// describes them as functions. A server that offers no tools has none.
func (srv *server) tools(ctx context.Context) (toolSet, error) {
	if r := srv.cs.InitializeResult(); r != nil && (r.Capabilities == nil || r.Capabilities.Tools == nil) {
		return toolSet{}, nil
	}
	lctx, cancel := context.WithTimeout(ctx, srv.cfg.Timeout)
	defer cancel()
	var (
		all    []*mcp.Tool
		cursor string
	)
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("tools/list: still more after %d pages", maxPages)
		}
		res, err := srv.cs.ListTools(lctx, &mcp.ListToolsParams{Cursor: cursor})
		if err != nil {
			if ctx.Err() == nil && errors.Is(lctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("tools/list: the MCP server did not answer within %v (Config.Timeout)", srv.cfg.Timeout)
			}
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		all = append(all, res.Tools...)
		if len(all) > srv.cfg.MaxTools {
			return nil, fmt.Errorf("tools/list: the MCP server lists more than %d tools, the limit (Config.MaxTools)", srv.cfg.MaxTools)
		}
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
	}
	return describe(all, srv.cfg.Logger), nil
}

// call is one function call: tools/call with args, and its result as the
// function's answer.
func (srv *server) call(ctx context.Context, tool string, args json.RawMessage) (json.RawMessage, *envelope.Error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	if args[0] != '{' {
		return nil, envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: MCP arguments are an object", tool)
	}
	params := &mcp.CallToolParams{Name: tool, Arguments: args}
	if envelope.ProgressRequested(ctx) {
		token := srv.track(ctx)
		defer srv.untrack(token)
		params.SetProgressToken(token)
	}
	res, err := srv.cs.CallTool(ctx, params)
	if err != nil {
		if ctx.Err() != nil {
			// The SDK has sent notifications/cancelled for it.
			return nil, envelope.Errorf(envelope.CodeRequestCancelled, "%s: %v", tool, ctx.Err())
		}
		return nil, callError(tool, err)
	}
	v, rerr := result(res)
	if rerr != nil {
		return nil, rerr
	}
	out, err := json.Marshal(v)
	switch {
	case err != nil:
		return nil, envelope.Errorf(envelope.CodeInternalError, "%s: encoding the result: %v", tool, err)
	case len(out) > srv.cfg.MaxMessageSize:
		return nil, envelope.Errorf(envelope.CodeInternalError, "%s: the result takes %d bytes, more than the %d of MaxMessageSize", tool, len(out), srv.cfg.MaxMessageSize)
	}
	return out, nil
}

// track gives a call that asked for progress a token of its own.
func (srv *server) track(ctx context.Context) string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.seq++
	token := "plugsock-" + strconv.FormatUint(srv.seq, 10)
	srv.progress[token] = ctx
	return token
}

func (srv *server) untrack(token string) {
	srv.mu.Lock()
	delete(srv.progress, token)
	srv.mu.Unlock()
}

// onProgress passes a server's progress on a call to the socket's caller,
// as $/progress. Reports for tokens it did not give out are ignored.
func (srv *server) onProgress(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	if req == nil || req.Params == nil {
		return
	}
	token, _ := req.Params.ProgressToken.(string)
	srv.mu.Lock()
	ctx := srv.progress[token]
	srv.mu.Unlock()
	if ctx != nil {
		_ = envelope.Progress(ctx, req.Params.Progress, req.Params.Total, req.Params.Message)
	}
}

// serve keeps the server connected to the socket as a plugin, its tools
// as the functions: it lists them, handshakes with them on a connection
// from pipe (presenting launch), and serves calls; when the server says
// its tools changed, it lists them again and, when they differ, leaves the
// socket in good order and handshakes anew with the new list, since a
// plugin describes its functions once, in its handshake. connected, when
// not nil, is told every name assigned.
//
// It returns errStopped when the socket stopped the plugin, errServerGone
// (wrapped) when the server's session ended, errLeft when leave was
// closed, ctx's error when ctx ended, and otherwise what failed.
func (srv *server) serve(ctx context.Context, pipe func() (net.Conn, error), launch string, leave <-chan struct{}, connected func(string)) error {
	fns, err := srv.tools(ctx)
	if err != nil {
		return err
	}
	name, version := srv.info()
	for {
		hs := envelope.Handshake{PluginInfo: envelope.PluginInfo{Name: name, Version: version, Functions: fns}, Launch: launch}
		l, assigned, err := dial(ctx, pipe, hs, srv.cfg, srv.call)
		if err != nil {
			return err
		}
		if connected != nil {
			connected(assigned)
		}
		for changed := false; !changed; {
			select {
			case <-l.done():
				l.cut()
				if l.stopped() {
					return errStopped
				}
				return fmt.Errorf("connection to the socket lost: %w", l.conn.Err())
			case <-srv.gone:
				l.cut()
				return fmt.Errorf("%w: %v", errServerGone, srv.goneErr)
			case <-ctx.Done():
				l.cut()
				return ctx.Err()
			case <-leave:
				l.leave(srv.cfg.LeaveTimeout)
				return errLeft
			case <-srv.changed:
				next, err := srv.tools(ctx)
				if err != nil {
					l.cut()
					return fmt.Errorf("after notifications/tools/list_changed: %w", err)
				}
				if changed = !next.equal(fns); changed {
					l.log.Info("plugsock: MCP server's tools changed; reconnecting to describe them", "tools", len(next))
					l.leave(srv.cfg.LeaveTimeout)
					fns = next
				}
			}
		}
	}
}
