package socket

import "sync/atomic"

// A plugin connection's life, as the host sees it, is one value,
// remote.state, and every change to it is one of the transitions below,
// so the rules hold in one place:
//
//	             handshake accepted,                 answer written
//	connecting ───── name reserved ─────▶ named ─────────────────────▶ live
//	               (reserve, handshake.go)         (goLive, under the     │
//	                                                connection's write    │
//	                                                lock; not once        │
//	                                                Shutdown has begun)   │
//	                                                                      │
//	                            Unplug or Shutdown (beginStop, stop.go),  │
//	                            or the plugin's $/shutdown (goodbye)      │
//	                                                                      ▼
//	                                                                   stopping
//
// The phase only moves forward, but for one step back: when the
// handshake's answer could not be written after all (answerLost), the
// connection goes back to named, since the plugin never learnt it was
// admitted. Whatever the phase, the connection's end
// runs Socket.disconnected (remote.go), which reports the disconnect once
// and closes remote.gone; the state is final by then.
//
// What each phase means for the rest of the socket:
//
//   - connecting: the first message must be a handshake, and the
//     handshake timer closes a connection that sends none in time.
//   - named: r.info is set (with the transition, then read-only) and the
//     name is reserved in Socket.plugins, but no call goes out and no API
//     reports the plugin. A connection the handshake's answer did not
//     reach, or that Shutdown overtook, ends here.
//   - live: calls go out; Connected, WaitFor and the rest report it.
//   - stopping: still reported, but new calls are refused (lookup), and
//     an address falls back past it (resolve).
//
// Beside the phase, the state holds the verdict on how the plugin left:
// graceful when it said goodbye or answered the socket's $/shutdown, cut
// off when the socket gave up waiting for it. A stop by the socket makes
// decided and closes it once the verdict is final; disconnected waits for
// that, so that a plugin that closes right after answering is still
// reported as graceful.
//
// Socket.mu guards the state: every transition, and every query but
// those on the phase, must be made with it held. The phase is atomic, so
// that the paths that run on every call and every message (lookup,
// remote.handle) and the listings read it without the lock; they act on
// it as on a value read just before the lock was let go. That lock comes second in the package's one lock order: the
// connection's write lock (envelope.Conn's) before Socket.mu. goLive runs
// inside Conn.ReplyFirst, under the write lock, so that no call overtakes
// the handshake's answer; hence nothing may write to a connection, or
// wait for a write, while holding Socket.mu.

// phase is where a plugin connection is in its life; phases are ordered
// as it moves through them.
type phase uint8

const (
	phaseConnecting phase = iota
	phaseNamed
	phaseLive
	phaseStopping
)

// connState is a plugin connection's phase and the verdict on its end.
// The zero value is a connection that has not handshaken.
type connState struct {
	ph       atomic.Uint32 // a phase; changed only under Socket.mu
	graceful bool          // the plugin said goodbye or answered $/shutdown
	cutoff   bool          // the socket gave up waiting for it
	decided  chan struct{} // made when a stop begins; closed once graceful and cutoff are final
}

func (st *connState) phase() phase     { return phase(st.ph.Load()) }
func (st *connState) setPhase(p phase) { st.ph.Store(uint32(p)) }

// The transitions, one method per event.

// reserve is the handshake's: its checks passed and the name is reserved.
func (st *connState) reserve() {
	if st.phase() == phaseConnecting {
		st.setPhase(phaseNamed)
	}
}

// goLive is the handshake's last: its answer is being written, and calls
// may follow it.
func (st *connState) goLive() {
	if st.phase() == phaseNamed {
		st.setPhase(phaseLive)
	}
}

// answerLost takes goLive back: writing the handshake's answer failed, so
// the plugin was never admitted, and its end is not reported (no
// Disconnected event and no callbacks, as there was no Connected event).
// Calls that went out behind the answer fail with the connection.
func (st *connState) answerLost() {
	if st.phase() >= phaseLive {
		st.setPhase(phaseNamed)
	}
}

// goodbye is the plugin's $/shutdown: it is leaving in good order. Sent
// before the connection went live, it only sets the verdict: such a
// connection never goes live, and stopping would make it look live.
func (st *connState) goodbye() {
	st.graceful = true
	if st.phase() == phaseLive {
		st.setPhase(phaseStopping)
	}
}

// beginStop is Unplug's and Shutdown's: no new call goes out. It reports
// whether this is the first stop, the one that asks the plugin to leave
// and must call decide; a later one only waits.
func (st *connState) beginStop() (first bool) {
	if st.decided != nil {
		return false
	}
	st.decided = make(chan struct{})
	if st.phase() == phaseLive {
		st.setPhase(phaseStopping)
	}
	return true
}

// decide gives the first stop's verdict: answered, when the plugin
// answered $/shutdown in any way; timedOut, when the stop's deadline
// passed first. It wakes disconnected.
func (st *connState) decide(answered, timedOut bool) {
	st.graceful = st.graceful || answered
	st.cutoff = !answered && timedOut
	close(st.decided)
}

// The queries the rest of the socket asks.

// named reports whether the handshake has been accepted (r.info is set).
func (st *connState) named() bool { return st.phase() >= phaseNamed }

// live reports whether the plugin has been announced: its handshake was
// answered. It stays true while the plugin stops.
func (st *connState) live() bool { return st.phase() >= phaseLive }

// callable reports whether new calls may go out: live and not stopping.
func (st *connState) callable() bool { return st.phase() == phaseLive }

// stopping reports whether a live plugin is on its way out.
func (st *connState) stopping() bool { return st.phase() == phaseStopping }

// leftGracefully is the verdict disconnected reports: the plugin left in
// good order and was not cut off.
func (st *connState) leftGracefully() bool { return st.graceful && !st.cutoff }

// cutOff reports whether a stop gave up waiting for the plugin.
func (st *connState) cutOff() bool { return st.cutoff }

// stopDecided returns the channel closed once a stop's verdict is final,
// or nil when no stop has begun.
func (st *connState) stopDecided() <-chan struct{} { return st.decided }
