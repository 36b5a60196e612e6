package main

// The serve command: a Socket and its admin API, until interrupted.

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/names"
	"github.com/plugsock/plugsock/internal/proc"
	"github.com/plugsock/plugsock/mcp"
	"github.com/plugsock/plugsock/mcpplugin"
	"github.com/plugsock/plugsock/socket"
)

// defaultListen is where serve accepts plugins, and where the example
// plugins dial when PLUGSOCK_ADDR is not set.
const defaultListen = envelope.DefaultAddr

var serveCmd = command{
	name:  "serve",
	usage: "[flags]",
	summary: "Host a socket for plugins, and its admin API, until interrupted.\n" +
		"Plugins dial the --listen address; 'plugsock list', 'call' and the other\n" +
		"client commands talk to the --admin address, which also serves a web\n" +
		"console (open it in a browser). Connects, disconnects and async data are\n" +
		"logged on stderr. SIGINT or SIGTERM shut down gracefully: every plugin\n" +
		"finishes its calls in flight and is unplugged.\n" +
		"\n" +
		"The admin API wants a token on every request. Without --admin-token or\n" +
		"$PLUGSOCK_ADMIN_TOKEN, serve makes one up and logs the console's URL\n" +
		"with it (http://127.0.0.1:7701/?token=...): open that URL, or give the\n" +
		"token, or the URL itself as --admin, to the client commands.\n" +
		"\n" +
		"--config names a YAML or JSON file that maps plugin names to their\n" +
		"configurations. A plugin that declares a configuration schema is checked\n" +
		"against its entry when it connects, and refused, naming each wrong field,\n" +
		"when it does not fit; 'plugsock configure' replaces an entry at run time.\n" +
		"\n" +
		"--mcp-server plugs in a Model Context Protocol server as a plugin whose\n" +
		"functions are its tools: 'NAME=COMMAND ARGS...' launches a program that\n" +
		"speaks MCP over its stdin and stdout (restarted when it fails, its stderr\n" +
		"logged), 'NAME=https://host/mcp' reaches one over Streamable HTTP. Quote\n" +
		"arguments holding spaces with ' or \". See docs/mcp.md.\n" +
		"\n" +
		"Plugins that have a health check are checked every --health-interval.\n" +
		"The admin address answers GET /healthz (200 while serve is up) and GET\n" +
		"/readyz (200 once every --require plugin is connected and not\n" +
		"unhealthy) without the token, for Kubernetes' probes.\n" +
		"\n" +
		"The admin address also serves MCP (the Model Context Protocol) at /mcp,\n" +
		"behind the same token: every function of every plugin is a tool named\n" +
		"PLUGIN.FUNCTION, for AI clients. --mcp-tools chooses which; 'plugsock mcp'\n" +
		"relays a client that launches stdio servers to it. docs/mcp.md has more.\n" +
		"\n" +
		"Events published (POST /api/topics/TOPIC/events, 'plugsock publish') are\n" +
		"delivered to the plugins that subscribe, and plugins with state are\n" +
		"snapshotted as they are unplugged (and every --snapshot-interval) and\n" +
		"restored when they connect again. --data keeps all of it in one file in\n" +
		"DIR, synced on every write, so that a restart, or a kill, loses nothing\n" +
		"acknowledged; without it, it is kept in memory. See docs/guide.md.",
}

func init() {
	serveCmd.run = runServe
	register(serveCmd)
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := serveCmd
	fs := c.flags()
	listenAddr := fs.String("listen", defaultListen, "`address` plugins dial: host:port, or unix:/path for a Unix socket")
	adminAddr := fs.String("admin", defaultAdmin, "`address` of the admin HTTP API (host:port); \"off\" for none")
	logFormat := fs.String("log-format", "text", "log `format` on stderr: text or json")
	logLevel := fs.String("log-level", "info", "least `level` logged: debug, info, warn or error; the socket's own lines appear at debug")
	shutdownTimeout := fs.Duration("shutdown-timeout", socket.DefaultShutdownTimeout, "how long plugins get to finish their calls at shutdown")
	// Secrets' defaults are read from the environment after parsing, not
	// given to the flag package, which would print them in --help.
	token := fs.String("token", "", "shared `secret` every plugin must present in its handshake; default $PLUGSOCK_TOKEN, else none")
	adminToken := fs.String("admin-token", "", "`secret` every admin API request must present (Authorization: Bearer); default $PLUGSOCK_ADMIN_TOKEN, else one is made up and logged in the console's URL")
	configFile := fs.String("config", "", "YAML or JSON `file` mapping plugin names to their configurations")
	validate := fs.Bool("validate", true, "check every call's payload against the function's schema (or its description) before it reaches the plugin; --validate=false sends payloads unchecked")
	validateOutput := fs.Bool("validate-output", false, "check every result against the function's outputSchema; one outside it is logged and counted, and returned all the same")
	var mcpServers stringList
	fs.Var(&mcpServers, "mcp-server", "an MCP server to plug in as a plugin (repeatable): `NAME=COMMAND ARGS...` to launch a program speaking MCP over stdio, or NAME=URL (http:// or https://) for one served over Streamable HTTP")
	healthInterval := fs.Duration("health-interval", 10*time.Second, "how often the health of plugins that have a health check is checked; 0 turns checks off")
	healthTimeout := fs.Duration("health-timeout", socket.DefaultHealthTimeout, "how long a health check may take before it counts as unhealthy")
	var required stringList
	fs.Var(&required, "require", "`name` of a plugin that must be connected and not unhealthy for GET /readyz to answer 200 (repeatable; name@version for one version)")
	serveMCP := fs.Bool("mcp", true, "serve MCP (Streamable HTTP) at /mcp on the admin address, behind the admin token; --mcp=false for none")
	dataDir := fs.String("data", "", "`directory` of the host's durable events, subscription offsets and plugin snapshots, kept in DIR/"+dataFile+"; default none: in memory, lost when serve stops")
	snapshotInterval := fs.Duration("snapshot-interval", 0, "how often plugins with state are snapshotted, besides as they are unplugged; 0 for only then")
	retentionAge := fs.Duration("retention-age", 0, "drop events older than this; 0 keeps them")
	retentionEvents := fs.Int("retention-events", 0, "keep at most this many events per topic; 0 for no limit")
	retentionBytes := fs.Int64("retention-bytes", 0, "keep at most this many bytes of events per topic, the latest; 0 for no limit")
	mcpTools := fs.String("mcp-tools", "", "`patterns` of the functions MCP clients get as tools, PLUGIN.FUNCTION separated by commas, * for any run of characters: 'calc.*,kv.Get'; default all")
	var adminHosts stringList
	fs.Var(&adminHosts, "admin-host", "another `name` the admin API may be reached by, beyond loopback and the --admin address (repeatable); requests naming any other host are refused, against DNS rebinding")
	pos, code, ok := c.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	setFromEnv(fs, "token", "PLUGSOCK_TOKEN")
	setFromEnv(fs, "admin-token", "PLUGSOCK_ADMIN_TOKEN")
	if len(pos) > 0 {
		return c.usageError(stderr, "unexpected argument %q", pos[0])
	}
	if *healthInterval < 0 || *healthTimeout <= 0 {
		return c.usageError(stderr, "--health-interval must be 0 or more, and --health-timeout more than 0")
	}
	if *snapshotInterval < 0 || *retentionAge < 0 || *retentionEvents < 0 || *retentionBytes < 0 {
		return c.usageError(stderr, "--snapshot-interval, --retention-age, --retention-events and --retention-bytes must be 0 or more")
	}
	specs := make([]mcpSpec, 0, len(mcpServers))
	for _, v := range mcpServers {
		spec, err := parseMCPServer(v)
		if err != nil {
			return c.usageError(stderr, "--mcp-server %q: %v", v, err)
		}
		specs = append(specs, spec)
	}
	level, err := parseLevel(*logLevel)
	if err != nil {
		return c.usageError(stderr, "--log-level must be debug, info, warn or error, not %q", *logLevel)
	}
	var newHandler func(io.Writer, *slog.HandlerOptions) slog.Handler
	switch *logFormat {
	case "text":
		newHandler = func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }
	case "json":
		newHandler = func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }
	default:
		return c.usageError(stderr, "--log-format must be text or json, not %q", *logFormat)
	}
	out := &lockedWriter{w: stderr}
	handler := newHandler(out, &slog.HandlerOptions{Level: level})
	log := slog.New(handler)
	// The socket reports connects and disconnects itself, at info; this
	// command logs them too (from Async, below), so the socket's lines
	// are kept for debug and warnings.
	socketLevel := slog.LevelWarn
	if level < slog.LevelInfo {
		socketLevel = level
	}
	socketLog := slog.New(newHandler(out, &slog.HandlerOptions{Level: socketLevel}))
	var configs map[string]json.RawMessage
	if *configFile != "" {
		if configs, err = readConfigs(*configFile); err != nil {
			return c.fail(stderr, "--config: %v", err)
		}
		log.Info("plugsock: configurations read", "file", *configFile, "plugins", slices.Sorted(maps.Keys(configs)))
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, err := openStore(*dataDir, log) // state.go
	if err != nil {
		return c.fail(stderr, "--data: %v", err)
	}
	defer store.Close()
	l, err := listen(*listenAddr)
	if err != nil {
		return c.fail(stderr, "%v", err)
	}
	var s socket.Socket
	// The host service the kv example stamps its entries with (demo.go).
	if err := s.RegisterName("Clock", clock{}); err != nil {
		_ = l.Close()
		return c.fail(stderr, "%v", err)
	}
	s.Serve(l, socket.Config{Logger: socketLog, ShutdownTimeout: *shutdownTimeout, Token: *token, Configs: configs,
		Validation: *validate, ValidateOutput: *validateOutput,
		HealthInterval: *healthInterval, HealthTimeout: *healthTimeout,
		Store: store, SnapshotInterval: *snapshotInterval, RetentionAge: *retentionAge, RetentionEvents: *retentionEvents, RetentionBytes: *retentionBytes})
	log.Info("plugsock: socket listening", "addr", listenName(l))
	remotes, err := plugMCPServers(ctx, &s, specs, log)
	if err != nil {
		_ = s.Shutdown("")
		return c.fail(stderr, "%v", err)
	}

	generated := *adminToken == ""
	if generated {
		*adminToken = rand.Text()
	}
	var mcpSrv *mcp.Server
	var mcpHandler http.Handler
	if *serveMCP && *adminAddr != "off" {
		mcpSrv = mcp.New(&s, mcp.Config{Logger: log, Tools: []string{*mcpTools}})
		mcpHandler = mcpSrv
	}
	adm := admin.New(&s, admin.Config{
		Logger:   log,
		Token:    *adminToken,
		Hosts:    append([]string{*adminAddr}, adminHosts...),
		Metrics:  metricsHandler(&s, log),
		MCP:      mcpHandler,
		Required: required,
	})
	var (
		httpSrv  *http.Server
		httpDone = make(chan error, 1)
	)
	if *adminAddr != "off" {
		al, err := net.Listen("tcp", *adminAddr)
		if err != nil {
			_ = s.Shutdown("")
			return c.fail(stderr, "admin API: %v", err)
		}
		httpSrv = adm.HTTPServer()
		httpSrv.ErrorLog = slog.NewLogLogger(handler, slog.LevelWarn)
		go func() { httpDone <- httpSrv.Serve(admin.LimitListener(al, admin.DefaultMaxConns)) }()
		base := "http://" + browsable(al.Addr())
		log.Info("plugsock: admin API listening", "url", base, "maxConns", admin.DefaultMaxConns)
		if mcpSrv != nil {
			log.Info("plugsock: MCP server listening, behind the admin token", "url", base+"/mcp", "tools", cmp.Or(*mcpTools, "all"))
		}
		if generated {
			// Like Jupyter: the one place the made-up token is shown, so
			// written whatever --log-level says. The console keeps it for
			// its tab and takes it out of the address bar.
			rec := slog.NewRecord(time.Now(), slog.LevelInfo, consoleMsg, 0)
			rec.AddAttrs(slog.String("url", base+"/?token="+url.QueryEscape(*adminToken)))
			_ = handler.Handle(ctx, rec)
		}
	}

	// The single reader of s.Async: it logs what happens and hands every
	// item to the admin API's event streams. It ends once the socket is
	// shut down and drained.
	asyncDone := make(chan struct{})
	go func() {
		defer close(asyncDone)
		for {
			item, err := s.Async()
			if err != nil {
				return
			}
			logItem(log, item)
			adm.Publish(item)
			if mcpSrv != nil {
				mcpSrv.Publish(item)
			}
		}
	}()

	status := exitOK
	select {
	case <-ctx.Done():
		log.Info("plugsock: shutting down")
	case err := <-httpDone:
		log.Error("plugsock: admin API failed", "err", err)
		status = exitFail
	}
	stop() // a second interrupt kills the process the usual way

	// Plugins first, so that calls made through the admin API and MCP
	// finish and answer; then the event streams and MCP sessions, which
	// would otherwise hold the HTTP server's shutdown open; then the HTTP
	// server.
	if err := s.Shutdown(""); err != nil {
		log.Warn("plugsock: shutdown", "err", err)
	}
	for _, r := range remotes {
		r.Close() // unplugged by Shutdown: this waits for its goroutine
	}
	<-asyncDone
	adm.Close()
	if mcpSrv != nil {
		mcpSrv.Close()
	}
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := httpSrv.Shutdown(sctx); err != nil {
			log.Warn("plugsock: admin API shutdown", "err", err)
			_ = httpSrv.Close()
		}
	}
	log.Info("plugsock: stopped")
	return status
}

// mcpSpec is one --mcp-server: a program to launch, or a URL to dial.
type mcpSpec struct {
	name string
	argv []string // the command and its arguments, or nil for url
	url  string
}

// parseMCPServer reads 'NAME=COMMAND ARGS...' or 'NAME=URL'.
func parseMCPServer(v string) (mcpSpec, error) {
	name, rest, ok := strings.Cut(v, "=")
	if !ok {
		return mcpSpec{}, errors.New("want NAME=COMMAND ARGS... or NAME=URL")
	}
	if err := names.Check(name); err != nil {
		return mcpSpec{}, err
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "http://") || strings.HasPrefix(rest, "https://") {
		if strings.ContainsAny(rest, " \t") {
			return mcpSpec{}, errors.New("a URL is all there is after NAME=")
		}
		if _, err := url.Parse(rest); err != nil {
			return mcpSpec{}, err
		}
		return mcpSpec{name: name, url: rest}, nil
	}
	argv, err := splitWords(rest)
	if err != nil {
		return mcpSpec{}, err
	}
	if len(argv) == 0 {
		return mcpSpec{}, errors.New("no command after NAME=")
	}
	return mcpSpec{name: name, argv: argv}, nil
}

// splitWords splits a command line into words as a shell would, without
// expanding anything: white space separates words, and single quotes,
// double quotes and a backslash keep what they quote together.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		word  strings.Builder
		in    bool // a word has begun, perhaps an empty one: ''
		quote rune
	)
	esc := false
	for _, r := range s {
		switch {
		case esc:
			word.WriteRune(r)
			esc = false
		case quote != 0 && r == quote:
			quote = 0
		case quote == '\'':
			word.WriteRune(r)
		case r == '\\':
			esc, in = true, true
		case quote == '"':
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, word.String())
				word.Reset()
				in = false
			}
		default:
			word.WriteRune(r)
			in = true
		}
	}
	if quote != 0 || esc {
		return nil, errors.New("unterminated quote or escape")
	}
	if in {
		words = append(words, word.String())
	}
	return words, nil
}

// plugMCPServers plugs in every --mcp-server, in order: a program is
// launched with the socket's restart policy, its standard error logged as
// serve's own lines are; a URL is dialled, and its plugin reconnects by
// itself until ctx ends or the socket stops it. The first that fails is
// the error, naming it.
func plugMCPServers(ctx context.Context, s *socket.Socket, specs []mcpSpec, log *slog.Logger) ([]*mcpplugin.Remote, error) {
	var remotes []*mcpplugin.Remote
	for _, sp := range specs {
		cfg := mcpplugin.Config{Name: sp.name, Logger: log}
		if sp.url != "" {
			r, err := mcpplugin.Dial(ctx, s, sp.url, cfg)
			if err != nil {
				for _, r := range remotes {
					r.Close()
				}
				return nil, fmt.Errorf("--mcp-server %s: %w", sp.name, err)
			}
			remotes = append(remotes, r)
			log.Info("plugsock: MCP server plugged in", "plugin", r.Name(), "url", sp.url)
			continue
		}
		cmd := exec.Command(sp.argv[0], sp.argv[1:]...)
		// Its standard error in serve's log, at info: MCP servers say
		// there what they are doing and why they fail.
		plugin := sp.name
		cmd.Stderr = proc.NewLines(64<<10, func(line string) {
			log.Info("plugsock: plugin output", "plugin", plugin, "stream", "stderr", "line", line)
		})
		name, err := s.Launch(ctx, cmd, mcpplugin.Launch(cfg))
		if err != nil {
			for _, r := range remotes {
				r.Close()
			}
			return nil, fmt.Errorf("--mcp-server %s: %w", sp.name, err)
		}
		log.Info("plugsock: MCP server plugged in", "plugin", name, "pid", cmd.Process.Pid, "command", strings.Join(sp.argv, " "))
	}
	return remotes, nil
}

// consoleMsg is the log message that carries the console's URL with the
// admin token serve made up.
const consoleMsg = "plugsock: admin console; its url carries the admin token, made up as none was given " +
	"(the client commands take the url as --admin, or the token as $PLUGSOCK_ADMIN_TOKEN)"

// setFromEnv sets the flag called name from the environment variable env
// unless the command line set it, so that an explicit --flag "" still
// wins over the environment.
func setFromEnv(fs *flag.FlagSet, name, env string) {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if v := os.Getenv(env); !set && v != "" {
		_ = fs.Set(name, v)
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// browsable is addr as a browser should dial it: a server listening on
// every interface is reached on loopback.
func browsable(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return addr.String()
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port()).String()
}

// listen listens on a TCP address, or on a Unix socket for "unix:/path".
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return nil, errors.New("unix: needs a path, as in unix:/tmp/plugsock.sock")
		}
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", addr)
}

// listenName is the address plugins dial, as PLUGSOCK_ADDR spells it.
func listenName(l net.Listener) string {
	if l.Addr().Network() == "unix" {
		return "unix:" + l.Addr().String()
	}
	return l.Addr().String()
}

// logItem logs one item from Socket.Async.
func logItem(log *slog.Logger, item *envelope.AsyncData) {
	switch p := item.Payload.(type) {
	case envelope.Connected:
		log.Info("plugsock: connected", "plugin", item.Name, "version", p.Info.Version)
	case envelope.Disconnected:
		log.Info("plugsock: disconnected", "plugin", item.Name, "graceful", p.Graceful)
	default:
		log.Info("plugsock: async", "plugin", item.Name, "payload", compact(p))
	}
}

// lockedWriter serialises writes from the several loggers that share it.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// parseLevel reads a --log-level value.
func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// metricsHandler serves the socket's metrics, with the Go runtime's and
// the process's, from a registry of their own: the default one would take
// in whatever any imported package registers there.
func metricsHandler(s *socket.Socket, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}
