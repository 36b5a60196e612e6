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
//
// A call past the bound is answered at once with code
// envelope.CodeOverloaded rather than queued, unlike the host's calls past
// its Config.MaxInFlight, which wait for room: the host's waiting calls
// are its callers' goroutines, but a plugin's would be requests it has
// read, whose frames it would have to hold for as long as the host keeps
// sending, and it cannot stop reading instead, since the same connection
// carries the cancels, the pings and the answers to its own calls to the
// host. The host's default limit is this one, so a host that keeps it (or
// any at most the plugin's) queues its calls and never sends one past
// the plugin's limit, but for the moment between a call the host gave up
// and the plugin's method seeing it cancelled, and the streams it opens,
// which the plugin counts and the host's limit does not.
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
