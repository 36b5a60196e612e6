package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// DefaultMaxSessions is how many MCP sessions over HTTP a Server holds at
// once unless Config.MaxSessions says otherwise.
const DefaultMaxSessions = 64

// MaxMessageSize bounds one message from a client: an HTTP request body,
// or a line of ServeStdio's input. It is the admin API's bound on a body.
const MaxMessageSize = 4 << 20

// ErrClosed is returned by ServeStdio once the Server is closed.
var ErrClosed = errors.New("plugsock mcp: server closed")

// Server serves the functions of a socket's plugins to MCP clients as
// tools. Create it with New. It is an http.Handler for MCP's Streamable
// HTTP transport (mount it at /mcp), and ServeStdio serves the stdio
// transport. It is safe for concurrent use.
type Server struct {
	s        *socket.Socket
	log      *slog.Logger
	patterns []pattern
	sdk      *sdk.Server
	// stateful serves the protocol versions up to 2025-11-25, which keep
	// a session (Mcp-Session-Id); stateless serves 2026-07-28 and later,
	// which have none.
	stateful, stateless http.Handler
	maxSessions         int

	mu       sync.Mutex // guards what follows, and orders the changes to the tools
	closed   bool
	byPlugin map[string][]*tool // each plugin's tools, by assigned name
	byName   map[string][]*tool // every tool of every plugin, by tool name
	exposed  map[string]*tool   // the tools clients see
	clashed  map[string]bool    // tool names withheld for a clash, already logged

	hmu      sync.Mutex // guards the two maps below
	streams  map[string]context.Context
	sessions map[string]*sessionUse
}

// Option configures a Server: pass it to New. Config is the one there is.
type Option interface{ apply(*Server) }

// Config holds a Server's settings. Its zero value means every default: a
// field left zero keeps its default.
type Config struct {
	// Logger is where the Server logs; slog.Default() when nil.
	Logger *slog.Logger

	// Tools is the allow-list: which functions are tools. Each entry
	// holds patterns separated by commas, PLUGIN.FUNCTION, in which "*"
	// matches any run of characters: "calc.*,kv.Get". PLUGIN is matched
	// against the plugin's name without a version ("calc" matches every
	// version of calc), or with one when the pattern has an "@"
	// ("calc@2.*.Add"); a pattern without a "." names plugins ("kv" is
	// "kv.*"). Empty, the default, exposes every function. Clients do
	// worse with many tools, and each tool a plugin adds is text the
	// model reads, so list what the clients need.
	Tools []string

	// MaxSessions bounds the MCP sessions over HTTP held at once. A new
	// session past it takes the place of the one idle longest; when none
	// is idle it is refused with 503. DefaultMaxSessions when zero or
	// less.
	MaxSessions int
}

// apply overlays the settings c sets on a; Tools adds to the list.
func (c Config) apply(s *Server) {
	if c.Logger != nil {
		s.log = c.Logger
	}
	s.patterns = append(s.patterns, parsePatterns(c.Tools)...)
	if c.MaxSessions > 0 {
		s.maxSessions = c.MaxSessions
	}
}

// New returns a Server for the plugins of sock: those connected now and
// those that connect later. It learns of disconnects from the socket
// (Socket.RegisterCallback), and of connects from the socket's async
// queue, which has one reader, the host: pass every item of Socket.Async
// to Publish, as admin.Server wants too.
func New(sock *socket.Socket, opts ...Option) *Server {
	s := &Server{
		s:           sock,
		log:         slog.Default(),
		maxSessions: DefaultMaxSessions,
		byPlugin:    make(map[string][]*tool),
		byName:      make(map[string][]*tool),
		exposed:     make(map[string]*tool),
		clashed:     make(map[string]bool),
		streams:     make(map[string]context.Context),
		sessions:    make(map[string]*sessionUse),
	}
	for _, o := range opts {
		o.apply(s)
	}
	// The SDK logs every session at info, and a client's mistakes as
	// errors; plugsock's own lines say what matters to the host, so the
	// SDK's are kept for debug.
	sdkLog := slog.New(atLevel{s.log.Handler(), slog.LevelDebug}).With("component", "mcp-sdk")
	s.sdk = sdk.NewServer(&sdk.Implementation{Name: "plugsock", Title: "plugsock", Version: version()}, &sdk.ServerOptions{
		Logger: sdkLog,
		// Tools come and go with the plugins, so the capability is
		// there from the start, list changes included, and nothing else
		// (no logging) is claimed.
		Capabilities: &sdk.ServerCapabilities{Tools: &sdk.ToolCapabilities{ListChanged: true}},
		Instructions: "Each tool is a function of a plugin connected to a plugsock host, named PLUGIN.FUNCTION.",
	})
	s.sdk.AddReceivingMiddleware(boundToolNames)
	get := func(*http.Request) *sdk.Server { return s.sdk }
	s.stateful = sdk.NewStreamableHTTPHandler(get, &sdk.StreamableHTTPOptions{
		Logger: sdkLog, MaxRequestBodyBytes: MaxMessageSize,
	})
	s.stateless = sdk.NewStreamableHTTPHandler(get, &sdk.StreamableHTTPOptions{
		Logger: sdkLog, MaxRequestBodyBytes: MaxMessageSize, Stateless: true,
		// There, a request is its whole life: its connection closing
		// cancels it, and so the plugin's call.
		PropagateRequestCancellation: true,
	})
	sock.RegisterCallback(func(info *envelope.PluginInfo, _ bool) { s.refresh(info.Name) })
	for name := range sock.Connected(false) {
		s.refresh(name)
	}
	return s
}

// Publish tells the Server of an item from Socket.Async: a plugin's
// Connected event adds its tools, a Disconnected one takes them away
// (the socket tells of disconnects directly too), and data is ignored.
// The host, as the queue's one reader, passes it every item. Publish
// never waits on a client.
func (s *Server) Publish(item *envelope.AsyncData) {
	if item == nil {
		return
	}
	switch item.Payload.(type) {
	case envelope.Connected, *envelope.Connected, envelope.Disconnected, *envelope.Disconnected:
		s.refresh(item.Name)
	}
}

// ServeStdio serves one MCP session over in and out, newline-delimited
// JSON, as MCP's stdio transport does on a process's stdin and stdout. It
// returns nil when in ends, ctx's error when ctx ends first, and
// ErrClosed after Close. A line of in longer than MaxMessageSize ends the
// session. When in is also an io.Closer, it is closed as the session
// ends, so that a read in progress returns; out is never closed.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	rc, ok := in.(io.ReadCloser)
	if !ok {
		rc = io.NopCloser(in)
	}
	err := s.sdk.Run(ctx, &sdk.IOTransport{Reader: rc, Writer: nopWriteCloser{out}, MaxLineLength: MaxMessageSize})
	s.mu.Lock()
	closed = s.closed
	s.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case closed:
		return ErrClosed
	case errors.Is(err, io.EOF) || errors.Is(err, sdk.ErrConnectionClosed):
		return nil
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Close ends every session, HTTP and stdio, and refuses new ones; the
// tools' calls in flight are cancelled. Call it before shutting down the
// http.Server the Server is mounted on, since a session's event stream
// never ends on its own. Close is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeSessions()
}

func (s *Server) closeSessions() {
	for ss := range s.sdk.Sessions() {
		_ = ss.Close()
	}
}

// refresh makes the tools of the plugin with the assigned name what the
// socket says they are now: its functions, or none when no plugin has
// that name. Being idempotent and reading the socket's present state, it
// may be called for the same plugin from the callback and from Publish,
// in any order. s.mu is held throughout, so refreshes apply in the order
// they read the socket.
func (s *Server) refresh(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	var tools []*tool
	// PluginInfo resolves a plain name to the newest version when the
	// name itself is gone; only the plugin holding it counts here.
	if info := s.s.PluginInfo(name); info != nil && info.Name == name {
		tools = toolsOf(info, s.patterns)
	}
	affected := map[string]bool{}
	for _, t := range s.byPlugin[name] {
		affected[t.name] = true
		s.byName[t.name] = slices.DeleteFunc(s.byName[t.name], func(u *tool) bool { return u.plugin == name })
		if len(s.byName[t.name]) == 0 {
			delete(s.byName, t.name)
		}
	}
	delete(s.byPlugin, name)
	if len(tools) > 0 {
		s.byPlugin[name] = tools
	}
	for _, t := range tools {
		affected[t.name] = true
		s.byName[t.name] = append(s.byName[t.name], t)
	}
	var removed []string
	added := 0
	for n := range affected {
		candidates := s.byName[n]
		var want *tool
		switch len(candidates) {
		case 0:
			delete(s.clashed, n)
		case 1:
			want = candidates[0]
			delete(s.clashed, n)
		default:
			if !s.clashed[n] {
				s.clashed[n] = true
				var who []string
				for _, c := range candidates {
					who = append(who, c.plugin+"."+c.function)
				}
				slices.Sort(who)
				s.log.Warn("plugsock mcp: functions map to the same tool name; none of them is exposed, so that none can pass for another",
					"tool", n, "functions", who)
			}
		}
		cur := s.exposed[n]
		switch {
		case want == nil && cur != nil:
			removed = append(removed, n)
			delete(s.exposed, n)
		case want != nil && cur != nil && cur.key == want.key:
			s.exposed[n] = want // the same tool; nobody needs telling
		case want != nil:
			if s.addTool(want) {
				s.exposed[n] = want
				added++
			} else if cur != nil {
				removed = append(removed, n)
				delete(s.exposed, n)
			}
		}
	}
	if len(removed) > 0 {
		s.sdk.RemoveTools(removed...)
	}
	if added > 0 || len(removed) > 0 {
		s.log.Debug("plugsock mcp: tools changed", "plugin", name, "added", added, "removed", len(removed), "tools", len(s.exposed))
	}
}

// addTool registers t with the SDK, which tells the clients (once for a
// burst of changes). A description the SDK will not take is logged and
// left out, never a panic.
func (s *Server) addTool(t *tool) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Warn("plugsock mcp: a function cannot be a tool; left out", "plugin", t.plugin, "function", t.function, "err", v)
			ok = false
		}
	}()
	def := &sdk.Tool{Name: t.def.Name, Title: t.def.Title, Description: t.def.Description, InputSchema: t.def.InputSchema}
	if len(t.def.OutputSchema) > 0 {
		def.OutputSchema = t.def.OutputSchema
	}
	s.sdk.AddTool(def, s.handler(t))
	return true
}

// boundToolNames answers a call to a tool whose name no tool can have
// without quoting the name in full, as the SDK's "unknown tool" does: a
// client's megabyte of name is not sent back to it.
func boundToolNames(next sdk.MethodHandler) sdk.MethodHandler {
	return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
		if r, ok := req.(*sdk.CallToolRequest); ok && r.Params != nil && len(r.Params.Name) > MaxToolName {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(
				"unknown tool %s: a tool name is at most %d bytes, this one %d", clipQuote(r.Params.Name), MaxToolName, len(r.Params.Name))}
		}
		return next(ctx, method, req)
	}
}

// version is plugsock's module version, for the initialize answer.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := ""
	if bi.Main.Path == "github.com/plugsock/plugsock" {
		v = bi.Main.Version
	}
	for _, m := range bi.Deps {
		if m.Path == "github.com/plugsock/plugsock" {
			v = m.Version
		}
	}
	if v == "" {
		return "(devel)"
	}
	return v
}

// atLevel logs every record to h at one level.
type atLevel struct {
	h     slog.Handler
	level slog.Level
}

func (a atLevel) Enabled(ctx context.Context, _ slog.Level) bool { return a.h.Enabled(ctx, a.level) }
func (a atLevel) Handle(ctx context.Context, r slog.Record) error {
	r.Level = a.level
	return a.h.Handle(ctx, r)
}
func (a atLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLevel{a.h.WithAttrs(attrs), a.level}
}
func (a atLevel) WithGroup(name string) slog.Handler { return atLevel{a.h.WithGroup(name), a.level} }
