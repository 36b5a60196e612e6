// Package plugintest helps test plugsock plugins: a harness that calls a
// Go plugin in unit tests exactly as a host would, and a conformance
// battery that checks a plugin executable in any language against the
// wire protocol (docs/protocol.md).
//
// # Unit tests of a Go plugin
//
// New connects a plugin to a socket of its own and returns a Harness:
//
//	func TestAdd(t *testing.T) {
//		h := plugintest.New(t, &Calc{})
//		var sum int
//		if err := h.Call("Add", Args{A: 2, B: 3}, &sum); err != nil {
//			t.Fatal(err)
//		}
//		if sum != 5 {
//			t.Errorf("Add(2, 3) = %d", sum)
//		}
//	}
//
// Calls go through the real machinery: the handshake, the descriptions,
// JSON on the wire, the error codes, cancellation and the async hook, so
// what passes here behaves the same under a real host. Errors are what a
// host sees: an *envelope.Error carrying the method's own error text, or
// errors matching envelope.ErrMethodNotFound and envelope.ErrInvalidParams.
// Info returns the descriptions the host got; Async and NextAsync what the
// plugin pushed through its hook; OpenStream opens one of its streams, as
// a host does; Unplug stops the plugin in good order.
//
// By default the plugin runs over an in-memory pipe (socket.Socket.Attach);
// Config{TCP: true} uses a loopback connection instead. Either way the
// harness is shut down when the test ends and leaves no goroutine behind,
// so it is safe with go.uber.org/goleak. Log lines of the socket and the
// plugin go to t.Log.
//
// # Conformance of an executable
//
// Check starts a plugin executable, plays the host's part over raw
// frames, and reports one line per check:
//
//	report, err := plugintest.Check(ctx, exec.Command("python3", "plugin.py"), os.Stdout)
//
// which is what the command "plugsock check -- python3 plugin.py" runs.
// Check documents each check. In short: the handshake's shape and the
// function descriptions; $/ping; -32601 for an unknown method; -32602 for
// a payload of a JSON type its description rules out; a well-formed
// answer to every function called with the simplest payload it accepts
// (which is how a method's errors and panics get exercised); a healthy
// connection after $/cancelRequest; the $/shutdown sequence (calls in
// flight answered first, new calls refused with -32003, null answer,
// close, exit 0); framing; and $/async sent as notifications. What the
// battery sends is what the host sends, byte for byte, so a plugin that
// works against the host passes.
//
// The battery speaks the protocol the plugin asks for in its handshake,
// as the host does, and its report says which (Report.Protocol). A
// protocol 2 plugin gets protocol 2's frames (params always an object,
// metadata in params._meta) and four more checks: that _meta never
// reaches a function's input (meta); that everything it sends is plain
// JSON-RPC 2.0, with object params and no top-level meta (strict); that
// its calls to the battery's host service, Check.Echo, are well-formed
// (host services); and that its $/progress reports name a call in flight
// (progress). A plugin need not call a host service or report progress;
// those checks are skipped when it does not, and all four in protocol 1.
// A protocol 2 plugin that declares stream functions has them opened as
// streams, as the host opens them, rather than called: each is served as
// its shape (source, sink or processor) asks, with its credit, sequence
// numbers and settlements checked frame by frame, and one is sent an item
// past its credit, which it should fail the stream for (Report.Streams
// names them).
//
// Outside the battery, the extra headers check sees whether the plugin
// also reads frames with a Content-Type header line, which LSP clients
// send and the host does not: a plugin that does not gets a WARN (Status
// Warn) and still passes.
//
// The battery calls every function the plugin declares, and opens every
// stream, with made-up input; leave out those that must not be called
// that way, or that block until something happens, with
// CheckConfig.SkipFunctions.
package plugintest
