package plugin

import (
	"context"

	"github.com/plugsock/plugsock/envelope"
)

// job is one call: its context, and the request.
type job struct {
	ctx    context.Context
	cancel context.CancelFunc
	m      *envelope.Envelope
	bad    error            // what is wrong with the call's metadata, if anything
	stream *envelope.Stream // the stream the call opened, for a stream method
}

// callContext returns a new call's context, with the deadline the
// caller sent, and reads the call's metadata: protocol 2 carries it in
// the params, which this reads on the read loop, once the connection
// knows its protocol (the answer to the handshake switched it), so that
// the call costs one context and not two. A malformed _meta is kept in
// bad, for serve to answer.
//
// It derives from Background rather than from the session's context:
// deriving from a cancellable parent registers every call with that
// parent, under the parent's lock, and unregisters it when the call ends,
// which all concurrent calls of a session contend for. The session's end
// reaches the calls through cancelWithCalls instead, at the same moment
// the parent's cancellation would have.
func (s *session) callContext(c *envelope.Conn, m *envelope.Envelope) (ctx context.Context, cancel context.CancelFunc, bad error) {
	ctx, cancel, bad = c.RequestContext(context.Background(), m)
	// Asked of the deadline, not of Done, which would make the channel
	// of a context that most calls never wait on.
	if _, ok := ctx.Deadline(); !ok {
		// No deadline came: a context of the call's own, which
		// $/cancelRequest and the session's end cancel.
		ctx, cancel = context.WithCancel(ctx)
	}
	return ctx, cancel, bad
}

// cancelWithCalls returns a function that runs cancel, which ends the
// session's context, and then cancels every call in flight.
func (s *session) cancelWithCalls(cancel context.CancelFunc) context.CancelFunc {
	return func() {
		cancel()
		s.mu.Lock()
		calls := make([]context.CancelFunc, 0, len(s.calls))
		for _, c := range s.calls {
			calls = append(calls, c.cancel)
		}
		s.mu.Unlock()
		for _, c := range calls {
			c()
		}
	}
}
