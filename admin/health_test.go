package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Checked is a plugin whose health check answers what the test sets.
type Checked struct {
	mu     sync.Mutex
	health plugin.Health
}

func (*Checked) Hello(_ context.Context, name string) (string, error) { return "hello, " + name, nil }

func (c *Checked) Health(context.Context) (plugin.Health, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health, nil
}

func (c *Checked) set(status plugin.HealthStatus, message string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.health = plugin.Health{Status: status, Message: message}
}

// Hanging is a plugin whose health check answers only when its context
// ends: its first check never comes back in a test's time.
type Hanging struct{}

func (Hanging) Hello(_ context.Context, name string) (string, error) { return name, nil }

func (Hanging) Health(ctx context.Context) (plugin.Health, error) {
	<-ctx.Done()
	return plugin.Health{}, ctx.Err()
}

// newHealthEnv is newEnv on a socket that checks health every few
// milliseconds, with the admin options given.
func newHealthEnv(t *testing.T, opts ...admin.Option) *env {
	t.Helper()
	return newEnvOf(t, socket.Config{HealthInterval: 2 * time.Millisecond, HealthTimeout: time.Hour},
		append([]admin.Option{admin.Config{Logger: quiet, Token: testToken}}, opts...))
}

// noToken is the header argument of env.do that sends no Authorization.
var noToken = []string{"Authorization", ""}

// waitStatus waits until the socket reports the plugin with status.
func waitStatus(t *testing.T, s *socket.Socket, name string, status envelope.HealthStatus, message string) {
	t.Helper()
	require.Eventually(t, func() bool {
		h, ok := s.Health(name)
		return ok && h.Status == status && h.Message == message
	}, 10*time.Second, time.Millisecond, "waiting for %s to be %s", name, status)
}

// /healthz answers whether the host is up, whatever its plugins do, and
// wants no token: Kubernetes' probes cannot send one. Once the socket
// shuts down it answers 503.
func TestHealthz(t *testing.T) {
	e := newHealthEnv(t, admin.Config{Required: []string{"absent"}})
	for _, header := range [][]string{noToken, nil} {
		r := e.do(http.MethodGet, "/healthz", "", header...)
		assert.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, `{"status":"ok"}`, string(r.body))
		assert.Equal(t, "application/json", r.header.Get("Content-Type"))
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	}
	r := e.do(http.MethodHead, "/healthz", "", noToken...)
	assert.Equal(t, http.StatusOK, r.status)
	r = e.do(http.MethodPost, "/healthz", "", noToken...)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)

	require.NoError(t, e.s.Shutdown(""))
	r = e.do(http.MethodGet, "/healthz", "", noToken...)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, `{"status":"shutting down"}`, string(r.body))
	r = e.do(http.MethodGet, "/readyz", "", noToken...)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, `{"status":"shutting down"}`, string(r.body))
}

// /readyz with nothing required is ready as soon as the host is up.
func TestReadyzNothingRequired(t *testing.T) {
	e := newHealthEnv(t)
	r := e.do(http.MethodGet, "/readyz", "", noToken...)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, `{"status":"ready"}`, string(r.body))
	r = e.do(http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, `{"status":"ready"}`, string(r.body))
}

// /readyz follows the required plugins: missing, then connected and
// healthy, degraded (ready, and reported), unhealthy, healthy again.
// Without the token it answers the status alone, naming no plugin; with
// it, what is missing or unhealthy and each required plugin's health.
func TestReadyzFollowsRequiredPlugins(t *testing.T) {
	e := newHealthEnv(t, admin.Config{Required: []string{"db", "calc"}})
	e.attach(newCalc(), "other", "1.0.0") // not required: it does not matter

	readyz := func(header ...string) (int, admin.Readiness, string) {
		t.Helper()
		r := e.do(http.MethodGet, "/readyz", "", header...)
		var rd admin.Readiness
		require.NoError(t, json.Unmarshal(r.body, &rd), "body: %s", r.body)
		return r.status, rd, string(r.body)
	}

	status, _, body := readyz(noToken...)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, `{"status":"not ready"}`, body, "without the token, no plugin is named")
	status, rd, _ := readyz()
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, admin.Readiness{Status: "not ready", Missing: []string{"db", "calc"}}, rd)

	e.attach(newCalc(), "calc", "1.0.0") // no health check: connected is ready
	db := new(Checked)
	e.attach(db, "db", "2.0.0")
	waitStatus(t, e.s, "db", envelope.Healthy, "")
	status, rd, _ = readyz()
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ready", rd.Status)
	assert.Empty(t, rd.Missing)
	require.Len(t, rd.Plugins, 2)
	assert.Equal(t, "db", rd.Plugins[0].Plugin)
	assert.Equal(t, envelope.Healthy, rd.Plugins[0].Status)
	assert.True(t, rd.Plugins[0].Checks)
	assert.Equal(t, "calc", rd.Plugins[1].Plugin)
	assert.Equal(t, socket.HealthUnknown, rd.Plugins[1].Status)
	assert.False(t, rd.Plugins[1].Checks)
	status, _, body = readyz(noToken...)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, `{"status":"ready"}`, body)

	db.set(plugin.Degraded, "replica down")
	waitStatus(t, e.s, "db", envelope.Degraded, "replica down")
	status, rd, _ = readyz()
	assert.Equal(t, http.StatusOK, status, "degraded is ready")
	assert.Equal(t, []string{"db"}, rd.Degraded)
	assert.Equal(t, "replica down", rd.Plugins[0].Message)

	db.set(plugin.Unhealthy, "disk full")
	waitStatus(t, e.s, "db", envelope.Unhealthy, "disk full")
	status, rd, _ = readyz()
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "not ready", rd.Status)
	assert.Equal(t, []string{"db"}, rd.Unhealthy)
	assert.Empty(t, rd.Degraded)
	assert.Equal(t, "disk full", rd.Plugins[0].Message)
	status, _, body = readyz(noToken...)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, `{"status":"not ready"}`, body)

	db.set(plugin.Healthy, "")
	waitStatus(t, e.s, "db", envelope.Healthy, "")
	status, _, _ = readyz()
	assert.Equal(t, http.StatusOK, status)
}

// A required plugin whose health is checked is not ready before its
// first check answers.
func TestReadyzWaitsForTheFirstCheck(t *testing.T) {
	e := newHealthEnv(t, admin.Config{Required: []string{"slow"}})
	e.attach(Hanging{}, "slow", "1.0.0")
	r := e.do(http.MethodGet, "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	var rd admin.Readiness
	require.NoError(t, json.Unmarshal(r.body, &rd))
	assert.Equal(t, []string{"slow"}, rd.Unchecked)
	require.Len(t, rd.Plugins, 1)
	assert.Equal(t, socket.HealthUnknown, rd.Plugins[0].Status)
	assert.True(t, rd.Plugins[0].Checks)
}

// The probes skip the token but not the other checks: a wrong token is
// refused, and a Host the server does not answer to is refused on both.
func TestProbesGuard(t *testing.T) {
	e := newHealthEnv(t, admin.Config{Required: []string{"db"}})
	r := e.do(http.MethodGet, "/readyz", "", "Authorization", "Bearer wrong")
	assert.Equal(t, http.StatusUnauthorized, r.status)
	_, msg := r.apiError(t)
	assert.Equal(t, "the admin token is wrong", msg)
	assert.NotContains(t, string(r.body), "db")
	for _, path := range []string{"/healthz", "/readyz"} {
		r := e.do(http.MethodGet, path, "", "Host", "evil.example", "Authorization", "")
		assert.Equal(t, http.StatusForbidden, r.status, path)
		_, msg := r.apiError(t)
		assert.Contains(t, msg, `host "evil.example" is not a name this admin server answers to`, path)
	}
	// A server without a token gives the details to anyone it answers.
	open := newTokenlessEnv(t)
	r = open.do(http.MethodGet, "/readyz", "", noToken...)
	assert.Equal(t, http.StatusOK, r.status)
}

// GET /api/health/plugins lists every plugin's health, for the console;
// it is an API route and wants the token.
func TestPluginHealths(t *testing.T) {
	e := newHealthEnv(t)
	r := e.do(http.MethodGet, "/api/health/plugins", "")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, `{"plugins":[]}`, string(r.body))

	db := new(Checked)
	db.set(plugin.Degraded, "cold cache")
	e.attach(db, "db", "1.0.0")
	e.attach(newCalc(), "calc", "1.0.0")
	waitStatus(t, e.s, "db", envelope.Degraded, "cold cache")
	r = e.do(http.MethodGet, "/api/health/plugins", "")
	require.Equal(t, http.StatusOK, r.status)
	var got admin.PluginHealths
	require.NoError(t, json.Unmarshal(r.body, &got))
	require.Len(t, got.Plugins, 2)
	assert.Equal(t, "calc", got.Plugins[0].Plugin)
	assert.Equal(t, socket.HealthUnknown, got.Plugins[0].Status)
	assert.Equal(t, "db", got.Plugins[1].Plugin)
	assert.Equal(t, envelope.Degraded, got.Plugins[1].Status)
	assert.Equal(t, "cold cache", got.Plugins[1].Message)
	assert.False(t, got.Plugins[1].Since.IsZero())
	assert.False(t, got.Plugins[1].LastCheck.IsZero())
	var raw struct {
		Plugins []map[string]any `json:"plugins"`
	}
	require.NoError(t, json.Unmarshal(r.body, &raw))
	assert.NotContains(t, raw.Plugins[0], "lastCheck", "never checked: left out")

	r = e.do(http.MethodGet, "/api/health/plugins", "", noToken...)
	assert.Equal(t, http.StatusUnauthorized, r.status)
}
