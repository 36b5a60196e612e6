package plugin

import (
	"context"

	"github.com/plugsock/plugsock/envelope"
)

// Health checks: a plugin value's method
//
//	Health(ctx context.Context) (plugin.Health, error)
//
// tells the host how the plugin is. Its shape is not a function's (it
// takes no input), so it is never offered as one. The plugin declares the
// capability "health" in its handshake, and a host that checks health
// sends $/health on an interval of its choosing (docs/protocol.md,
// "Health").

// HealthStatus is what Health says of the plugin: Healthy, Degraded or
// Unhealthy.
type HealthStatus = envelope.HealthStatus

// The statuses a Health method returns.
const (
	// Healthy: the plugin can do all of its work.
	Healthy = envelope.Healthy
	// Degraded: it works, but not as well as it should; the host still
	// counts it as ready.
	Degraded = envelope.Degraded
	// Unhealthy: it cannot do its work.
	Unhealthy = envelope.Unhealthy
)

// Health is what a plugin's Health method returns. The zero value is
// healthy, without a message, so that
//
//	return plugin.Health{}, db.PingContext(ctx)
//
// is a whole health check: an error is the same as Unhealthy with the
// error's text as the message.
type Health struct {
	Status HealthStatus
	// Message says why, for the operator: "replica db-2 unreachable".
	// The host keeps at most envelope.MaxHealthMessage bytes of it.
	Message string
}

// healthMethod is the name of the method that checks the plugin's health.
const healthMethod = "Health"

// healthChecker is a plugin value with a health check.
type healthChecker interface {
	Health(ctx context.Context) (Health, error)
}

// findHealth returns v's health check, or nil when it has none.
func findHealth(v any) (healthChecker, error) {
	return findOptional[healthChecker](v, "method "+healthMethod)
}

// advertiseHealth adds the health capability to hs when the plugin has a
// check.
func advertiseHealth(hs *envelope.Handshake, hc healthChecker) {
	declare(hs, envelope.CapabilityHealth, hc != nil)
}

// health answers a $/health request with what the value's Health method
// says, with the protections of a method: a panic becomes an error
// answer. An error Health returns is answered as an error, which the host
// takes for unhealthy with its text; so is a status that is not one of
// the three, rather than sending the host something it must refuse.
func (s *session) health(ctx context.Context, trace string) (result any, rerr *envelope.Error) {
	if s.checker == nil {
		return nil, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", envelope.MethodHealth)
	}
	// A stop waits for the calls in flight, this one too: a check that
	// hangs must not hold the plugin's exit up, so its context ends as
	// the stop begins. Health is not work a stop should let finish.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		if e := recovered(s.log, healthMethod, trace, recover()); e != nil {
			result, rerr = nil, e
		}
	}()
	h, err := s.checker.Health(ctx)
	if err != nil {
		return nil, answerError(ctx, healthMethod, err)
	}
	res := envelope.HealthResult{Status: h.Status, Message: h.Message}
	if res.Status == "" {
		res.Status = Healthy
	}
	if !res.Status.Valid() {
		return nil, envelope.Errorf(envelope.CodeInternalError, "%s returned status %q; want plugin.Healthy, Degraded or Unhealthy", healthMethod, h.Status)
	}
	return res, nil
}
