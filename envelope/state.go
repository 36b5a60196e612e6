package envelope

// A connection's life is one value, connState, and every change to it is
// made by advance, so the rules below hold in one place:
//
//	           a write fails
//	  open ──────────────────────▶ draining
//	    │                             │
//	    │ Close, CloseWithError,      │ Close, CloseWithError,
//	    │ a protocol violation        │ a protocol violation
//	    ▼                             │
//	  closing ◀───────────────────────┘
//	    │
//	    │ the read loop exits (from any phase)
//	    ▼
//	  ended
//
// A connection only moves forward: a transition to a phase it is already
// in or past leaves the phase as it is. The first non-nil reason any
// transition gives is kept as why the connection ended (Err), and none
// after it replaces it.
//
// What each phase means for the rest of Conn:
//
//   - open: calls are made and answered.
//   - draining: a write failed, other than by timing out (drain.go). New
//     calls fail; the read loop goes on reading what the peer sent before
//     it went, under a read deadline.
//   - closing: the stream is closed, or about to be by the goroutine that
//     moved here. New calls fail.
//   - ended: the read loop has exited and taken the pending calls to fail
//     them; Done is closed right after.

// connPhase is where a connection is in its life; phases are ordered as
// it moves through them.
type connPhase uint8

const (
	connOpen connPhase = iota
	connDraining
	connClosing
	connEnded
)

// connState is a connection's phase and why it ended. Conn.mu guards it.
type connState struct {
	phase  connPhase
	reason error
}

// advance moves s forward to phase to, unless it is there or past it
// already, and records reason, when not nil, as why the connection ended
// unless a reason is recorded already. It reports the phase s was in and
// whether it recorded reason. It is the only code that changes s; Conn.mu
// must be held.
func (s *connState) advance(to connPhase, reason error) (from connPhase, recorded bool) {
	from = s.phase
	if to > s.phase {
		s.phase = to
	}
	if s.reason == nil && reason != nil {
		s.reason = reason
		recorded = true
	}
	return from, recorded
}

// open reports whether new calls may be made.
func (s *connState) open() bool { return s.phase == connOpen }

// The transitions, one method per event. Each changes the state under
// c.mu and releases it before doing anything that may block or call out.

// closeWith is Close and CloseWithError's transition: to closing; the
// caller then closes the stream.
func (c *Conn) closeWith(reason error) {
	c.mu.Lock()
	c.state.advance(connClosing, reason)
	c.mu.Unlock()
}

// violated is the read loop's transition on a protocol violation: to
// closing, the read loop ending the connection next. It reports whether
// err is the reason recorded, that is, whether the connection was not
// already ending for another reason.
func (c *Conn) violated(err error) (first bool) {
	c.mu.Lock()
	_, first = c.state.advance(connClosing, err)
	c.mu.Unlock()
	return first
}

// drainAfter is the transition on a failed write that leaves reading
// possible: to draining. It reports whether the connection was open, so
// that exactly one goroutine starts the drain.
func (c *Conn) drainAfter(err error) (first bool) {
	c.mu.Lock()
	from, _ := c.state.advance(connDraining, err)
	c.mu.Unlock()
	return from == connOpen
}

// ended is the read loop's last transition, once it has stopped reading
// for err: to ended. It returns the calls still waiting, which no answer
// can reach any more, and the notices of those sent with SendNotify; from
// now on none is added.
func (c *Conn) ended(err error) (map[uint64]chan *Envelope, map[uint64]notice) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.advance(connEnded, err)
	pending, notify := c.pending, c.notify
	c.pending, c.notify = nil, nil
	c.progress = nil
	return pending, notify
}
