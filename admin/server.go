package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// MaxBodySize bounds a request body. A payload larger than this is refused
// with 413 before any of it reaches a plugin.
const MaxBodySize = 4 << 20

// DefaultHeartbeat is how often an idle event stream gets a comment line,
// so that proxies and browsers keep it open and a vanished client is
// noticed.
const DefaultHeartbeat = 15 * time.Second

// TraceHeader carries a call's trace id. A request may set it to choose
// the id; every call and broadcast response carries the id that was used,
// so the host's and the plugin's log lines about the call can be found.
const TraceHeader = "X-Plugsock-Trace"

// Server serves the admin API and the web console for one socket.Socket.
// Create it with New; mount it on any http.Server or mux. It is safe for
// concurrent use.
type Server struct {
	s         *socket.Socket
	log       *slog.Logger
	heartbeat time.Duration
	mux       *http.ServeMux
	token     []byte   // SHA-256 of the token; nil: none required
	hosts     []string // extra names the server answers to (Config.Hosts)
	cop       *http.CrossOriginProtection
	metrics   http.Handler // GET /metrics; nil: no such route
	required  []string     // plugins GET /readyz waits for (Config.Required)
	mcp       http.Handler // /mcp; nil: no such route

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	closed  bool
	done    chan struct{} // closed by Close
	dropped atomic.Uint64 // events lost by slow subscribers, all time
}

// Option configures a Server: pass it to New. Config is the one there is.
type Option interface{ apply(*Server) }

// Config holds a Server's settings. Its zero value means every default: a
// field left zero keeps its default.
type Config struct {
	// Logger is where the Server logs; slog.Default() when nil.
	Logger *slog.Logger

	// Heartbeat is how often an idle event stream gets a comment line;
	// DefaultHeartbeat when zero or less.
	Heartbeat time.Duration

	// Token, when not empty, is required on every API route (everything
	// under /api/, /api/health included), sent as "Authorization: Bearer
	// <token>". Requests without it, or with another, are answered 401.
	// Empty, the default, requires none: then anything that can reach the
	// server can drive every plugin, so listen on loopback only and keep
	// other users off the machine. The web console and its assets are
	// served without the token, and so are the probes, GET /healthz and
	// GET /readyz, which then answer their status alone (health.go).
	Token string

	// Hosts are names (or addresses) the server may be reached by besides
	// the ones always allowed, such as the host's own DNS name when the
	// admin API listens beyond loopback. A request whose Host header names
	// anything else is refused with 403, which is what stops DNS
	// rebinding. Always allowed: "localhost" and names under
	// ".localhost", loopback addresses, and the address the request's
	// connection was accepted on. Each entry is a host name or IP address,
	// with or without a port ("admin.example", "10.0.0.5:7701", "[::1]");
	// ports are ignored, since the browser connects to the port it names.
	// Names are compared without regard to case.
	Hosts []string

	// Metrics, when not nil, answers GET /metrics: the socket's metrics
	// (socket.Socket.Collectors) in the Prometheus format, as
	// promhttp.HandlerFor serves a registry holding them. The route is
	// guarded like the API: with Token set, a scrape must send it. The
	// admin package leaves the registry and its format to the caller.
	Metrics http.Handler

	// Required names the plugins the host needs to be of use: GET /readyz
	// answers 200 only while each is connected, not unhealthy, and, when
	// the socket checks its health, checked once (a degraded plugin is
	// ready, and reported). A name is as Call takes it: "calc" is any
	// version of calc, "calc@1.2.0" that one. They add to those already
	// required.
	Required []string

	// MCP, when not nil, serves /mcp, every method: the Model Context
	// Protocol's Streamable HTTP transport, as an mcp.Server (package
	// github.com/plugsock/plugsock/mcp) serves it. The route is guarded
	// like the API: with Token set, an MCP client must send it, and a
	// browser page from elsewhere is refused, GETs included.
	MCP http.Handler
}

// apply overlays the settings c sets, those not left zero, on a; Hosts
// add to those already allowed.
func (c Config) apply(a *Server) {
	if c.Logger != nil {
		a.log = c.Logger
	}
	if c.Heartbeat > 0 {
		a.heartbeat = c.Heartbeat
	}
	if c.Token != "" {
		sum := sha256.Sum256([]byte(c.Token))
		a.token = sum[:]
	}
	if c.Metrics != nil {
		a.metrics = c.Metrics
	}
	for _, name := range c.Required {
		if name != "" {
			a.required = append(a.required, name)
		}
	}
	if c.MCP != nil {
		a.mcp = c.MCP
	}
	for _, h := range c.Hosts {
		if n := hostName(h); n != "" {
			a.hosts = append(a.hosts, n)
		}
	}
}

// New returns a Server for s.
func New(s *socket.Socket, opts ...Option) *Server {
	a := &Server{
		s:         s,
		log:       slog.Default(),
		heartbeat: DefaultHeartbeat,
		subs:      make(map[*subscriber]struct{}),
		done:      make(chan struct{}),
		cop:       http.NewCrossOriginProtection(),
	}
	for _, o := range opts {
		o.apply(a)
	}
	a.routes()
	return a
}

// routes registers every route. Each path also gets a pattern without a
// method, so that a wrong method is answered with a JSON 405 that lists
// the right ones instead of net/http's plain-text one.
func (a *Server) routes() {
	m := http.NewServeMux()
	handle := func(path string, byMethod map[string]http.HandlerFunc) {
		var allow []string
		for method, h := range byMethod {
			m.HandleFunc(method+" "+path, h)
			allow = append(allow, method)
			if method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		sort.Strings(allow)
		allowed := strings.Join(allow, ", ")
		m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			a.fail(w, r, http.StatusMethodNotAllowed, 0,
				fmt.Sprintf("method %s is not allowed on %s; use %s", r.Method, r.URL.Path, allowed))
		})
	}
	handle("/api/health", map[string]http.HandlerFunc{http.MethodGet: a.health})
	handle("/api/health/plugins", map[string]http.HandlerFunc{http.MethodGet: a.pluginHealths}) // health.go
	handle("/healthz", map[string]http.HandlerFunc{http.MethodGet: a.healthz})
	handle("/readyz", map[string]http.HandlerFunc{http.MethodGet: a.readyz})
	handle("/api/plugins", map[string]http.HandlerFunc{http.MethodGet: a.list})
	handle("/api/plugins/{name}", map[string]http.HandlerFunc{http.MethodGet: a.describe, http.MethodDelete: a.unplug})
	handle("/api/plugins/{name}/openrpc", map[string]http.HandlerFunc{http.MethodGet: a.openRPC})
	handle("/api/plugins/{name}/config", map[string]http.HandlerFunc{http.MethodGet: a.pluginConfig, http.MethodPut: a.configure})
	handle("/api/plugins/{name}/call/{method}", map[string]http.HandlerFunc{http.MethodPost: a.call})
	handle("/api/broadcast/{method}", map[string]http.HandlerFunc{http.MethodPost: a.broadcast})
	handle("/api/events", map[string]http.HandlerFunc{http.MethodGet: a.events})
	handle("/api/streams", map[string]http.HandlerFunc{http.MethodGet: a.streams})
	handle("/api/stats", map[string]http.HandlerFunc{http.MethodGet: a.stats}) // stats.go
	handle("/api/exits", map[string]http.HandlerFunc{http.MethodGet: a.exits})
	a.eventRoutes(handle) // events_api.go
	if a.metrics != nil {
		handle("/metrics", map[string]http.HandlerFunc{http.MethodGet: a.metrics.ServeHTTP})
	}
	if a.mcp != nil {
		// The transport answers its methods itself (POST, GET, DELETE).
		m.Handle("/mcp", a.mcp)
	}
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusNotFound, 0, fmt.Sprintf("no API route %s %s; see docs/admin-api.md", r.Method, r.URL.Path))
	})
	a.consoleRoutes(m, handle)
	a.mux = m
}

// ServeHTTP answers the admin API under /api/ and serves the console at /.
// Every request is first checked for its Host, its origin and, under
// /api/, its token (see Config.Hosts and Config.Token).
func (a *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !a.guard(w, r) {
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		for seg := range strings.SplitSeq(r.URL.Path, "/") {
			if seg == "." || seg == ".." {
				// ServeMux would redirect to the cleaned path, which
				// names another route: "." and ".." name nothing here.
				a.fail(w, r, http.StatusBadRequest, 0, fmt.Sprintf(
					"path %q has a %q segment; no plugin or method is named \".\" or \"..\"", r.URL.Path, seg))
				return
			}
		}
	}
	a.mux.ServeHTTP(w, r)
}

// ErrorBody is the error member of every error response, and the error of
// one plugin in a broadcast: a JSON-RPC error code (0 when the error did
// not come from a plugin or the wire) and a message.
type ErrorBody struct {
	Code    int64  `json:"code"`
	Message string `json:"message"`
}

type errorResponse struct {
	Error ErrorBody `json:"error"`
}

// BroadcastResult is one plugin's answer to a broadcast: a result or an
// error.
type BroadcastResult struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *ErrorBody      `json:"error,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorResponse{ErrorBody{Message: "encoding response: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (a *Server) fail(w http.ResponseWriter, r *http.Request, status int, code int64, msg string) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	a.log.Log(r.Context(), level, "plugsock admin: request failed",
		"method", r.Method, "path", r.URL.Path, "status", status, "code", code, "message", msg)
	writeJSON(w, status, errorResponse{ErrorBody{Code: code, Message: msg}})
}

func (a *Server) health(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	n := len(a.subs)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, Health{Plugins: a.s.Stats().Plugins, Subscribers: n, EventsDropped: a.dropped.Load()})
}

// Streams is the answer of GET /api/streams: the streams open between the
// host and its plugins.
type Streams struct {
	Streams []socket.StreamInfo `json:"streams"`
}

func (a *Server) streams(w http.ResponseWriter, r *http.Request) {
	out := a.s.Streams()
	if out == nil {
		out = []socket.StreamInfo{}
	}
	writeJSON(w, http.StatusOK, Streams{out})
}

// Exits is the answer of GET /api/exits: how the last processes of
// launched plugins ended, oldest first.
type Exits struct {
	Exits []socket.Exit `json:"exits"`
}

func (a *Server) exits(w http.ResponseWriter, r *http.Request) {
	out := a.s.Exits()
	if out == nil {
		out = []socket.Exit{}
	}
	writeJSON(w, http.StatusOK, Exits{out})
}

func (a *Server) list(w http.ResponseWriter, r *http.Request) {
	conn := a.s.Connected(false)
	out := make([]*envelope.PluginInfo, 0, len(conn))
	for _, info := range conn {
		out = append(out, info)
	}
	slices.SortFunc(out, func(x, y *envelope.PluginInfo) int { return strings.Compare(x.Name, y.Name) })
	writeJSON(w, http.StatusOK, struct {
		Plugins []*envelope.PluginInfo `json:"plugins"`
	}{out})
}

// plugin returns the info of the plugin the path names, or answers 404.
func (a *Server) plugin(w http.ResponseWriter, r *http.Request) (*envelope.PluginInfo, bool) {
	name := r.PathValue("name")
	info := a.s.PluginInfo(name)
	if info == nil {
		a.fail(w, r, http.StatusNotFound, 0, noPlugin(name))
		return nil, false
	}
	return info, true
}

func noPlugin(name string) string { return fmt.Sprintf("no plugin named %q is connected", name) }

func (a *Server) describe(w http.ResponseWriter, r *http.Request) {
	if info, ok := a.plugin(w, r); ok {
		writeJSON(w, http.StatusOK, info)
	}
}

func (a *Server) openRPC(w http.ResponseWriter, r *http.Request) {
	if info, ok := a.plugin(w, r); ok {
		writeJSON(w, http.StatusOK, OpenRPCDocument(info))
	}
}

func (a *Server) unplug(w http.ResponseWriter, r *http.Request) {
	info, ok := a.plugin(w, r)
	if !ok {
		return
	}
	trace := traceID(w, r)
	a.log.Info("plugsock admin: unplugging", "plugin", info.Name, "trace", trace, "remote", r.RemoteAddr)
	a.s.Unplug(trace, info.Name)
	w.WriteHeader(http.StatusNoContent)
}

// traceID returns the trace id the request asked for, or a new one, and
// puts it on the response.
func traceID(w http.ResponseWriter, r *http.Request) string {
	id := r.Header.Get(TraceHeader)
	if id == "" || len(id) > 128 {
		id = uuid.NewString()
	}
	w.Header().Set(TraceHeader, id)
	return id
}

// payload reads the request body as one JSON value. An empty body is
// JSON null, returned as nil so that no params go on the wire.
func (a *Server) payload(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			a.fail(w, r, http.StatusRequestEntityTooLarge, 0,
				fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
		} else {
			a.fail(w, r, http.StatusBadRequest, 0, "reading request body: "+err.Error())
		}
		return nil, false
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, true
	}
	var probe json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		msg := "request body is not JSON: " + err.Error()
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			msg = fmt.Sprintf("request body is not JSON: %v (at byte %d)", err, syn.Offset)
		}
		a.fail(w, r, http.StatusBadRequest, 0, msg)
		return nil, false
	}
	return body, true
}

// callContext derives the context of a plugin call from the request's, so
// that a client hanging up cancels the call, bounded by ?timeout= when
// given.
func (a *Server) callContext(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc, time.Duration, bool) {
	ctx := envelope.WithTrace(r.Context(), traceID(w, r))
	q := r.URL.Query().Get("timeout")
	if q == "" {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, 0, true
	}
	d, err := time.ParseDuration(q)
	if err != nil || d <= 0 {
		a.fail(w, r, http.StatusBadRequest, 0,
			fmt.Sprintf("timeout %q is not a positive duration such as 500ms or 5s", q))
		return nil, nil, 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, d, true
}

// payloadArg turns a request body into CallContext's payload: nil when
// there is none, so that a request goes out without params.
func payloadArg(p json.RawMessage) any {
	if p == nil {
		return nil
	}
	return p
}

// reserved answers 400 when method is one of the protocol's own ("$/…"):
// those belong to the socket and the plugin library, and one sent from
// here would, say, make every plugin shut down.
func (a *Server) reserved(w http.ResponseWriter, r *http.Request, method string) bool {
	if !strings.HasPrefix(method, "$/") {
		return false
	}
	a.fail(w, r, http.StatusBadRequest, 0, fmt.Sprintf(
		"method %q is reserved: names starting with \"$/\" belong to the plugsock protocol itself (handshake, ping, shutdown, ...) and cannot be called through the admin API", method))
	return true
}

// answerDeadline gives the answer to a call, which may take longer than
// the http.Server's WriteTimeout, that timeout from when the plugin has
// answered: the timeout bounds a client reading the answer, not the
// plugin's work. Call the returned function once the answer is ready.
// (The read deadline needs no such care: net/http lifts it once the body
// has been read. And the next request on the connection gets a deadline
// of its own from the server.)
func answerDeadline(w http.ResponseWriter, r *http.Request) (ready func()) {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil || srv.WriteTimeout <= 0 {
		return func() {}
	}
	rc := http.NewResponseController(w)
	return func() { _ = rc.SetWriteDeadline(time.Now().Add(srv.WriteTimeout)) }
}

func (a *Server) call(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	if a.reserved(w, r, method) {
		return
	}
	info, ok := a.plugin(w, r)
	if !ok {
		return
	}
	// A plugin that declared no functions may still answer; let it say.
	if _, declared := info.Functions[method]; !declared && len(info.Functions) > 0 {
		a.fail(w, r, http.StatusNotFound, envelope.CodeMethodNotFound,
			fmt.Sprintf("plugin %q has no function %q", info.Name, method))
		return
	}
	payload, ok := a.payload(w, r)
	if !ok {
		return
	}
	ctx, cancel, timeout, ok := a.callContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	ready := answerDeadline(w, r)
	var out json.RawMessage
	err := a.s.CallContext(ctx, info.Name, method, payloadArg(payload), &out)
	ready()
	if err != nil {
		if r.Context().Err() != nil {
			// The client hung up: the plugin has been told to cancel and
			// nobody is left to read an answer.
			a.log.Debug("plugsock admin: client went away during call",
				"plugin", info.Name, "method", method, "trace", envelope.TraceFrom(ctx))
			return
		}
		status, body := classify(err, info.Name, method, timeout)
		a.fail(w, r, status, body.Code, body.Message)
		return
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	writeJSON(w, http.StatusOK, struct {
		Result json.RawMessage `json:"result"`
	}{out})
}

func (a *Server) broadcast(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	if a.reserved(w, r, method) {
		return
	}
	payload, ok := a.payload(w, r)
	if !ok {
		return
	}
	ctx, cancel, timeout, ok := a.callContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	ready := answerDeadline(w, r)
	// The calls are made here rather than through Socket.Broadcast, so
	// that each answer is kept as the plugin sent it and a client hanging
	// up or ?timeout= ends all of them. The socket checks each payload
	// against its own plugin's description when it validates.
	plugins := a.s.Connected(false)
	results := make(map[string]BroadcastResult, len(plugins))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for name := range plugins {
		wg.Go(func() {
			var out json.RawMessage
			err := a.s.CallContext(ctx, name, method, payloadArg(payload), &out)
			res := BroadcastResult{Result: out}
			if err != nil {
				_, body := classify(err, name, method, timeout)
				res = BroadcastResult{Error: &body}
			} else if len(out) == 0 {
				res.Result = json.RawMessage("null")
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	ready()
	if r.Context().Err() != nil {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Results map[string]BroadcastResult `json:"results"`
	}{results})
}

// statusOf is the HTTP status of an error a plugin answered with code.
// docs/admin-api.md has the table.
func statusOf(code int64) int {
	switch code {
	case envelope.CodeInvalidParams:
		return http.StatusBadRequest
	case envelope.CodeMethodNotFound:
		return http.StatusNotFound
	case envelope.CodeShuttingDown, envelope.CodeOverloaded:
		return http.StatusServiceUnavailable
	case envelope.CodeRequestCancelled:
		return http.StatusGatewayTimeout
	case envelope.CodeInternalError:
		// A panic in the method, or the plugin library failing to encode
		// the result: the plugin's fault, not the request's.
		return http.StatusInternalServerError
	case envelope.CodeParseError, envelope.CodeInvalidRequest:
		// The plugin could not read what the host sent: the two sides
		// disagree about the protocol.
		return http.StatusBadGateway
	}
	// CodeMethodError, and any code of the plugin's own: the method ran
	// and refused the request.
	return http.StatusUnprocessableEntity
}

// classify maps an error from Socket.CallContext onto an HTTP status and
// an error body. Errors a plugin answered keep their JSON-RPC code and
// message unchanged.
func classify(err error, name, method string, timeout time.Duration) (int, ErrorBody) {
	var rpc *envelope.Error
	if errors.As(err, &rpc) {
		return statusOf(rpc.Code), ErrorBody{Code: rpc.Code, Message: rpc.Message}
	}
	switch {
	case errors.Is(err, socket.ErrReservedMethod):
		// Refused here before it gets so far; kept for a socket that
		// reserves more.
		return http.StatusBadRequest, ErrorBody{Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		msg := fmt.Sprintf("call %s.%s timed out after %v", name, method, timeout)
		if timeout == 0 {
			// The socket's own default call timeout.
			msg = fmt.Sprintf("call %s.%s timed out: %v", name, method, err)
		}
		return http.StatusGatewayTimeout, ErrorBody{Message: msg}
	case errors.Is(err, socket.ErrNoPlugin):
		return http.StatusNotFound, ErrorBody{Message: noPlugin(name)}
	case errors.Is(err, envelope.ErrShutdown):
		return http.StatusServiceUnavailable, ErrorBody{Code: envelope.CodeShuttingDown, Message: err.Error()}
	case errors.Is(err, envelope.ErrOverloaded):
		return http.StatusServiceUnavailable, ErrorBody{Code: envelope.CodeOverloaded, Message: err.Error()}
	case errors.Is(err, envelope.ErrMethodNotFound):
		return http.StatusNotFound, ErrorBody{Code: envelope.CodeMethodNotFound, Message: err.Error()}
	case errors.Is(err, envelope.ErrInvalidParams):
		return http.StatusBadRequest, ErrorBody{Code: envelope.CodeInvalidParams, Message: err.Error()}
	}
	return http.StatusInternalServerError, ErrorBody{Message: err.Error()}
}
