package admin_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
)

// Victim counts every call made to it, so a test can tell that a refused
// request never reached the plugin.
type Victim struct{ calls atomic.Int64 }

func (v *Victim) Hit(context.Context, struct{}) (int64, error) { return v.calls.Add(1), nil }

// TestDNSRebindingRefused is issue 9 B8: a page on evil.example whose name
// was re-resolved to 127.0.0.1 is same-origin with the server as far as
// the browser knows, so Origin checks let it through. Its requests say
// "Host: evil.example", and that is refused on every route, whatever
// token it holds.
func TestDNSRebindingRefused(t *testing.T) {
	e := newEnv(t)
	v := new(Victim)
	e.attach(v, "victim", "1.0.0")
	_, port, err := net.SplitHostPort(e.ts.Listener.Addr().String())
	require.NoError(t, err)
	port = ":" + port
	evil := "evil.example" + port
	origin := "http://" + evil

	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/plugins", ""},
		{"GET", "/api/plugins/victim", ""},
		{"GET", "/api/plugins/victim/openrpc", ""},
		{"GET", "/api/health", ""},
		{"GET", "/api/events", ""},
		{"POST", "/api/plugins/victim/call/Hit", "{}"},
		{"POST", "/api/broadcast/Hit", "{}"},
		{"POST", "/api/broadcast/$%2Fshutdown", ""},
		{"DELETE", "/api/plugins/victim", ""},
		{"GET", "/", ""},
		{"GET", "/assets/console.js", ""},
	} {
		// As Chromium sends them from the rebound page: same-origin.
		r := e.do(tc.method, tc.path, tc.body, "Host", evil, "Origin", origin, "Sec-Fetch-Site", "same-origin")
		require.Equal(t, http.StatusForbidden, r.status, "%s %s: %s", tc.method, tc.path, r.body)
		code, msg := r.apiError(t)
		assert.Equal(t, int64(0), code)
		assert.Contains(t, msg, `host "`+evil+`" is not a name this admin server answers to`)
		assert.NotContains(t, string(r.body), `"victim"`, "nothing about the plugins is read")
	}
	assert.Equal(t, int64(0), v.calls.Load(), "no refused call reached the plugin")
	assert.NotNil(t, e.s.PluginInfo("victim"), "the plugin is still there")

	// The names the server is meant to be reached by.
	for _, host := range []string{"localhost" + port, "LOCALHOST.", "console.localhost" + port, "127.0.0.1" + port, "127.9.9.9", "[::1]" + port, e.ts.Listener.Addr().String()} {
		r := e.do("GET", "/api/plugins", "", "Host", host)
		assert.Equal(t, http.StatusOK, r.status, "Host %s: %s", host, r.body)
	}
	for _, host := range []string{"127.0.0.1.evil.example", "localhost.evil.example", "10.1.2.3", "0.0.0.0"} {
		r := e.do("GET", "/api/plugins", "", "Host", host)
		assert.Equal(t, http.StatusForbidden, r.status, "Host %q: %s", host, r.body)
	}

	// Config.Hosts names more; ports and case do not matter.
	e = newEnv(t, admin.Config{Hosts: []string{"Admin.Example:7701", "[fd00::1]", "10.1.2.3"}})
	for _, host := range []string{"admin.example", "ADMIN.EXAMPLE:99", "[fd00::1]:7701", "10.1.2.3"} {
		r := e.do("GET", "/api/plugins", "", "Host", host)
		assert.Equal(t, http.StatusOK, r.status, "Host %s: %s", host, r.body)
	}
	r := e.do("GET", "/api/plugins", "", "Host", "evil.example")
	assert.Equal(t, http.StatusForbidden, r.status)
}

// TestCrossOriginRefused checks the browser-origin check on every API
// route, GETs included: an <img> or a fetch from another site must not be
// able to read plugin data or make the host walk plugin descriptions
// (issue 9 A1), let alone change anything.
func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t)
	v := new(Victim)
	e.attach(v, "victim", "")
	for _, tc := range []struct {
		method, path string
		header       []string
		status       int
	}{
		{"GET", "/api/plugins/victim/openrpc", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"GET", "/api/plugins", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"GET", "/api/events", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"POST", "/api/plugins/victim/call/Hit", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"POST", "/api/plugins/victim/call/Hit", []string{"Origin", "http://evil.example"}, 403},
		{"GET", "/api/plugins", []string{"Origin", "null"}, 403},
		{"DELETE", "/api/plugins/victim", []string{"Origin", "null"}, 403},
		// The console's own requests, typed URLs and non-browser clients.
		{"GET", "/api/plugins", []string{"Sec-Fetch-Site", "same-origin"}, 200},
		{"GET", "/api/plugins/victim/openrpc", []string{"Sec-Fetch-Site", "none"}, 200},
		{"POST", "/api/plugins/victim/call/Hit", []string{"Origin", e.ts.URL}, 200},
		{"POST", "/api/plugins/victim/call/Hit", nil, 200},
		// The console's files hold no data: a link from elsewhere may
		// open it.
		{"GET", "/", []string{"Sec-Fetch-Site", "cross-site"}, 200},
	} {
		r := e.do(tc.method, tc.path, "{}", tc.header...)
		require.Equal(t, tc.status, r.status, "%s %s %v: %s", tc.method, tc.path, tc.header, r.body)
		if tc.status == 403 {
			_, msg := r.apiError(t)
			assert.Contains(t, msg, "cross-origin request refused")
		}
	}
	assert.Equal(t, int64(2), v.calls.Load(), "only the two allowed calls reached the plugin")
	assert.NotNil(t, e.s.PluginInfo("victim"))
}

// TestTokenRequired is issue 9 B9: without the token no API route answers,
// not even with a 404 for a route that does not exist.
func TestTokenRequired(t *testing.T) {
	e := newEnv(t)
	v := new(Victim)
	e.attach(v, "victim", "")
	routes := []struct{ method, path string }{
		{"GET", "/api/health"},
		{"GET", "/api/plugins"},
		{"GET", "/api/plugins/victim"},
		{"HEAD", "/api/plugins/victim"},
		{"GET", "/api/plugins/victim/openrpc"},
		{"POST", "/api/plugins/victim/call/Hit"},
		{"POST", "/api/broadcast/Hit"},
		{"DELETE", "/api/plugins/victim"},
		{"GET", "/api/events"},
		{"GET", "/api/nope"},
		{"GET", "/api"},
	}
	for _, auth := range []struct{ header, why string }{
		{"", "the admin API needs its token"},
		{"Bearer wrong", "the admin token is wrong"},
		{"Bearer " + testToken + "x", "the admin token is wrong"},
		{"Bearer " + testToken[:len(testToken)-1], "the admin token is wrong"},
		{"Basic " + testToken, `must be "Bearer <token>"`},
		{testToken, `must be "Bearer <token>"`},
		{"Bearer\t" + testToken, `must be "Bearer <token>"`},
	} {
		for _, rt := range routes {
			r := e.do(rt.method, rt.path, "{}", "Authorization", auth.header)
			require.Equal(t, http.StatusUnauthorized, r.status, "%s %s with %q: %s", rt.method, rt.path, auth.header, r.body)
			assert.Equal(t, `Bearer realm="plugsock admin"`, r.header.Get("WWW-Authenticate"))
			if rt.method == "HEAD" {
				continue
			}
			code, msg := r.apiError(t)
			assert.Equal(t, int64(0), code)
			assert.Contains(t, msg, auth.why, "%s %s with %q", rt.method, rt.path, auth.header)
			// A header without a space may be the token itself; no part
			// of what was sent comes back, nor reaches the log.
			assert.NotContains(t, msg, testToken[:8], "%s %s with %q", rt.method, rt.path, auth.header)
		}
	}
	assert.Equal(t, int64(0), v.calls.Load())
	assert.NotNil(t, e.s.PluginInfo("victim"))

	// The scheme's case does not matter (RFC 9110).
	r := e.do("GET", "/api/plugins", "", "Authorization", "bearer "+testToken)
	assert.Equal(t, http.StatusOK, r.status)
	// The console's files are served without it: it learns the token
	// from its own URL.
	for _, path := range []string{"/", "/?token=x", "/assets/console.js", "/assets/console.css"} {
		r := e.do("GET", path, "", "Authorization", "")
		assert.Equal(t, http.StatusOK, r.status, path)
	}

	// The Go client sends Client.Token, and a refusal matches
	// envelope.ErrUnauthorized.
	ctx := context.Background()
	_, err := e.c.List(ctx)
	require.NoError(t, err)
	bad := *e.c
	bad.Token = "wrong"
	_, err = bad.List(ctx)
	require.ErrorIs(t, err, envelope.ErrUnauthorized)
	var apiErr *admin.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, &admin.APIError{Status: 401, Message: "the admin token is wrong"}, apiErr)
	bad.Token = ""
	err = bad.Events(ctx, func(admin.Event) error { return nil })
	require.ErrorIs(t, err, envelope.ErrUnauthorized)
	_, err = bad.Call(ctx, "victim", "Hit", nil)
	require.ErrorIs(t, err, envelope.ErrUnauthorized)
	assert.Equal(t, int64(0), v.calls.Load())

	// Without Config.Token (an empty one) nothing is asked.
	e = newTokenlessEnv(t)
	r = e.do("GET", "/api/plugins", "", "Authorization", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var list struct{ Plugins []json.RawMessage }
	require.NoError(t, json.Unmarshal(r.body, &list))
}
