package plugin

import (
	"context"
	"fmt"
	"reflect"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/rpc"
)

// State: a plugin value with the two methods
//
//	Snapshot(ctx context.Context) ([]byte, error)
//	Restore(ctx context.Context, data []byte) error
//
// keeps state the host looks after (docs/protocol.md, "Events and
// state"). The handshake declares the capability "state"; the host asks
// for a snapshot on an interval of its own and as it unplugs the plugin,
// keeps the latest under the plugin's name, and has Restore run with it
// before the plugin's first call when it connects again. Neither is a
// function.
//
// Snapshot may run while the plugin's methods do, so it takes the same
// care with the state as they do: a lock, or a copy. The host pauses the
// events it delivers to the plugin (Subscriptions) while it takes one, and
// waits for those the plugin holds to be settled first, so a snapshot
// covers exactly the events acknowledged; commit nothing elsewhere that a
// Restore would undo. Restore that fails should leave the plugin as it
// started, empty: the host refuses it, or lets it start empty, as its
// policy says.

const (
	snapshotMethod = "Snapshot"
	restoreMethod  = "Restore"
)

// stateful is a plugin value with state.
type stateful interface {
	Snapshot(ctx context.Context) ([]byte, error)
	Restore(ctx context.Context, data []byte) error
}

// findState returns v's state methods, or nil when it has neither. One
// without the other, or both on *T only when given a T, is an error: the
// state would silently not be kept.
func findState(v any) (stateful, error) {
	st, err := findOptional[stateful](v, "methods "+snapshotMethod+" and "+restoreMethod)
	if st != nil || err != nil || v == nil {
		return st, err
	}
	t := reflect.TypeOf(v)
	_, snap := v.(interface {
		Snapshot(ctx context.Context) ([]byte, error)
	})
	_, restore := v.(interface {
		Restore(ctx context.Context, data []byte) error
	})
	if snap != restore {
		return nil, fmt.Errorf("plugsock: %v keeps state with both %s(ctx) ([]byte, error) and %s(ctx, []byte) error; it has only one", t, snapshotMethod, restoreMethod)
	}
	return nil, nil
}

// advertiseState adds the state capability to hs when the plugin has
// state.
func advertiseState(hs *envelope.Handshake, st stateful) {
	declare(hs, envelope.CapabilityState, st != nil)
}

// snapshot answers $/snapshot with what the value's Snapshot returns,
// with the protections of a method: a panic becomes an error answer.
func (s *session) snapshot(ctx context.Context, trace string) (result any, rerr *envelope.Error) {
	if s.state == nil || s.host.proto < envelope.Protocol2 {
		return nil, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", envelope.MethodSnapshot)
	}
	defer s.recoverState(snapshotMethod, trace, &result, &rerr)
	data, err := s.state.Snapshot(ctx)
	if err != nil {
		return nil, answerError(ctx, snapshotMethod, err)
	}
	return envelope.SnapshotResult{Data: data}, nil
}

// restore answers $/restore: Restore runs with the snapshot's data.
func (s *session) restore(ctx context.Context, m *envelope.Envelope, trace string) (result any, rerr *envelope.Error) {
	if s.state == nil || s.host.proto < envelope.Protocol2 {
		return nil, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", envelope.MethodRestore)
	}
	var p envelope.RestoreParams
	if err := envelope.DecodeInput(m, &p, true); err != nil {
		return nil, rpc.InvalidParams(m.Method, err)
	}
	defer s.recoverState(restoreMethod, trace, &result, &rerr)
	if err := s.state.Restore(ctx, p.Data); err != nil {
		return nil, answerError(ctx, restoreMethod, err)
	}
	s.log.Debug("plugsock: state restored", "size", len(p.Data), "trace", trace)
	return nil, nil
}

func (s *session) recoverState(method, trace string, result *any, rerr **envelope.Error) {
	if e := recovered(s.log, method, trace, recover()); e != nil {
		*result, *rerr = nil, e
	}
}
