package socket

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
)

// Plugin state (docs/protocol.md, "Events and state"): a protocol 2
// plugin that declares the capability "state" is asked for a snapshot
// ($/snapshot) every Config.SnapshotInterval and as it is unplugged, and
// the socket keeps the latest in its Store under the name the plugin asks
// for. When a plugin of that name connects again, the socket hands the
// snapshot back ($/restore) after its configuration and before it goes
// live, so that no call reaches it before its state is back.
//
// A snapshot is taken at a barrier: the plugin's deliveries are paused
// until it has settled those it holds, so that the snapshot covers
// exactly the events acknowledged; the subscriptions it takes part in are
// held, committing their offsets only once a snapshot is stored, and a
// plugin with state that is lost rewinds them to those offsets. What the
// plugin restores and what it is delivered after agree: nothing counted
// twice, nothing missed, but for a host that dies between storing a
// snapshot and committing after it, which redelivers what the snapshot
// already holds.

// RestoreFailure is what the socket does with a plugin whose restore
// fails. The zero value is RestoreRefuse.
type RestoreFailure int

const (
	// RestoreRefuse refuses the plugin, as a configuration it does not
	// take is refused: Launch restarts its process as its policy says.
	RestoreRefuse RestoreFailure = iota
	// RestoreEmpty lets the plugin in without its state, which it starts
	// again from nothing.
	RestoreEmpty
)

func (p RestoreFailure) String() string {
	switch p {
	case RestoreRefuse:
		return "refuse"
	case RestoreEmpty:
		return "empty"
	}
	return fmt.Sprintf("RestoreFailure(%d)", int(p))
}

// ErrNoState is what Snapshot's error wraps for a plugin that keeps no
// state.
var ErrNoState = errors.New("plugin keeps no state")

// StateInfo is the snapshot the socket holds of a plugin's state.
type StateInfo struct {
	Plugin string    `json:"plugin"` // the name the plugin asked for, which it is kept under
	Size   int       `json:"size"`   // of the snapshot, in bytes
	Time   time.Time `json:"time"`   // when it was taken
}

// State returns what the socket's store holds of the state of the
// plugins that ask to be called name: ok false when it holds none.
func (s *Socket) State(ctx context.Context, name string) (info StateInfo, ok bool, err error) {
	h, err := s.events()
	if err != nil {
		return StateInfo{}, false, err
	}
	if err := eventlog.CheckName(name); err != nil {
		return StateInfo{}, false, fmt.Errorf("plugsock: state of %q: %w: %w", name, ErrEvents, err)
	}
	snap, ok, err := h.store.GetSnapshot(ctx, name)
	if err != nil || !ok {
		return StateInfo{}, false, err
	}
	return StateInfo{Plugin: name, Size: len(snap.Data), Time: snap.Time}, true, nil
}

// Snapshot takes a snapshot of the state of the plugin called name (an
// address as for CallContext) now, as the interval does, and returns once
// it is stored. The error wraps ErrNoState for a plugin without state.
func (s *Socket) Snapshot(ctx context.Context, name string) error {
	r, err := s.lookup(name)
	if err != nil {
		return err
	}
	h, err := s.events()
	if err != nil {
		return err
	}
	h.mu.Lock()
	m := h.members[r]
	h.mu.Unlock()
	if m == nil || !m.ev.stateful {
		return fmt.Errorf("plugsock: snapshot %s: %w: it declared no capability %q", name, ErrNoState, envelope.CapabilityState)
	}
	return h.takeSnapshot(ctx, m, "asked")
}

// snapshot takes a snapshot on the interval, bounded by the call
// timeout, and logs a failure.
func (h *eventsHub) snapshot(m *participant, why string) {
	d := m.r.configureTimeout()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := h.takeSnapshot(ctx, m, why); err != nil && m.r.conn.Err() == nil {
		m.r.cfg.log.Warn("plugsock: snapshot failed; the one before is kept", "plugin", m.r.info.Name, "why", why, "err", err)
	}
}

// takeSnapshot takes one snapshot at a barrier, stores it, and commits
// the offsets it covers.
func (h *eventsHub) takeSnapshot(ctx context.Context, m *participant, why string) error {
	m.snap.Lock()
	defer m.snap.Unlock()
	if m.final {
		return nil // the one of its Unplug is taken: nothing has changed since
	}
	r := m.r
	h.mu.Lock()
	ins := slices.Collect(maps.Values(m.insts))
	h.mu.Unlock()
	var bs []barrier
	defer func() {
		for _, in := range ins {
			in.d.resume(in)
		}
	}()
	for _, in := range ins {
		b, err := in.d.pause(ctx, in)
		if err != nil {
			return fmt.Errorf("waiting for it to settle its deliveries: %w", err)
		}
		bs = append(bs, b)
	}
	var res envelope.SnapshotResult
	if err := r.conn.Call(ctx, envelope.MethodSnapshot, nil, &res); err != nil {
		return fmt.Errorf("%s: %w", envelope.MethodSnapshot, err)
	}
	if limit := r.cfg.maxSnapshot; len(res.Data) > limit {
		return fmt.Errorf("a snapshot of %d bytes, more than the limit of %d (Config.MaxSnapshotSize)", len(res.Data), limit)
	}
	if err := h.store.PutSnapshot(ctx, m.ev.asked, eventlog.Snapshot{Data: res.Data}); err != nil {
		return fmt.Errorf("storing it: %w", err)
	}
	for _, b := range bs {
		b.d.commitThrough(b)
	}
	r.cfg.log.Debug("plugsock: snapshot stored", "plugin", r.info.Name, "as", m.ev.asked, "size", len(res.Data), "why", why)
	return nil
}

// unplugging takes the last snapshot of a plugin with state as it is
// unplugged, its streams closed and before it is asked to stop, within
// ctx, the stop's deadline.
func (h *eventsHub) unplugging(ctx context.Context, r *remote) {
	if h == nil {
		return
	}
	h.mu.Lock()
	m := h.members[r]
	h.mu.Unlock()
	if m == nil || !m.ev.stateful {
		return
	}
	err := h.takeSnapshot(ctx, m, "unplug")
	m.snap.Lock()
	m.final = err == nil
	m.snap.Unlock()
	if err != nil && r.conn.Err() == nil {
		r.cfg.log.Warn("plugsock: snapshot at unplug failed; the one before is kept", "plugin", r.info.Name, "err", err)
	}
}

// holdOnlyConf is what a plugin with state to restore and no
// configuration goes live with: it holds the plugin's async data until
// it is announced, as a configuration does (config.go), and configures
// nothing.
func holdOnlyConf() *pluginConf {
	return &pluginConf{one: make(chan struct{}, 1), settled: make(chan struct{})}
}

// restoring returns goLive for a plugin with state, restoring its
// snapshot first: goLive runs only if the plugin took it, or the policy
// starts it empty. For any other plugin it returns goLive.
func (r *remote) restoring(ev *pluginEvents, goLive func()) func() {
	if ev == nil || !ev.stateful {
		return goLive
	}
	return func() {
		if r.restore(ev) {
			goLive()
		}
	}
}

// restore hands the plugin the snapshot held for it, if any, and reports
// whether it may go live. A plugin refused has its connection closed.
func (r *remote) restore(ev *pluginEvents) bool {
	name := r.info.Name
	_, store, ok := r.cfg.events.bound()
	if !ok {
		return false // shutting down
	}
	d := r.configureTimeout()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	snap, held, err := store.GetSnapshot(ctx, ev.asked)
	if err == nil && !held {
		return true
	}
	if err == nil {
		err = r.conn.Call(ctx, envelope.MethodRestore, envelope.RestoreParams{Data: snap.Data}, nil)
		if err == nil {
			r.cfg.log.Info("plugsock: plugin state restored", "plugin", name, "size", len(snap.Data), "taken", snap.Time)
			return true
		}
		if r.conn.Err() != nil {
			return false // the connection is gone
		}
		err = fmt.Errorf("%s: %w", envelope.MethodRestore, err)
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer to %s within %v", envelope.MethodRestore, d)
		}
	} else {
		err = fmt.Errorf("reading its snapshot: %w", err)
	}
	if r.cfg.restoreFailure == RestoreEmpty {
		r.cfg.log.Warn("plugsock: plugin state not restored; it starts empty (Config.RestoreFailure)", "plugin", name, "err", err)
		return true
	}
	e := envelope.Errorf(envelope.CodeInvalidParams, "plugin %q did not restore its state: %v", name, err)
	r.s.launchRefused(r.launch, e)
	r.cfg.log.Warn("plugsock: plugin refused", "plugin", name, "addr", r.addr, "reason", e.Message)
	r.conn.CloseWithError(fmt.Errorf("restore refused: %w", e))
	return false
}
