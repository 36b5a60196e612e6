package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/jsonscan"
)

// Health checks: a protocol 2 plugin that declares the capability
// "health" is sent $/health as it goes live and then every
// Config.HealthInterval after its last check ended (docs/protocol.md,
// "Health"). Each plugin has one timer, and a goroutine only while its
// check is in flight, as with the heartbeat; nothing here runs on the
// way of a call.

// HealthUnknown is the status of a plugin whose health the socket does
// not know: it has no health check (or speaks protocol 1, which has none),
// the socket's HealthInterval is off, or its first check has not
// answered yet. Health.Checks tells these apart. A plugin never answers
// it: it is the socket's own word.
const HealthUnknown envelope.HealthStatus = "unknown"

// Health is what the socket knows of one plugin's health.
type Health struct {
	Plugin string `json:"plugin"` // the plugin's assigned name
	// Status is envelope.Healthy, Degraded or Unhealthy, as the last
	// check found it, or HealthUnknown.
	Status envelope.HealthStatus `json:"status"`
	// Message is the plugin's word on its status, or, for a check that
	// failed, what went wrong: "no answer to $/health within 5s". At most
	// envelope.MaxHealthMessage bytes.
	Message string `json:"message,omitempty"`
	// Checks reports whether the socket checks the plugin's health: the
	// plugin declared a check, speaks protocol 2, and the socket's
	// HealthInterval was on when it connected. Without checks Status
	// stays HealthUnknown, and the plugin's liveness is what $/ping says
	// of it, that is, whether it is connected.
	Checks bool `json:"checks"`
	// Since is when Status last changed; when the plugin connected, for
	// the status it connected with.
	Since time.Time `json:"since"`
	// LastCheck is when the last check ended; zero before the first.
	LastCheck time.Time `json:"lastCheck,omitzero"`
}

// Health returns the health of the plugin called name (a name@version
// resolves as for Call), and false when no such plugin is connected.
func (s *Socket) Health(name string) (Health, bool) {
	s.mu.Lock()
	r := s.resolve(name)
	live := r != nil && r.state.live()
	s.mu.Unlock()
	if !live {
		return Health{}, false
	}
	return r.health.get(), true
}

// Healths returns the health of every connected plugin, by name. It is
// for monitoring (the admin API's readiness and the console show it); it
// visits every plugin.
func (s *Socket) Healths() []Health {
	s.mu.Lock()
	rs := make([]*remote, 0, len(s.plugins))
	for _, r := range s.plugins {
		if r.state.live() {
			rs = append(rs, r)
		}
	}
	s.mu.Unlock()
	out := make([]Health, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.health.get())
	}
	slices.SortFunc(out, func(a, b Health) int { return strings.Compare(a.Plugin, b.Plugin) })
	return out
}

// Up reports whether the socket is up: Shutdown has not begun. The zero
// Socket is up. It is what a liveness probe asks (the admin API's
// /healthz).
func (s *Socket) Up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.shut
}

// healthCapable reports whether a handshake's capabilities, an object
// (or nothing, or null: the handshake checked), declare a health check:
// the member "health", by its exact name, set to true. It walks the
// object without decoding it, so that capabilities cost nothing however
// many there are.
func healthCapable(caps []byte) bool {
	found := false
	jsonscan.Members(caps, 0, func(m jsonscan.Member) bool {
		if jsonscan.KeyIs(caps[m.Key:m.KeyEnd], envelope.CapabilityHealth) {
			found = string(caps[m.Val:m.End]) == "true"
			return false
		}
		return true
	})
	return found
}

// healthCheck is one plugin's health and the timer that checks it. The
// zero value checks nothing and reports nothing; prepare names it, start
// starts its timer, stop ends it for good. Its lock comes after Socket.mu:
// nothing here takes Socket.mu while holding it.
type healthCheck struct {
	mu      sync.Mutex
	h       Health
	timer   *time.Timer        // nil until started
	cancel  context.CancelFunc // ends the check in flight; nil when none is
	stopped bool
	running sync.WaitGroup // the check in flight
}

// prepare sets up the plugin's health as it is named: unknown, since now,
// checked or not.
func (hc *healthCheck) prepare(name string, checks bool) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.h = Health{Plugin: name, Status: HealthUnknown, Checks: checks, Since: time.Now()}
}

// start runs the first check now, once the plugin is live, when it is
// checked at all.
func (hc *healthCheck) start(r *remote) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if !hc.h.Checks || hc.stopped || hc.timer != nil {
		return
	}
	hc.timer = time.AfterFunc(0, func() { hc.check(r) })
}

// stop ends the checks, at the plugin's disconnect: the check in flight
// is abandoned, and stop waits for it to give up, which it does at once,
// the connection being gone. The status stays as the last check left it.
func (hc *healthCheck) stop() {
	hc.mu.Lock()
	hc.stopped = true
	if hc.timer != nil {
		hc.timer.Stop()
	}
	cancel := hc.cancel
	hc.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	hc.running.Wait()
}

func (hc *healthCheck) get() Health {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	return hc.h
}

// check runs on the timer's goroutine: one $/health, judged, and the next
// one an interval after it ended, so that checks never overlap however
// long a plugin takes to answer.
func (hc *healthCheck) check(r *remote) {
	cfg := r.cfg
	hc.mu.Lock()
	if hc.stopped {
		hc.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.healthTimeout)
	defer cancel()
	hc.cancel = cancel
	hc.running.Add(1)
	hc.mu.Unlock()
	defer hc.running.Done()

	r.s.mu.Lock()
	callable := r.state.callable()
	r.s.mu.Unlock()
	if !callable {
		// It is being stopped, for good: no more checks, and the status
		// stays as it was until it is gone.
		return
	}
	var raw json.RawMessage
	err := r.conn.Call(ctx, envelope.MethodHealth, nil, &raw)
	if err != nil && r.conn.Err() != nil {
		// The connection ended: that is the disconnect's to report, and
		// stop is on its way.
		return
	}
	r.s.mu.Lock()
	callable = r.state.callable()
	r.s.mu.Unlock()
	if !callable {
		// A stop began meanwhile, and a plugin that is leaving may well
		// give up its check: that says nothing of its health.
		return
	}
	status, msg := judgeHealth(raw, err, cfg.healthTimeout)

	hc.mu.Lock()
	if hc.stopped {
		hc.mu.Unlock()
		return
	}
	now := time.Now()
	was := hc.h.Status
	hc.h.Message, hc.h.LastCheck = msg, now
	if status != was {
		hc.h.Status, hc.h.Since = status, now
		// Logged before the status shows and before the next check can
		// run: the lines come in the order of the changes, and whoever
		// sees a status can find its line.
		level := slog.LevelInfo
		if status == envelope.Unhealthy {
			level = slog.LevelWarn
		}
		cfg.log.Log(context.Background(), level, "plugsock: plugin health changed",
			"plugin", hc.h.Plugin, "status", string(status), "was", string(was), "message", msg, "session", r.session)
	}
	hc.cancel = nil
	hc.timer.Reset(cfg.healthInterval)
	hc.mu.Unlock()
}

// judgeHealth turns a check's outcome, the raw answer or the error, into
// a status and its message. A check that failed in any way is unhealthy,
// and the message says how.
func judgeHealth(raw json.RawMessage, err error, timeout time.Duration) (envelope.HealthStatus, string) {
	var rpcErr *envelope.Error
	switch {
	case err == nil:
		var res envelope.HealthResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return envelope.Unhealthy, envelope.ClipHealthMessage(fmt.Sprintf("malformed answer to %s: %v", envelope.MethodHealth, err))
		}
		if !res.Status.Valid() {
			return envelope.Unhealthy, envelope.ClipHealthMessage(fmt.Sprintf("malformed answer to %s: status %q is not %q, %q or %q",
				envelope.MethodHealth, res.Status, envelope.Healthy, envelope.Degraded, envelope.Unhealthy))
		}
		return res.Status, envelope.ClipHealthMessage(res.Message)
	case errors.Is(err, context.DeadlineExceeded):
		return envelope.Unhealthy, fmt.Sprintf("no answer to %s within %v", envelope.MethodHealth, timeout)
	case errors.As(err, &rpcErr) && rpcErr.Code == envelope.CodeMethodError:
		// What the plugin's check returned as an error: its own words.
		return envelope.Unhealthy, envelope.ClipHealthMessage(rpcErr.Message)
	case errors.As(err, &rpcErr):
		return envelope.Unhealthy, envelope.ClipHealthMessage(fmt.Sprintf("%s answered error %d: %s", envelope.MethodHealth, rpcErr.Code, rpcErr.Message))
	}
	return envelope.Unhealthy, envelope.ClipHealthMessage(fmt.Sprintf("%s failed: %v", envelope.MethodHealth, err))
}
