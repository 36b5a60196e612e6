// Package socket is the host side of plugsock: a Socket accepts plugins
// that dial in over any net.Listener, learns what each one can do from its
// handshake, and lets the host call them.
//
// The zero value is ready to use:
//
//	var s socket.Socket
//	l, _ := net.Listen("tcp", "127.0.0.1:7700")
//	s.Serve(l) // returns at once; accepts in the background
//	defer s.Shutdown("")
//
//	s.WaitFor("calc", 5*time.Second)
//	sum, err := s.Call("", "calc", "Add", map[string]int{"a": 1, "b": 2})
//
// # Calling plugins
//
// Call decodes a result into an interface value the way encoding/json
// does (numbers become float64). CallContext decodes into a value of your
// own type and honours the context: when it ends, the plugin is sent
// $/cancelRequest and the method's context is cancelled. Broadcast and
// BroadcastContext call every connected plugin at once. A call or
// broadcast whose context has no deadline gets the socket's call timeout
// (Config.CallTimeout, 60 s by default), so a plugin that answers its pings
// but never a call holds nobody forever. Methods starting with "$/" are
// the protocol's and are refused. Any number of goroutines may call any
// number of plugins; each call gets its own answer or an error, never
// another call's answer.
//
// Every call carries a trace id: Call's id argument, or envelope.WithTrace
// on CallContext's context, or a new UUID. The plugin method sees it
// through envelope.TraceFrom, and the log lines about the call on both
// sides carry it (the socket logs failed calls at debug level, the plugin
// logs panics and answers it could not send).
//
// # Errors
//
// A plugin method's own error arrives as an *envelope.Error whose Error()
// is the method's text, unchanged. Everything else can be matched with
// errors.Is: ErrMethodNotFound, envelope.ErrInvalidParams, ErrNoPlugin for
// a name nobody has, ErrOverloaded (with the context's error) when a call
// waited for room among the calls in flight to the plugin until its
// context ended, ErrReservedMethod for a "$/" method, context.DeadlineExceeded
// past the context's deadline or the call timeout, and ErrShutdown once
// the socket is shut down or when the plugin's connection is lost during
// the call.
//
// # Plugins coming and going
//
// Names are unique: a plugin asking for a taken name is refused, unless
// WithKeySequencer tells the socket how to derive another. WaitFor waits
// for a name; Connected and PluginInfo return copies of what the plugins
// declared, including descriptions of every function's input and output
// (see package typedesc). RegisterCallback is told of every disconnect and
// whether it was graceful, in disconnect order, on a goroutine of the
// socket's. Unplug stops one plugin and Shutdown all of them; both let
// calls in flight finish and answer first, bounded by Config.ShutdownTimeout.
// Unplug returns once the plugin is gone, without waiting for the
// callbacks; Shutdown waits for them too, for at most the shutdown
// timeout more. Attach runs a Go plugin inside the host with the
// same semantics as one that dialled in.
//
// # Versions
//
// Several versions of one plugin may be connected at once. The first to
// connect gets the name it asked for, say "calc"; another version that
// connects while "calc" is taken is assigned "calc@2.0.0" (name@version)
// instead of being refused, so every plugin still has a name of its own,
// and Connected is keyed by those names. The same version twice is a
// duplicate and is refused (or renamed by WithKeySequencer) as before.
//
// Calls, WaitFor, PluginInfo and Unplug take an address: an assigned
// name; name@version, which reaches that version whatever name it was
// assigned; or the plain name, which reaches the plugin holding it and,
// when none does, the highest semantic version connected. So a new
// version can be brought up beside a running one without taking its
// traffic: callers opt in with name@version, and once the old version is
// unplugged the plain name passes to the newest one.
//
// # Launching plugin processes
//
// Launch starts a plugin executable, such as one whose main is
// plugin.Run, tells it through its environment where to connect, waits
// for its handshake and returns its name:
//
//	name, err := s.Launch(ctx, exec.Command("./plugins/calc"),
//		socket.LaunchConfig{Restart: socket.RestartOnFailure, StopGrace: 3 * time.Second})
//
// The socket then owns the process: its output goes to the socket's
// logger a line at a time, a crash is reported like any disconnect and
// the process is started again per the restart policy (with backoff, up
// to a limit), and Unplug and Shutdown stop it ($/shutdown, then SIGTERM,
// then SIGKILL) and reap it, so that no zombie and no orphan is left.
//
// # Async data
//
// Plugins push data through their async hook; the host reads it with
// Async, together with Connected and Disconnected events. Data waits as
// the JSON it arrived as and is decoded by Async. The queue is bounded by
// count and by memory, and shared fairly among the plugins; events are
// never dropped for data: see Async for what happens when it fills up,
// and Stats for the count of anything dropped.
//
// # Streams
//
// A plugin's stream functions (typedesc.Function.Stream: a source, a sink
// or a processor) are opened with OpenStream, which returns the host's
// end, an *envelope.Stream: Recv and Ack what the plugin sends, Send and
// CloseSend what it receives, Acked and Unacked for the outcomes. Credit
// bounds each direction (Config.StreamWindow), so a stalled stream holds
// up nothing else on the connection. Unplug and Shutdown let streams
// finish, up to the shutdown timeout, then cancel them; Streams lists the
// open ones.
//
// # Bounds
//
// No input from the network can crash or hang the host: frames have a
// maximum size (Config.MaxFrameSize), a new connection must handshake in
// time (Config.HandshakeTimeout), a plugin that stops reading is cut off
// (Config.WriteTimeout), one that stops answering is found out by $/ping
// (Config.HeartbeatInterval), a call without a deadline ends at the call
// timeout (Config.CallTimeout), calls waiting on one plugin and plugins
// connected at once are limited (Config.MaxInFlight, Config.MaxPlugins),
// and a connection that breaks the protocol is closed with a logged
// reason while every other plugin goes on working. Config.Token and a
// tls.Listener keep strangers out; Config.Validation checks payloads
// before they leave. Each has a safe default, which a zero Config means;
// docs/security.md has the threat model and the table. The socket logs
// through log/slog (Config.Logger) and never writes to stdout.
package socket
