// Package plugin serves a plain Go value's methods to a plugsock host.
//
// A plugin is an ordinary struct. Its methods become functions the host
// can call by name, with JSON in and JSON out:
//
//	type Calc struct{}
//
//	type Args struct {
//		A int `json:"a"`
//		B int `json:"b"`
//	}
//
//	func (*Calc) Add(ctx context.Context, in Args) (int, error) {
//		return in.A + in.B, nil
//	}
//
//	func main() {
//		conn, err := net.Dial("tcp", "localhost:7000") // the host's socket
//		if err != nil {
//			log.Fatal(err)
//		}
//		var p plugin.Plugin
//		info := &envelope.PluginInfo{Name: "calc", Version: "1.0.0"}
//		if err := p.Start(&Calc{}, info, conn, nil); err != nil {
//			log.Fatal(err) // refused, or the connection was lost
//		}
//		// The host unplugged us or shut down.
//	}
//
// [Plugin.Start] handshakes, then serves calls until the host lets the
// plugin go. Any io.ReadWriteCloser will do for conn: a TCP or Unix
// connection, a pipe, a process's stdin and stdout.
//
// # Which methods are served
//
// Start registers every exported method, on the type of the value it is
// given, shaped
//
//	func (t *T) Name(ctx context.Context, in In) (Out, error)
//
// In is what the caller sends and Out what it gets back, both as
// encoding/json reads and writes them; use struct{} for "nothing". Every
// other method is ignored, so a plugin may have helpers of any shape:
// methods with more or fewer parameters or results, without the context
// first or the error last, with an In that is a channel, a func or an
// interface with methods (any is fine), or with an Out that is a channel
// or a func; unexported methods; and UseAsyncHook, whatever its shape.
// Configure is reserved too (see Configuration below).
//
// Methods declared on *T are not in the method set of T: pass a pointer.
// A value with no method to serve makes Start fail with an error wrapping
// [ErrNoMethods], which suggests the pointer when that is the mistake.
//
// # Descriptions
//
// The handshake tells the host, for every function, what its input and
// output look like as JSON: a [typedesc.Function] with the exact JSON
// Schemas of In and Out ([typedesc.InputSchema], [typedesc.OutputSchema])
// and their summaries ([typedesc.ForType]). Hosts show them to people and
// to tools in other languages, and may check payloads against the
// schemas. Struct tags and Enum methods refine the schemas (see package
// typedesc); a tag they cannot apply makes Start fail. To adjust a
// summary, for example to mark a field optional that its tag does not,
// pass info.Functions to Start; each entry is applied with
// [typedesc.Refine]:
//
//	info := &envelope.PluginInfo{Name: "calc", Functions: map[string]typedesc.Function{
//		"Add": {Input: &typedesc.Entity{Fields: []typedesc.Entity{
//			{Name: "b", Mandatory: false}, // b may be left out: it defaults to 0
//		}}},
//	}}
//
// Reflection stays the source of truth: a refinement cannot add a function
// or a field or change a type. An entry naming a field the type does not
// have makes Start fail; one naming a function the plugin does not have
// is ignored with a warning in the log.
//
// # Pushing data to the host
//
// A plugin with a method
//
//	func (t *T) UseAsyncHook(hook chan any)
//
// has it called once, before the handshake. Whatever the plugin sends on
// hook reaches the host as an $/async notification (Socket.Async on a
// plugsock host), in the order sent. Items sent before the handshake wait
// for it, and items already sent when the plugin stops in good order are
// delivered before it goes. The channel holds a few dozen items; beyond
// that a send waits for the connection (so UseAsyncHook itself must not
// send more than that), and between Starts nobody reads it: send from
// code that stops with the plugin, or with a select on a context or a
// done channel. The hook is never closed.
//
// The channel belongs to the Plugin, not to one connection: when the same
// Plugin starts the same value again (as [Run] does after a lost
// connection), UseAsyncHook is not called again, and items sent while the
// plugin was disconnected go out on the new connection.
//
// # Streams
//
// A method whose last parameter is a *[Source], *[Sink] or *[Stream], and
// which returns only an error, is a stream (protocol 2): it sends the host
// items, receives them, or both, in order, with flow control and
// acknowledgements, until it returns:
//
//	func (c *Conn) Read(ctx context.Context, from Position, out *plugin.Source[Record]) error
//	func (c *Conn) Write(ctx context.Context, in *plugin.Sink[Record]) error
//	func (u *UDF) Process(ctx context.Context, s *plugin.Stream[Point, Point]) error
//
// Send waits for the host's credit, so a slow host slows the method down
// and nothing is dropped; every item received must be settled (Ack,
// AckThrough or Reject) for more to come; Acked reports the host's
// outcomes of what the method sent, and Unacked what it never settled.
// [Stopping] tells a method that runs until told otherwise that the host
// wants the plugin to stop. Async data (above) is the fire-and-forget
// alternative: use a stream when every item must arrive.
//
// # Configuration
//
// A plugin with a method
//
//	func (t *T) Configure(ctx context.Context, cfg C) error
//
// declares a configuration: the JSON Schema of C ([typedesc.InputSchema])
// goes in the handshake as "configSchema". A protocol 2 host checks the
// configuration it holds for the plugin against it and refuses the
// handshake, naming each wrong member, when it does not fit; otherwise it
// sends it after the handshake, and Configure runs with it before any
// call: the host makes the plugin live once Configure has returned. When
// that first run fails (or panics), the host refuses the plugin and Start
// returns the error. The host may send a new configuration while the
// plugin runs; Configure then runs beside calls, never beside itself, and
// its error only answers the host. A method Configure of another shape
// makes Start fail. docs/guide.md has the details.
//
// # Errors
//
// What a method returns as its error reaches the caller as the message of
// an error answer, unchanged, with code -32000. To choose the code, return
// an [*envelope.Error] (or an error wrapping one): its code, message and
// data are sent as they are. A method that returns its context's error
// after the host cancelled the call answers with -32800, "request
// cancelled".
//
// A panic in a method is recovered, logged with its stack, and answered
// with code -32603 (internal error); the plugin goes on serving. Calls to
// a function the plugin does not have are answered with -32601, and input
// that does not decode into In with -32602, naming the method and, where
// encoding/json does, the field. A request that reuses the id of a call
// still in flight is answered with -32600 (invalid request) and not run;
// once a call is answered, its id is free again.
//
// # Context
//
// Calls run concurrently (a call starts on the goroutine that read its
// request, and reading moves to another goroutine if the call takes more
// than a moment), so methods must be safe for concurrent use. A call's
// context is cancelled when the host cancels the call (a deadline or
// cancellation on the host's side, sent as $/cancelRequest) and when the
// connection is lost; it is not cancelled when the host stops the plugin
// in good order, because calls in flight are then allowed to finish.
//
// Every call carries a trace id, the one the host's caller chose or a new
// UUID. [envelope.TraceFrom](ctx) returns it, and so does ctx.Value(ctxKey)
// when Start was given a non-nil ctxKey, which lets a plugin find it with
// the key its own logging already uses. Put it in log lines about the
// call: a plugsock host logs a call that fails, at debug level, with the
// same id.
//
// # Start and Close
//
// Start blocks while the plugin is connected and always closes conn
// before it returns. It returns nil when the plugin was stopped in good
// order: the host unplugged it or shut down (a $/shutdown request), or
// the plugin called [Plugin.Close]. Either way new calls are refused with
// -32003, the calls in flight finish and answer, then the connection
// closes. Otherwise Start returns an error that says why:
//
//   - a handshake the host refused: errors.Is(err, envelope.ErrNameTaken)
//     when the name is in use, envelope.ErrUnauthorized for a missing or
//     wrong Token;
//   - no answer to the handshake within HandshakeTimeout:
//     errors.Is(err, context.DeadlineExceeded);
//   - a lost connection: the error says "connection lost" and wraps the
//     cause (io.EOF when the host hung up);
//   - [ErrNoMethods], and [ErrRunning] when the Plugin is already running.
//
// After the handshake, info.Name holds the name the host assigned, which
// differs from the one asked for when the host renamed the plugin to keep
// names unique. info.Name is set, and OnConnect has returned, before the
// first call is served, so methods may read it.
//
// Close is the plugin's own orderly exit: it tells the host it is leaving
// (a $/shutdown notification), refuses new calls, and returns; the calls
// in flight finish and answer, then the connection closes and Start
// returns nil. Because Close does not wait for the calls in flight, a
// method may call it, and gets its answer to the host before the
// connection closes:
//
//	func (s *Server) Quit(ctx context.Context, _ struct{}) (string, error) {
//		s.plugin.Close()
//		return "bye", nil
//	}
//
// To know when the plugin is gone, wait for Start to return. Close before
// the host has answered the handshake cannot say goodbye (nothing may
// come before the handshake), so it just closes the connection, and Start
// returns nil. A Plugin runs one Start at a time and may be started again
// after Start returns.
//
// # Plugin executables
//
// A plugin that is a program of its own can make [Run] its main: Run
// finds the host through the environment a launching host sets
// (envelope.EnvAddr and friends), connects again by itself when the
// connection is lost, leaves in good order when its context ends, and
// prints its description for "program describe". See docs/lifecycle.md.
//
// # Settings
//
// The zero [Plugin] is ready to use. Its fields, read when Start begins,
// are all optional: Logger (slog.Default() when nil), HandshakeTimeout,
// MaxFrameSize for incoming messages, Token for hosts that require one,
// Launch for hosts that started the plugin's process themselves,
// HeartbeatInterval and HeartbeatMisses to notice a host that stopped
// answering, WriteTimeout to give up on one that stopped reading,
// MaxInFlight to bound the calls run at once (past it a call
// is answered with -32004), and OnConnect, called with the assigned name
// once the handshake succeeds. Calls wait for OnConnect to return, so it
// must not wait for a call; it may call Close.
package plugin
