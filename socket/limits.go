package socket

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// Defaults for the limits set by the options below. docs/security.md
// explains what each one defends against.
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
// WithMaxPlugins allows.
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

// WithHeartbeat sets how the socket finds out about a plugin that stops
// answering without hanging up (a frozen process, a half-open TCP
// connection): every interval it sends the plugin a $/ping request, and
// when misses intervals in a row pass without an answer, it closes the
// connection. Calls waiting on the plugin then fail with an
// error wrapping ErrShutdown and envelope.ErrUnresponsive, and the
// disconnect is reported as not graceful.
//
// Default DefaultHeartbeatInterval and DefaultHeartbeatMisses. An interval
// of zero or less turns heartbeats off; misses below 1 means the default.
// Waiting costs no goroutine per plugin, only a timer.
func WithHeartbeat(interval time.Duration, misses int) Options {
	return optionFunc(func(c *config) {
		c.heartbeat = max(interval, 0)
		c.misses = misses
		if misses < 1 {
			c.misses = DefaultHeartbeatMisses
		}
	})
}

// WithMaxInFlight bounds the calls to one plugin that may wait for an
// answer at once (Call, CallContext and Broadcast together). A call past
// the limit is refused at once, without reaching the plugin, with an error
// wrapping ErrOverloaded: waiting instead would let a plugin that stops
// answering pile up callers without bound, and the caller knows best
// whether to retry, back off or give up. Default DefaultMaxInFlight; zero
// or less removes the limit.
func WithMaxInFlight(n int) Options {
	return optionFunc(func(c *config) { c.maxInFlight = max(n, 0) })
}

// WithMaxPlugins bounds the plugins connected at once. A plugin that
// handshakes past the limit is refused with code envelope.CodeOverloaded
// (its Start returns an error wrapping ErrOverloaded) and the connection
// is closed. Default DefaultMaxPlugins; zero or less removes the limit.
func WithMaxPlugins(n int) Options {
	return optionFunc(func(c *config) { c.maxPlugins = max(n, 0) })
}

// WithToken makes the socket require token in every plugin's handshake
// (plugin.Plugin's Token field). A missing or wrong token is refused with
// code envelope.CodeUnauthorized (the plugin's Start returns an error
// wrapping envelope.ErrUnauthorized) and the connection is closed. The
// comparison takes the same time whatever the token sent, and the token
// never appears in a log line. An empty token requires none, which is the
// default.
//
// The token travels in the clear unless the listener encrypts it: over a
// network, serve a tls.Listener (see docs/security.md).
func WithToken(token string) Options {
	return optionFunc(func(c *config) {
		c.token, c.tokenText = nil, token
		if token != "" {
			sum := sha256.Sum256([]byte(token))
			c.token = &sum
		}
	})
}

// WithValidation makes the socket check every call's payload against the
// input the plugin described in its handshake before sending it. A payload
// that does not fit is refused without reaching the plugin, with an error
// wrapping envelope.ErrInvalidParams and typedesc.ErrInvalid that names
// the field and the type expected. Methods the plugin did not describe go
// out unchecked.
//
// It is off by default. The check is stricter than encoding/json, which
// is what a Go plugin decodes with: a mandatory field that is missing is
// refused, where the plugin would have taken it as its zero value. And it
// costs one json.Marshal of the payload into bytes that are then sent as
// they are, plus one scan of them (docs/security.md has the figures).
// Without it the plugin still refuses a payload that does not decode, with
// an invalid-params error that names the method and the field.
func WithValidation(on bool) Options {
	return optionFunc(func(c *config) { c.validate = on })
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
