package mcpplugin

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// Defaults for the settings of Config.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxTools       = 1024
	DefaultMaxMessageSize = envelope.DefaultMaxFrameSize
	DefaultRetryBackoff   = 200 * time.Millisecond
	DefaultRetryMaxDelay  = 30 * time.Second
	DefaultLeaveTimeout   = 10 * time.Second
)

// Config holds the settings of the bridge to one MCP server. Its zero value
// means every default: a field left zero keeps its default.
type Config struct {
	// Name is the plugin name to ask the socket for. Empty, it is the
	// server's own name (serverInfo.name in its answer to initialize),
	// with the characters a plugin name may not hold replaced by '-'.
	Name string

	// Version is the plugin's version; empty, the server's own
	// (serverInfo.version).
	Version string

	// Logger is where the bridge logs; for Launch, the socket's logger
	// when nil, else slog.Default().
	Logger *slog.Logger

	// Timeout bounds each step of connecting: initialize, the whole of
	// tools/list (at start and after notifications/tools/list_changed)
	// and each handshake with the socket. Zero or less means
	// DefaultTimeout. A server that does not answer in time is refused
	// with an error saying which step it failed, and calls are bounded by
	// their callers' deadlines, not by this.
	Timeout time.Duration

	// MaxTools bounds the tools taken from one server. A tools/list with
	// more fails the connection with an error naming the limit, rather
	// than leave some out unseen. Zero or less means DefaultMaxTools. The
	// socket's own limits on descriptions apply too (docs/protocol.md,
	// "Limits on descriptions").
	MaxTools int

	// MaxMessageSize bounds one message from the server (a line on
	// stdio; a JSON body or one server-sent event over HTTP), one tool's
	// result as answered to the socket, and the handshake that describes
	// the tools, which the socket reads with its own frame limit
	// (socket.Config.MaxFrameSize). Zero or less means
	// DefaultMaxMessageSize, the socket's default frame limit.
	MaxMessageSize int

	// LeaveTimeout bounds how long the calls in flight may take to finish
	// when the bridge reconnects to the socket to describe a changed list
	// of tools; past it they are cancelled. Zero or less means
	// DefaultLeaveTimeout.
	LeaveTimeout time.Duration

	// ProtocolVersion is the MCP protocol version to offer; empty, the
	// latest the go-sdk speaks, which a server may answer with an older
	// one it speaks.
	ProtocolVersion string

	// HTTPClient is the client for a server given by URL (Dial); nil
	// means http.DefaultClient's settings.
	HTTPClient *http.Client

	// RetryBackoff and RetryMaxDelay set how Dial's plugin reconnects to
	// a server whose session ended: after RetryBackoff, doubling with
	// each failed attempt up to RetryMaxDelay, with jitter. Zero or less
	// means DefaultRetryBackoff and DefaultRetryMaxDelay.
	RetryBackoff  time.Duration
	RetryMaxDelay time.Duration
}

// settings are a Config with its defaults filled in.
type settings struct {
	Config
}

func (c Config) settings(fallback *slog.Logger) *settings {
	s := &settings{Config: c}
	if s.Logger == nil {
		s.Logger = fallback
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxTools <= 0 {
		s.MaxTools = DefaultMaxTools
	}
	if s.MaxMessageSize <= 0 {
		s.MaxMessageSize = DefaultMaxMessageSize
	}
	if s.LeaveTimeout <= 0 {
		s.LeaveTimeout = DefaultLeaveTimeout
	}
	if s.RetryBackoff <= 0 {
		s.RetryBackoff = DefaultRetryBackoff
	}
	if s.RetryMaxDelay <= 0 {
		s.RetryMaxDelay = DefaultRetryMaxDelay
	}
	s.RetryMaxDelay = max(s.RetryMaxDelay, s.RetryBackoff)
	return s
}
