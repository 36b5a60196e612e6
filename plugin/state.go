package plugin

import "github.com/plugsock/plugsock/envelope"

// A session's life is one value, its sessionPhase, and every change to it
// is made by a transition below, so the rules hold in one place:
//
//	                the host accepts the handshake
//	  handshaking ──────────────────────────────────▶ serving
//	    │     │                                          │
//	    │     │ $/shutdown                               │ Close,
//	    │     │                                          │ $/shutdown
//	    │     └──────────────────▶ stopping ◀────────────┘
//	    │ Close
//	    ▼
//	   cut
//
//	  Start has seen the connection end (from any phase): ended
//
// A session that a $/shutdown moved to stopping during the handshake
// stays there when the host accepts it: it is served until the stop is
// done. A handshake that fails leaves the phase as it is, and Start ends
// the session next.
//
// What each phase means for the rest of the session:
//
//   - handshaking: the handshake is under way. Calls are taken (a host
//     may call as soon as it has answered, before Start has read the
//     answer) and wait for ready.
//   - serving: the host accepted the handshake. Calls are taken and run.
//   - stopping: a stop has begun, at the host's request ($/shutdown) or
//     the plugin's (Close, with a goodbye). New calls are refused; those
//     in flight finish and answer, then the stop answers the $/shutdown,
//     if there was one, and closes the connection. Start returns nil.
//   - cut: Close came before the handshake's answer, when no goodbye may
//     be said. New calls are refused, Close closes the connection, and
//     Start returns nil.
//   - ended: Start has seen the connection end and waits for the stops
//     under way; no new one begins.
//
// The signals each have one place that closes them: ready, Start once
// info.Name is set and OnConnect has returned; stopped, the stop that
// moved the session to stopping, once the calls in flight have answered,
// which tells forward to flush the async hook and return; fwdDone,
// forward as it returns, or Start when the session did not connect and
// forward never ran. inflight counts the calls and stops the stops; Start waits
// for both before it returns.
//
// session.mu guards the phase and the calls in flight, and is the last
// lock taken: nothing else is locked, and nothing called that may block,
// while it is held.

// sessionPhase is where a session is in its life.
type sessionPhase uint8

const (
	sessionHandshaking sessionPhase = iota
	sessionServing
	sessionStopping
	sessionCut
	sessionEnded
)

// takesCalls reports whether a new call may start; session.mu must be
// held.
func (s *session) takesCalls() bool {
	return s.phase == sessionHandshaking || s.phase == sessionServing
}

// The transitions, one method per event. Each changes the phase under
// s.mu and releases it before doing anything that may block or call out.
// A transition that begins a stop counts it in s.stops under s.mu, so that
// Start, once it has moved the session to ended, waits for every stop
// that began; the caller then runs it on a goroutine of its own (go
// s.stop).

// answered is Start's transition once the handshake's call has returned
// err. It reports whether the session is connected (the host accepted the
// handshake and Close did not cut it short) and, if not, whether Close
// cut it short.
func (s *session) answered(err error) (connected, cut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.phase == sessionCut:
		return false, true
	case err != nil:
		return false, false
	case s.phase == sessionHandshaking:
		s.phase = sessionServing
	}
	return true, false
}

// leave is Close's transition. While handshaking it moves to cut, and the
// caller closes the connection. While serving it moves to stopping and
// begins a stop; the caller says goodbye, then runs the stop. In the
// other phases a stop is under way or over, and leave does nothing.
func (s *session) leave() (cut, goodbye bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.phase {
	case sessionHandshaking:
		s.phase = sessionCut
		return true, false
	case sessionServing:
		s.phase = sessionStopping
		s.signalStopping()
		s.stops.Add(1)
		return false, true
	}
	return false, false
}

// shutdownAsked is the read loop's transition on a $/shutdown request: to
// stopping from handshaking or serving. Every such request is answered
// once the calls in flight have finished, so it begins a stop in every
// phase but ended (not reached: the read loop has exited by then). first
// says whether that stop is the one that moved the session to stopping.
func (s *session) shutdownAsked() (stop, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.phase {
	case sessionEnded:
		return false, false
	case sessionHandshaking, sessionServing:
		s.phase = sessionStopping
		first = true
		s.signalStopping()
	}
	s.stops.Add(1)
	return true, first
}

// end is Start's last transition, once the connection has ended and the
// calls, the readers and forward are done: to ended, so that no stop
// begins any more. It waits for the stops that did begin, and reports
// whether the session was stopped in good order, by the host or by Close.
func (s *session) end() (graceful bool) {
	s.mu.Lock()
	from := s.phase
	s.phase = sessionEnded
	s.mu.Unlock()
	s.stops.Wait()
	return from == sessionStopping || from == sessionCut
}

// stop is a stop that a transition began. It lets the calls in flight
// answer; then the first stop has forward flush what is queued in the
// async hook; once that is done it answers the $/shutdown request with id
// (when there is one) and closes the connection.
func (s *session) stop(id envelope.ID, first bool) {
	defer s.stops.Done()
	s.inflight.Wait()
	if first {
		close(s.stopped)
	}
	<-s.fwdDone
	if !id.IsZero() {
		_ = s.conn.Reply(id, nil)
	}
	s.conn.Close()
}

// signalStopping closes stopping (Stopping), on the move to stopping; with
// s.mu held.
func (s *session) signalStopping() {
	if s.stopping != nil {
		close(s.stopping)
	}
}
