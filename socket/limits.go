package socket

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// Defaults for the limits Config sets. docs/security.md explains what
// each one defends against.
const (
	// DefaultHeartbeatInterval and DefaultHeartbeatMisses find a plugin
	// that stops answering within about 40 seconds.
	DefaultHeartbeatInterval = envelope.DefaultHeartbeatInterval
	DefaultHeartbeatMisses   = envelope.DefaultHeartbeatMisses
	// DefaultMaxInFlight bounds the calls waiting on one plugin.
	DefaultMaxInFlight = 1024
	// DefaultMaxPlugins bounds the plugins connected at once.
	DefaultMaxPlugins = 10000
)

// ErrOverloaded is envelope.ErrOverloaded. A call refused because too many
// calls to that plugin are in flight wraps it, and so does the error a
// plugin's Start returns when the socket already has as many plugins as
// Config.MaxPlugins allows.
var ErrOverloaded = envelope.ErrOverloaded

// guards are the settings that bound what a plugin, or something posing
// as one, can cost the host.
type guards struct {
	heartbeat   time.Duration // zero: off
	misses      int
	maxInFlight int // zero: no limit
	maxPlugins  int // zero: no limit
	token       *[sha256.Size]byte
	tokenText   string // for plugins the socket runs itself (Attach)
	validate    bool
	asyncBytes  int // async.go
}

func defaultGuards() guards {
	return guards{
		heartbeat:   DefaultHeartbeatInterval,
		misses:      DefaultHeartbeatMisses,
		maxInFlight: DefaultMaxInFlight,
		maxPlugins:  DefaultMaxPlugins,
		asyncBytes:  DefaultAsyncBytes,
	}
}

// authorised reports whether token is the one the socket requires.
func (g *guards) authorised(token string) bool {
	if g.token == nil {
		return true
	}
	// Comparing digests keeps the time independent of the length, too.
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1
}

// guard readies one call to r: it checks the payload when validation is
// on and counts the call against the in-flight limit. It returns the
// payload to send; r.release must follow once the call has returned.
func (r *remote) guard(name, method string, payload any) (any, error) {
	payload, err := r.checkPayload(name, method, payload)
	if err != nil {
		return nil, err
	}
	limit := int64(r.cfg.maxInFlight)
	if n := r.calls.Add(1); limit > 0 && n > limit {
		r.calls.Add(-1)
		return nil, fmt.Errorf("plugsock: call %s.%s: %d calls in flight, the limit: %w", name, method, limit, ErrOverloaded)
	}
	return payload, nil
}

// release ends a call that guard let through. It is a method rather than
// a closure guard returns, which would cost an allocation per call.
func (r *remote) release() { r.calls.Add(-1) }

// checkPayload validates payload against the input described for method,
// and returns what to send: the bytes it checked, so the payload is not
// encoded twice.
func (r *remote) checkPayload(name, method string, payload any) (any, error) {
	if !r.cfg.validate {
		return payload, nil
	}
	fn, ok := r.info.Functions[method]
	if !ok {
		return payload, nil
	}
	var raw []byte
	switch p := payload.(type) {
	case nil:
	case json.RawMessage:
		raw = p
	default:
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("plugsock: call %s.%s: encoding params: %w", name, method, err)
		}
	}
	if err := fn.Input.Validate(raw); err != nil {
		return nil, fmt.Errorf("plugsock: call %s.%s: %w: %w", name, method, envelope.ErrInvalidParams, err)
	}
	if payload == nil {
		return nil, nil
	}
	return json.RawMessage(raw), nil
}
