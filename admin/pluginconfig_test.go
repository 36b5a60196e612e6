package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

type dbConfig struct {
	Host string `json:"host" plugsock:"required"`
	Port int    `json:"port" plugsock:"minimum=1"`
}

// DB is a plugin that takes a configuration.
type DB struct {
	mu   sync.Mutex
	took []dbConfig
	fail error
}

func (d *DB) Configure(_ context.Context, cfg dbConfig) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	d.took = append(d.took, cfg)
	return nil
}

func (d *DB) Ping(context.Context, struct{}) (bool, error) { return true, nil }

func (d *DB) configs() []dbConfig {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]dbConfig(nil), d.took...)
}

// PUT /api/plugins/{name}/config replaces the configuration; GET answers
// it with the schema.
func TestConfigRoute(t *testing.T) {
	e := newEnvOf(t, socket.Config{Configs: map[string]json.RawMessage{"db": json.RawMessage(`{"host":"a","port":1}`)}},
		[]admin.Option{admin.Config{Logger: quiet, Token: testToken}})
	d := &DB{}
	e.attach(d, "db", "1.0.0")
	e.attach(Greeter{}, "greeter", "1.0.0")

	r := e.do("PUT", "/api/plugins/db/config", `{"host":"b","port":2}`)
	assert.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	assert.Equal(t, []dbConfig{{"a", 1}, {"b", 2}}, d.configs())

	r = e.do("GET", "/api/plugins/db/config", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	got := r.json(t)
	assert.Equal(t, map[string]any{"host": "b", "port": 2.0}, got["value"])
	assert.Contains(t, got["schema"], "properties")

	r = e.do("PUT", "/api/plugins/db/config", `{"port":0}`)
	assert.Equal(t, http.StatusBadRequest, r.status)
	code, msg := r.apiError(t)
	assert.Equal(t, int64(envelope.CodeInvalidParams), code)
	assert.Contains(t, msg, `invalid configuration for "db": `)
	assert.Contains(t, msg, "/port")
	assert.Len(t, d.configs(), 2, "never reached the plugin")

	d.mu.Lock()
	d.fail = errors.New("no route to c")
	d.mu.Unlock()
	r = e.do("PUT", "/api/plugins/db/config", `{"host":"c","port":3}`)
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	code, msg = r.apiError(t)
	assert.Equal(t, int64(envelope.CodeMethodError), code)
	assert.Equal(t, "no route to c", msg)

	for _, path := range []string{"/api/plugins/greeter/config", "/api/plugins/nope/config"} {
		r = e.do("PUT", path, `{}`)
		assert.Equal(t, http.StatusNotFound, r.status, path)
		r = e.do("GET", path, "")
		assert.Equal(t, http.StatusNotFound, r.status, path)
	}
	_, msg = e.do("PUT", "/api/plugins/greeter/config", `{}`).apiError(t)
	assert.Equal(t, `plugin "greeter" takes no configuration: it declared no configSchema`, msg)

	r = e.do("POST", "/api/plugins/db/config", `{}`)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, HEAD, PUT", r.header.Get("Allow"))
	r = e.do("PUT", "/api/plugins/db/config", `{"host":"d","port":4}`, "Authorization", "")
	assert.Equal(t, http.StatusUnauthorized, r.status, "behind the token as the rest of /api")
}

// The Go client's Configure and PluginConfig.
func TestClientConfigure(t *testing.T) {
	e := newEnvOf(t, socket.Config{Configs: map[string]json.RawMessage{"db": json.RawMessage(`{"host":"a","port":1}`)}},
		[]admin.Option{admin.Config{Logger: quiet, Token: testToken}})
	d := &DB{}
	e.dial(d, "db", "1.0.0")
	ctx := context.Background()
	require.NoError(t, e.c.Configure(ctx, "db", json.RawMessage(`{"host":"b","port":2}`)))
	pc, err := e.c.PluginConfig(ctx, "db")
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"b","port":2}`, string(pc.Value))

	err = e.c.Configure(ctx, "db", json.RawMessage(`{"host":"b","port":0}`))
	var apiErr *admin.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.Status)
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.Equal(t, []dbConfig{{"a", 1}, {"b", 2}}, d.configs())
}
