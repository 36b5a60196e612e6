package plugin

import (
	"time"

	"github.com/plugsock/plugsock/envelope"
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
