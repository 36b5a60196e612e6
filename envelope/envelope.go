package envelope

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/plugsock/plugsock/typedesc"
)

// Reserved method names. They start with "$/", which no Go method name can,
// so they never collide with a plugin's own functions.
const (
	MethodHandshake = "$/handshake"
	MethodAsync     = "$/async"
	MethodShutdown  = "$/shutdown"
	MethodCancel    = "$/cancelRequest"
	MethodPing      = "$/ping"
	// MethodCall and MethodProgress exist in protocol 2 only: a plugin's
	// call to another plugin through the host, and a callee's progress
	// report on a call that asked for one.
	MethodCall     = "$/call"
	MethodProgress = "$/progress"
	// MethodConfigure hands a plugin its configuration (protocol 2).
	MethodConfigure = "$/configure"
)

// Protocol versions. A peer that names none in the handshake speaks
// Protocol1; Protocol is the highest this module speaks.
const (
	Protocol1 = 1
	Protocol2 = 2
	Protocol  = Protocol2
)

// Error codes carried in JSON-RPC error responses. The first five are the
// JSON-RPC 2.0 standard codes; the rest are plugsock's own (and the LSP's
// value for a cancelled request).
const (
	CodeParseError       = jsonrpc2.CodeParseError
	CodeInvalidRequest   = jsonrpc2.CodeInvalidRequest
	CodeMethodNotFound   = jsonrpc2.CodeMethodNotFound
	CodeInvalidParams    = jsonrpc2.CodeInvalidParams
	CodeInternalError    = jsonrpc2.CodeInternalError
	CodeMethodError      = -32000
	CodeNameTaken        = -32001
	CodeUnauthorized     = -32002
	CodeShuttingDown     = -32003
	CodeOverloaded       = -32004
	CodeForbidden        = -32005
	CodeFrameTooLarge    = -32006
	CodeRequestCancelled = -32800
)

// Sentinel errors. Errors returned by this module wrap them, or are *Error
// values whose code maps onto them, so errors.Is matches either way.
var (
	ErrShutdown       = errors.New("connection is shut down")
	ErrMethodNotFound = errors.New("method not found")
	ErrInvalidParams  = errors.New("invalid params")
	ErrNameTaken      = errors.New("plugin name taken")
	ErrUnauthorized   = errors.New("unauthorised")
	ErrCancelled      = errors.New("request cancelled")
	ErrFrameTooLarge  = errors.New("frame too large")
	ErrProtocol       = errors.New("protocol violation")
	// ErrOverloaded means a limit was reached: too many calls in flight,
	// or too many plugins connected. Trying again later may succeed.
	ErrOverloaded = errors.New("over capacity")
	// ErrForbidden means the host's policy refused the call: a plugin
	// calling another plugin it may not (protocol 2's $/call).
	ErrForbidden = errors.New("forbidden")
)

// Error is a JSON-RPC error object: what a peer answered instead of a
// result. Its Error method returns Message unchanged, so a plugin method's
// own error text reaches the caller as it was written.
type Error struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code int64, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Message }

// Is maps error codes onto the package's sentinel errors, so that
// errors.Is(err, ErrMethodNotFound) holds for an answer with code -32601.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrMethodNotFound:
		return e.Code == CodeMethodNotFound
	case ErrInvalidParams:
		return e.Code == CodeInvalidParams
	case ErrShutdown:
		return e.Code == CodeShuttingDown
	case ErrNameTaken:
		return e.Code == CodeNameTaken
	case ErrUnauthorized:
		return e.Code == CodeUnauthorized
	case ErrCancelled:
		return e.Code == CodeRequestCancelled
	case ErrOverloaded:
		return e.Code == CodeOverloaded
	case ErrForbidden:
		return e.Code == CodeForbidden
	case ErrFrameTooLarge:
		return e.Code == CodeFrameTooLarge
	}
	return false
}

// PluginInfo is what a plugin says about itself in the handshake.
type PluginInfo struct {
	Name      string                       `json:"name,omitempty"`
	Version   string                       `json:"version,omitempty"`
	Functions map[string]typedesc.Function `json:"functions,omitempty"`
}

// DeepCopy returns a copy that shares nothing with p. With full false the
// copy leaves out Functions, which is what listings want. A nil p gives nil.
func (p *PluginInfo) DeepCopy(full bool) *PluginInfo {
	if p == nil {
		return nil
	}
	c := &PluginInfo{Name: p.Name, Version: p.Version}
	if full && p.Functions != nil {
		c.Functions = make(map[string]typedesc.Function, len(p.Functions))
		for k, f := range p.Functions {
			c.Functions[k] = f.DeepCopy()
		}
	}
	return c
}

// AsyncData is one item a host receives from Socket.Async: data a plugin
// pushed through its async hook, or a Connected or Disconnected event.
// A plugin's data is decoded as encoding/json decodes into an interface
// value (maps, slices, strings, float64s, bools, nil), except that a
// number a float64 cannot hold, such as 1e400, is a json.Number with its
// exact text: every valid JSON value arrives.
type AsyncData struct {
	Name    string `json:"name,omitempty"`
	Payload any    `json:"payload,omitempty"`
}

// Connected is the Payload of the AsyncData that reports a plugin's
// handshake. Plugin payloads decode to JSON values (maps, slices, strings,
// numbers), never to this type, so a type switch tells them apart.
type Connected struct {
	Info *PluginInfo `json:"info"`
}

// Disconnected is the Payload of the AsyncData that reports a plugin's
// disconnect. Graceful is false for a crash, a kill or a dropped connection.
type Disconnected struct {
	Info     *PluginInfo `json:"info"`
	Graceful bool        `json:"graceful"`
}

// Handshake is the params of a $/handshake request. The host reads
// "token", "launch" and "functions" by their exact names, checks the
// token before it decodes anything else, and refuses functions nested
// deeper than typedesc.MaxDepth (docs/protocol.md, sections 5 and 6).
type Handshake struct {
	PluginInfo
	// Token is the shared secret a socket may require.
	Token string `json:"token,omitempty"`
	// Launch identifies a process the host started itself.
	Launch string `json:"launch,omitempty"`
	// Protocol is the highest protocol version the plugin speaks; zero
	// (left out) means Protocol1.
	Protocol int `json:"protocol,omitempty"`
	// Capabilities names optional features; unknown ones are ignored.
	Capabilities map[string]json.RawMessage `json:"capabilities,omitempty"`
}

// HandshakeResult is the result of a $/handshake request.
type HandshakeResult struct {
	// Name is the name the socket assigned; it differs from the one asked
	// for when the socket renamed the plugin to keep names unique.
	Name string `json:"name"`
	// Session identifies this connection in the host's logs.
	Session string `json:"session"`
	// Protocol is the version both sides speak from now on. A host
	// answers it only to a plugin that named one, so zero means
	// Protocol1.
	Protocol int `json:"protocol,omitempty"`
	// Capabilities names the host's optional features.
	Capabilities map[string]json.RawMessage `json:"capabilities,omitempty"`
	// Services describes the host services a plugin may call, by
	// "Service.Method" name; protocol 2 only.
	Services map[string]typedesc.Function `json:"services,omitempty"`
}

// Meta is the "meta" member protocol 1 adds to requests. Protocol 2 sends
// the trace id, and more, in params._meta instead (RequestContext reads
// it); Meta then holds its trace id.
type Meta struct {
	Trace string `json:"trace,omitempty"`
}

// CancelParams is the params of a $/cancelRequest notification.
type CancelParams struct {
	ID ID `json:"id"`
}

type traceKey struct{}

// traceCtx carries a trace id, as context.WithValue would, in one
// allocation where WithValue takes two (the string goes into an
// interface): every call makes one on each side. Its Value gives itself
// for traceKey, a pointer, which costs nothing to return.
type traceCtx struct {
	context.Context
	id string
}

func (c *traceCtx) Value(key any) any {
	if key == (traceKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func (c *traceCtx) String() string {
	return fmt.Sprintf("%v.WithTrace(%q)", c.Context, c.id)
}

// WithTrace returns a context carrying the trace id id. A call made with it
// sends id to the plugin, where TraceFrom returns it.
func WithTrace(ctx context.Context, id string) context.Context {
	if ctx == nil {
		panic("envelope.WithTrace: nil parent context")
	}
	return &traceCtx{ctx, id}
}

// TraceFrom returns the trace id carried by ctx, or "".
func TraceFrom(ctx context.Context) string {
	if c, ok := ctx.Value(traceKey{}).(*traceCtx); ok {
		return c.id
	}
	return ""
}

type traceContextKey struct{}

type traceContext struct{ parent, state string }

// WithTraceContext returns a context carrying a W3C Trace Context, the
// traceparent and tracestate header values. A protocol 2 call made with it
// sends them in params._meta, where the callee's TraceContextFrom finds
// them; protocol 1 has no room for them.
func WithTraceContext(ctx context.Context, traceparent, tracestate string) context.Context {
	return context.WithValue(ctx, traceContextKey{}, traceContext{traceparent, tracestate})
}

// TraceContextFrom returns the W3C Trace Context carried by ctx.
func TraceContextFrom(ctx context.Context) (traceparent, tracestate string) {
	tc, _ := ctx.Value(traceContextKey{}).(traceContext)
	return tc.parent, tc.state
}
