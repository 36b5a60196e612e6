package plugin

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// DefaultMaxInFlight bounds the calls a plugin runs at once when
// Plugin.MaxInFlight is zero. A call still running after a moment keeps
// the goroutine that read its request, and reading moves to another, so
// every call in flight can hold a goroutine and its stack: the bound is
// what keeps a flood of slow requests from costing the plugin memory
// without end.
const DefaultMaxInFlight = 1024

func (p *Plugin) maxInFlight() int {
	switch {
	case p.MaxInFlight < 0:
		return 0
	case p.MaxInFlight == 0:
		return DefaultMaxInFlight
	}
	return p.MaxInFlight
}

// DefaultWriteTimeout bounds each write to the socket when
// Plugin.WriteTimeout is zero; it is the host's default too
// (socket.DefaultWriteTimeout).
const DefaultWriteTimeout = 10 * time.Second

func (p *Plugin) writeTimeout() time.Duration {
	switch {
	case p.WriteTimeout < 0:
		return 0 // off, as envelope.ConnOptions has it
	case p.WriteTimeout == 0:
		return DefaultWriteTimeout
	}
	return p.WriteTimeout
}

func (p *Plugin) heartbeat() time.Duration {
	if p.HeartbeatInterval == 0 {
		return envelope.DefaultHeartbeatInterval
	}
	return p.HeartbeatInterval // negative: off
}

// invalidParams is the answer to params that do not decode into the
// method's input. It names the method and, where encoding/json says which,
// the field, with the types in the words the function descriptions use:
//
//	invalid params for Add: field "b": expected int, got string
func invalidParams(method string, err error) *envelope.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Type != nil {
		want := te.Type.String()
		if d := typedesc.ForType(te.Type); d != nil && d.Type != "" {
			want = d.Type
		}
		if te.Field == "" {
			return envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: expected %s, got %s", method, want, te.Value)
		}
		return envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: field %q: expected %s, got %s", method, te.Field, want, te.Value)
	}
	return envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: %v", method, err)
}
