package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
)

func TestClientRoundTrips(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "1.0.0")
	e.dial(Greeter{}, "greeter", "0.2.0")
	ctx := context.Background()
	c := e.c

	h, err := c.Health(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, h.Plugins)

	list, err := c.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]*envelope.PluginInfo{
		"calc":    {Name: "calc", Version: "1.0.0"},
		"greeter": {Name: "greeter", Version: "0.2.0"},
	}, list)

	info, err := c.Describe(ctx, "calc")
	require.NoError(t, err)
	assert.Equal(t, e.s.PluginInfo("calc"), info)

	doc, err := c.OpenRPC(ctx, "greeter")
	require.NoError(t, err)
	assert.JSONEq(t, mustJSON(t, admin.OpenRPCDocument(e.s.PluginInfo("greeter"))), string(doc))
	assert.Contains(t, string(doc), `"params":[{"name":"value",`)

	res, err := c.Call(ctx, "calc", "Add", json.RawMessage(`{"a":40,"b":2}`))
	require.NoError(t, err)
	assert.JSONEq(t, `42`, string(res))

	res, err = c.Call(ctx, "calc", "Echo", nil)
	require.NoError(t, err)
	assert.JSONEq(t, `""`, string(res))

	all, err := c.Broadcast(ctx, "Hello", json.RawMessage(`"bo"`))
	require.NoError(t, err)
	assert.Equal(t, map[string]admin.BroadcastResult{
		"calc":    {Error: &admin.ErrorBody{Code: -32601, Message: "method not found: Hello"}},
		"greeter": {Result: json.RawMessage(`"hello, bo"`)},
	}, all)

	require.NoError(t, c.Unplug(ctx, "greeter"))
	list, err = c.List(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestClientErrors(t *testing.T) {
	e := newEnv(t)
	e.attach(newCalc(), "calc", "")
	ctx := context.Background()
	c := e.c

	_, err := c.Call(ctx, "calc", "Div", json.RawMessage(`{"a":1,"b":0}`))
	var apiErr *admin.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, &admin.APIError{Status: 422, Code: -32000, Message: "division by zero"}, apiErr)
	assert.Equal(t, "division by zero", err.Error(), "a method's own error reads as the method wrote it")

	_, err = c.Call(ctx, "calc", "Nope", nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound)

	_, err = c.Call(ctx, "calc", "Add", json.RawMessage(`{"a":true}`))
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)

	_, err = c.Call(ctx, "calc", "Add", json.RawMessage(`{`))
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.Status)

	_, err = c.Describe(ctx, "nope")
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.Status)
	assert.Equal(t, `no plugin named "nope" is connected`, err.Error())

	_, err = c.OpenRPC(ctx, "nope")
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.Status)

	err = c.Unplug(ctx, "nope")
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.Status)

	_, err = c.Broadcast(ctx, "Add", json.RawMessage(`nope`))
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.Status)

	// A plugin name that needs escaping reaches the server intact.
	_, err = c.Describe(ctx, "a b?c")
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, `no plugin named "a b?c" is connected`, apiErr.Message)

	assert.ErrorIs(t, &admin.APIError{Status: 503, Code: -32003}, envelope.ErrShutdown)
	assert.ErrorIs(t, &admin.APIError{Status: 504}, context.DeadlineExceeded)
	assert.NotErrorIs(t, &admin.APIError{Status: 422, Code: -32000}, envelope.ErrInvalidParams)
	assert.Equal(t, "admin API: HTTP 502 Bad Gateway", (&admin.APIError{Status: 502}).Error())
}

func TestClientTraceFromContext(t *testing.T) {
	var got string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get(admin.TraceHeader)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":1}`))
	}))
	defer ts.Close()
	c := &admin.Client{BaseURL: ts.URL + "/", HTTP: ts.Client()}
	_, err := c.Call(envelope.WithTrace(context.Background(), "t-1"), "p", "M", nil)
	require.NoError(t, err)
	assert.Equal(t, "t-1", got)
}

func TestClientForeignErrors(t *testing.T) {
	// A proxy in front of the server answers in its own words.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	defer ts.Close()
	c := &admin.Client{BaseURL: ts.URL, HTTP: ts.Client()}
	_, err := c.List(context.Background())
	var apiErr *admin.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, &admin.APIError{Status: 502, Message: "upstream is down"}, apiErr)

	_, err = (&admin.Client{}).List(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "BaseURL")

	ts.Close()
	_, err = c.List(context.Background())
	require.Error(t, err)
	assert.False(t, errors.As(err, &apiErr), "a transport error is not an API error")
}
