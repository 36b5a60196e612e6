package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// pluginCalls returns the counts of the plugin called name in st.
func pluginCalls(t *testing.T, st *admin.Stats, name string) socket.PluginCalls {
	t.Helper()
	for _, p := range st.Plugins {
		if p.Plugin == name {
			return p
		}
	}
	t.Fatalf("no counts of %s in %+v", name, st.Plugins)
	return socket.PluginCalls{}
}

func TestStatsCountKnownCalls(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "1.0.0")
	e.attach(Greeter{}, "greeter", "1.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for range 3 {
		_, err := e.c.Call(ctx, "calc", "Add", json.RawMessage(`{"a":1,"b":2}`))
		require.NoError(t, err)
	}
	for range 2 {
		_, err := e.c.Call(ctx, "calc", "Div", json.RawMessage(`{"a":1,"b":0}`))
		require.Error(t, err)
	}
	// The API refuses a function calc did not declare before it reaches
	// the socket; a program calling through the socket gets it counted.
	require.ErrorIs(t, e.s.CallContext(ctx, "calc", "Nope", nil, nil), socket.ErrMethodNotFound)

	st, err := e.c.Stats(ctx)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), st.At, time.Minute)
	assert.Len(t, st.Bounds, 14)
	require.Len(t, st.Plugins, 2)
	calc := pluginCalls(t, st, "calc")
	assert.Equal(t, 1, calc.Connections)
	assert.Equal(t, map[string]uint64{"ok": 3, "method_error": 2, "not_found": 1}, calc.Calls.Outcomes)
	assert.Equal(t, uint64(6), calc.Calls.Total())
	assert.Equal(t, uint64(3), calc.Calls.Failed())
	var timed uint64
	for _, n := range calc.Calls.Durations {
		timed += n
	}
	assert.Equal(t, uint64(6), timed, "every call is in a bucket")
	assert.Greater(t, calc.Calls.Seconds, 0.0)
	require.Len(t, calc.Methods, 3)
	assert.Equal(t, "Add", calc.Methods[0].Method)
	assert.Equal(t, map[string]uint64{"ok": 3}, calc.Methods[0].Outcomes)
	assert.Equal(t, "Div", calc.Methods[1].Method)
	assert.Equal(t, map[string]uint64{"method_error": 2}, calc.Methods[1].Outcomes)
	assert.Equal(t, "(other)", calc.Methods[2].Method)
	assert.Zero(t, pluginCalls(t, st, "greeter").Calls.Total())

	// The health of every connected plugin is beside the counts.
	require.Len(t, st.Health, 2)
	assert.ElementsMatch(t, []string{"calc", "greeter"}, []string{st.Health[0].Plugin, st.Health[1].Plugin})
	assert.Equal(t, socket.HealthUnknown, st.Health[0].Status)

	// Counts are cumulative: a later answer has every earlier call and the
	// new ones, for a client to take the difference.
	_, err = e.c.Call(ctx, "calc", "Add", json.RawMessage(`{"a":1,"b":2}`))
	require.NoError(t, err)
	later, err := e.c.Stats(ctx)
	require.NoError(t, err)
	assert.False(t, later.At.Before(st.At))
	assert.Equal(t, uint64(4), pluginCalls(t, later, "calc").Calls.Outcomes["ok"])
}

func TestStatsJSON(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/stats", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	body := r.json(t)
	assert.Equal(t, []any{}, body["plugins"])
	assert.Equal(t, []any{}, body["health"])
	assert.Len(t, body["bounds"], 14)
	assert.Contains(t, body, "at")

	e.attach(newCalc(), "calc", "1.0.0")
	require.NoError(t, e.s.CallContext(context.Background(), "calc", "Add", map[string]int{"a": 1, "b": 1}, nil))
	var got struct {
		Plugins []struct {
			Plugin      string `json:"plugin"`
			Connections int    `json:"connections"`
			Calls       struct {
				Outcomes  map[string]uint64 `json:"outcomes"`
				Durations []uint64          `json:"durations"`
				Seconds   float64           `json:"seconds"`
			} `json:"calls"`
			Methods []struct {
				Method   string            `json:"method"`
				Outcomes map[string]uint64 `json:"outcomes"`
			} `json:"methods"`
			Restarts uint64 `json:"restarts"`
		} `json:"plugins"`
	}
	r = e.do("GET", "/api/stats", "")
	require.NoError(t, json.Unmarshal(r.body, &got), "%s", r.body)
	require.Len(t, got.Plugins, 1)
	p := got.Plugins[0]
	assert.Equal(t, "calc", p.Plugin)
	assert.Equal(t, 1, p.Connections)
	assert.Equal(t, map[string]uint64{"ok": 1}, p.Calls.Outcomes)
	assert.Len(t, p.Calls.Durations, 15)
	require.Len(t, p.Methods, 1)
	assert.Equal(t, "Add", p.Methods[0].Method)
}

func TestStatsWantTheToken(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/stats", "", "Authorization", "")
	assert.Equal(t, http.StatusUnauthorized, r.status)
	_, err := (&admin.Client{BaseURL: e.ts.URL, HTTP: e.ts.Client()}).Stats(context.Background())
	assert.ErrorIs(t, err, envelope.ErrUnauthorized)
	r = e.do("POST", "/api/stats", "")
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
}

// A launched plugin's process killed by SIGKILL is counted as an exit,
// signalled, and a restart.
func TestStatsCountAKilledPluginsRestart(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no signals on Windows")
	}
	e := newEnv(t)
	cmd := e.launch("worker")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := e.c.Stats(ctx)
	require.NoError(t, err)
	w := pluginCalls(t, st, "worker")
	assert.Zero(t, w.Restarts)
	assert.Nil(t, w.Exits)

	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool {
		st, err = e.c.Stats(ctx)
		require.NoError(t, err)
		w = pluginCalls(t, st, "worker")
		return w.Restarts == 1 && w.Connections == 1
	}, 20*time.Second, 10*time.Millisecond, "the worker was not restarted")
	assert.Equal(t, map[string]uint64{"signalled": 1}, w.Exits)
}
