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
}

// callContext returns a new call's context. It derives from Background
// rather than from the session's context: deriving from a cancellable
// parent registers every call with that parent, under the parent's lock,
// and unregisters it when the call ends, which all concurrent calls of a
// session contend for. The session's end reaches the calls through
// cancelWithCalls instead, at the same moment the parent's cancellation
// would have.
func (s *session) callContext() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
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
