package envelope

import "unicode/utf8"

// Health checks (protocol 2, docs/protocol.md, "Health"). $/ping tells a
// host that a plugin's process is there; a health check tells it whether
// the plugin can do its work: its database is reachable, its cache warm.
// A plugin that has one says so in its handshake, with the capability
// "health" set to true, and the host then sends it $/health requests, on
// an interval the host's application chooses. The answer is a
// HealthResult.
const (
	// MethodHealth asks a plugin how it is; it has no params.
	MethodHealth = "$/health"
	// CapabilityHealth is the handshake capability, set to true, of a
	// plugin that answers MethodHealth.
	CapabilityHealth = "health"
)

// HealthStatus is what a plugin says of its health.
type HealthStatus string

// The statuses a plugin may answer $/health with.
const (
	// Healthy: the plugin can do all of its work.
	Healthy HealthStatus = "healthy"
	// Degraded: it works, but not as well as it should (a replica is
	// down, a cache is cold); it still counts as ready.
	Degraded HealthStatus = "degraded"
	// Unhealthy: it cannot do its work.
	Unhealthy HealthStatus = "unhealthy"
)

// Valid reports whether st is one of the statuses a plugin may answer.
func (st HealthStatus) Valid() bool {
	return st == Healthy || st == Degraded || st == Unhealthy
}

// MaxHealthMessage bounds the message of a HealthResult a host keeps, in
// bytes: a host holds every plugin's last message for as long as the
// plugin is connected, so a longer one is cut, at a character boundary.
const MaxHealthMessage = 1024

// HealthResult is the result of a $/health request.
type HealthResult struct {
	Status HealthStatus `json:"status"`
	// Message says why, for people: "replica db-2 unreachable".
	Message string `json:"message,omitempty"`
}

// ClipHealthMessage returns msg cut to at most MaxHealthMessage bytes, at
// a character boundary, with "…" at the end when it was cut.
func ClipHealthMessage(msg string) string { return clipText(msg, MaxHealthMessage) }

// clipText cuts s to at most n bytes, an ellipsis included, without
// splitting a character.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
