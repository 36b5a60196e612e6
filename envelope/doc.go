// Package envelope is plugsock's wire layer: JSON-RPC 2.0 messages in
// LSP-style frames, and Conn, which multiplexes calls in both directions over
// one byte stream. The host (package socket) and Go plugins (package plugin)
// are built on it; a plugin in another language only has to speak what is
// described here.
//
// # Frames
//
// Every message is a header, a blank line and a JSON body of exactly
// Content-Length bytes:
//
//	Content-Length: 54\r\n
//	\r\n
//	{"jsonrpc":"2.0","id":1,"method":"Add","params":[1,2]}
//
// Header names are matched without regard to case, other header lines (such
// as Content-Type) are ignored, and blank lines between frames are tolerated.
// [AppendFrame] writes a frame and a [FrameReader] reads them. A body longer
// than the reader's limit ([DefaultMaxFrameSize] unless set) is never
// allocated: it is read through and discarded, and ReadFrame returns an
// error wrapping [ErrFrameTooLarge], after which the next frame can be read
// (a body declared more than 16 times the limit and over 256 MiB is
// refused from its header alone); a header that cannot be read wraps
// [ErrProtocol]; a stream that ends inside a frame gives
// [io.ErrUnexpectedEOF] and one that ends between frames gives exactly
// [io.EOF].
//
// A body's buffer grows only as its bytes arrive: a peer that declares a
// 4 MiB frame and sends a few bytes of it costs the reader 64 KiB, not
// 4 MiB. Reading and decoding an N-byte frame on a Conn allocates at most
// about 2.5N on the usual path (2N when params or result are most of it)
// and 3N when encoding/json must decode it (measured in
// TestFrameAllocation): a frame above 64 KiB is read into a
// buffer of its own, and when its params or result make up at least half
// of it, the Envelope keeps that buffer instead of a copy. Params and
// Result never point into a buffer the reader reuses, so they may be kept
// as they are.
//
// # Messages
//
// [Decode] parses a body, once, into an [Envelope], which is one of:
//
//   - a request: a method and an id; it must be answered ([Envelope.IsRequest]);
//   - a notification: a method and no id, or a null id; it is never
//     answered ([Envelope.IsNotification]);
//   - a response: an id and either a result or an error
//     ([Envelope.IsResponse]). "result":null is a result. An error may come
//     with a null id when the peer could not read the request's id.
//
// An [ID] is a string or a number in any form JSON allows (-1, 1.5, 1e2, a
// 30-digit integer): every id JSON-RPC 2.0 allows. It keeps its JSON text,
// so an answer carries the request's id back byte for byte, and two ids
// are equal when their text is. An id that is an object, an array or a
// boolean is refused with an error wrapping [ErrBadID] and [ErrProtocol].
// [NumberID] and [StringID] make one; the zero ID is no id, written null.
//
// Params and Result stay raw JSON until code that knows their Go type
// decodes them ([DecodeParams], or [Conn.Call]'s result argument). Batches, a
// "jsonrpc" other than "2.0", a method together with a result or error, a
// result together with an error, and a message that is none of the three
// kinds are refused with an error wrapping [ErrProtocol].
//
// Requests may carry a "meta" member, {"trace": id}, which plugsock adds to
// its calls (see Trace ids below).
//
// # Reserved methods
//
// Method names starting with "$/" belong to the protocol; no Go method name
// can start that way, so they never collide with a plugin's functions:
//
//   - [MethodHandshake], request, plugin to host: the plugin's [Handshake]
//     (its [PluginInfo] and credentials); the result is a [HandshakeResult]
//     with the name the host assigned. Nothing else may come first.
//   - [MethodCancel], notification, params [CancelParams]: the caller gave up
//     on the request with that id, named exactly as the request had it; its
//     handler should stop.
//   - [MethodAsync], notification, plugin to host: data the plugin pushes.
//   - [MethodShutdown], request, host to plugin: finish the calls in flight,
//     answer, and close. As a notification, plugin to host: the plugin is
//     leaving.
//   - [MethodPing], request: a liveness check.
//
// Every request is answered, a reserved method sent as a request where a
// notification was meant included: the host answers $/async and
// $/shutdown requests with a null result, and a Go plugin answers a
// $/cancelRequest request with one (docs/protocol.md, section 3).
//
// # Errors
//
// An error answer is an [*Error]: a code, a message and optional data. Its
// Error method returns the message unchanged, so a plugin method's own error
// text reaches the caller exactly as written. The codes are JSON-RPC's
// ([CodeParseError] -32700, [CodeInvalidRequest] -32600,
// [CodeMethodNotFound] -32601, [CodeInvalidParams] -32602,
// [CodeInternalError] -32603, which is also what a recovered panic becomes)
// and plugsock's own ([CodeMethodError] -32000 for a method's error,
// [CodeNameTaken] -32001, [CodeUnauthorized] -32002, [CodeShuttingDown]
// -32003, [CodeOverloaded] -32004 for a limit reached, and the LSP's
// [CodeRequestCancelled] -32800).
//
// [Error.Is] maps codes onto the package's sentinel errors, so callers test
// what went wrong with errors.Is however many layers wrapped the answer:
//
//	-32601 ErrMethodNotFound   -32602 ErrInvalidParams   -32003 ErrShutdown
//	-32001 ErrNameTaken        -32002 ErrUnauthorized    -32800 ErrCancelled
//	-32004 ErrOverloaded       -32006 ErrFrameTooLarge
//
// Errors that are not answers wrap sentinels directly: a Call on a closed or
// lost connection wraps [ErrShutdown], a malformed stream [ErrProtocol], an
// oversized frame [ErrFrameTooLarge].
//
// # Conn
//
// [NewConn] wraps any [io.ReadWriteCloser] (a net.Conn, a pipe to a child
// process, an in-memory pipe for in-process plugins); [Conn.Start] starts
// its one read loop. Both ends may call and serve at the same time:
//
//	c := envelope.NewConn(nc, envelope.ConnOptions{
//		Handler: func(c *envelope.Conn, m *envelope.Envelope) {
//			if m.IsRequest() {
//				c.Detach(m) // this Handler may take its time now
//				serve(c, m) // calls c.Reply(m.ID, result) or c.ReplyError
//			}
//		},
//		WriteTimeout: 10 * time.Second,
//	})
//	c.Start()
//	defer c.Close()
//	err := c.Call(ctx, "Add", args, &sum)
//
// The read loop decodes each message once. Responses go to the [Conn.Call]
// waiting for their id; requests and notifications go to the Handler, in the
// order they arrived. The Handler runs on the read loop and must not block:
// while it runs, no other message on the connection, not even the answer to
// a call, is read. Work that takes time, or that calls back over the same
// connection, belongs on a goroutine the Handler starts, or after
// [Conn.Detach]: a Handler that detaches its message goes on with the work
// where it is, and if the work takes more than a moment (50 µs) another
// goroutine takes over reading. Most calls are over by then, and skipping
// the hand-over to another goroutine is most of what makes a short call
// cheap (see docs/performance.md). Until a Handler detaches, it is called
// for one message at a time; after, it is called for the next messages
// while the detached one still runs, so a Handler that detaches must be
// safe for concurrent use. [Conn.Wait] waits for detached Handlers as well
// as for the connection's end. Every request must be answered once
// with [Conn.Reply] or [Conn.ReplyError]; a nil Handler answers every
// request with "method not found". A result that cannot be encoded as JSON
// is answered with [CodeInternalError] instead, and Reply returns the
// encoding error.
//
// [Conn.Call] sends a request with the next of the ids 1, 2, 3, ..., waits
// for its answer and decodes the result. The answer is matched by the id's
// numeric value, so a peer that writes 3 back as 3.0 or 3e0 is understood.
// Any number of goroutines may call at once; each gets its own answer. When the context ends first, Call sends
// [MethodCancel] for the id and returns the context's error; an answer that
// arrives later is dropped. [Conn.Send] and [AsyncCall.Await] are Call's two
// halves, for one goroutine with calls in flight on many connections at
// once; Send waits for no other write, and [Conn.SendNotify] says when
// each answer has come. [Conn.Notify] sends a notification. Every frame
// is written whole, with one Write under a mutex, so concurrent writers never
// interleave. On a *net.TCPConn or a unix stream *net.UnixConn, where Write
// boundaries mean nothing, frames that queue while a write is under way are
// written together, in order, with one Write: under many concurrent calls
// that saves most of the system calls. Every writer still waits for its own
// frame to be written.
//
// A malformed frame or message ends the connection: the Conn answers with a
// -32700 (unreadable) or -32600 (readable but not a valid message) error
// carrying a null id, so a person writing a plugin by hand sees why, then
// closes. Responses nobody waits for follow one rule on both sides:
//
//   - a late response, to an id this side sent but no longer waits for (the
//     call was cancelled, timed out or already answered), is ignored and
//     logged at debug level;
//   - a response to an id this side never sent (a string, or a number that
//     is not a whole number from 1 to the last one sent) is a violation:
//     -32600 with a null id, and the connection is closed;
//   - an error response with a null id, the peer's report that it could not
//     read something, is logged as a warning and otherwise ignored.
//
// [ConnOptions.WriteTimeout] bounds each write on streams that support write
// deadlines. Without it, a peer that stops reading blocks every writer on the
// connection (including the read loop when it answers) until [Conn.Close];
// with it, that peer is cut off.
//
// When the connection ends, by [Conn.Close], [Conn.CloseWithError], the peer
// hanging up, a failed write or a violation, every pending Call fails with an
// error wrapping [ErrShutdown], [ConnOptions.OnClose] runs once, and
// [Conn.Done] is closed. [Conn.Err] then says why: [io.EOF] when the peer hung
// up between messages, ErrShutdown after Close, otherwise the violation or
// I/O error. Calls made after that fail at once with an error wrapping
// ErrShutdown.
//
// A Conn's locks are leaves but one: [Conn.ReplyFirst] runs its function
// under the connection's write lock, and that function may take a lock of
// the caller's (the host takes Socket.mu there to admit a plugin). So the
// write lock comes before any lock such a function takes, and nothing may
// write to the Conn while holding one. The lock that guards the pending
// calls and the connection's state is never held while writing, closing
// or calling out.
//
// # Trace ids
//
// [WithTrace] puts a trace id in a context; [Conn.Call] sends the id of its
// context in the request's meta, the receiving side reads it with
// [Envelope.Trace], and plugsock's plugin package hands it to the method's
// context, where [TraceFrom] returns it. Both sides log it, so one id follows
// a call across processes.
package envelope
