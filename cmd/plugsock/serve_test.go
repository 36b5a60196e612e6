package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
)

// logBuffer collects what a process or logger writes, from any goroutine:
// serve's JSON log lines, a child's stderr.
type logBuffer struct{ testplugins.Log }

// records returns every log record so far.
func (l *logBuffer) records(t *testing.T) []map[string]any {
	recs, err := l.Records()
	require.NoError(t, err)
	return recs
}

// find returns the first record with message msg whose attributes include
// attrs, or nil.
func (l *logBuffer) find(t *testing.T, msg string, attrs map[string]any) map[string]any {
next:
	for _, rec := range l.records(t) {
		if rec["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if rec[k] != v {
				continue next
			}
		}
		return rec
	}
	return nil
}

// waitFor waits for a record like find's.
func (l *logBuffer) waitFor(t *testing.T, msg string, attrs map[string]any) map[string]any {
	t.Helper()
	var rec map[string]any
	require.Eventually(t, func() bool {
		rec = l.find(t, msg, attrs)
		return rec != nil
	}, 10*time.Second, 5*time.Millisecond, "no log record %q %v in:\n%s", msg, attrs, l)
	return rec
}

// String returns everything written so far.
// startServe runs "plugsock serve args..." in-process until the returned
// stop function is called, which returns its exit status.
func startServe(t *testing.T, args ...string) (logs *logBuffer, stop func() int) {
	t.Helper()
	logs = new(logBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout strings.Builder
	go func() {
		done <- run(ctx, append([]string{"serve", "--log-format", "json"}, args...), &stdout, logs)
	}()
	stopped := false
	var code int
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return logs, stop
}

func TestServe(t *testing.T) {
	logs, stop := startServe(t, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	addr := logs.waitFor(t, "plugsock: socket listening", nil)["addr"].(string)
	logs.waitFor(t, "plugsock: admin API listening", nil)

	// A plugin dials in, makes a change and so pushes async data.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	store := new(kv.Store)
	p := &plugin.Plugin{Logger: quiet}
	connected := make(chan struct{})
	p.OnConnect = func(string) { close(connected) }
	started := make(chan error, 1)
	go func() { started <- p.Start(store, &envelope.PluginInfo{Name: "kv", Version: "1.0.0"}, conn, nil) }()
	<-connected
	logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": "kv", "version": "1.0.0"})
	_, err = store.Set(context.Background(), kv.Entry{Key: "k", Value: "v"})
	require.NoError(t, err)
	rec := logs.waitFor(t, "plugsock: async", map[string]any{"plugin": "kv"})
	assert.Equal(t, `{"key": "k", "op": "set", "value": "v"}`, rec["payload"])

	assert.Equal(t, exitOK, stop())
	assert.NoError(t, <-started, "the plugin was unplugged in good order")
	assert.NotNil(t, logs.find(t, "plugsock: disconnected", map[string]any{"plugin": "kv", "graceful": true}), logs)
	assert.NotNil(t, logs.find(t, "plugsock: stopped", nil), logs)
	for _, rec := range logs.records(t) {
		assert.NotEqual(t, "ERROR", rec["level"], "%v", rec)
	}
}

func TestServeUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugsock.sock")
	logs, stop := startServe(t, "--listen", "unix:"+path, "--admin", "off")
	rec := logs.waitFor(t, "plugsock: socket listening", nil)
	assert.Equal(t, "unix:"+path, rec["addr"])
	assert.Nil(t, logs.find(t, "plugsock: admin API listening", nil), "--admin off serves no admin API")

	conn, err := net.Dial("unix", path)
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() {
		started <- (&plugin.Plugin{Logger: quiet}).Start(new(kv.Store), &envelope.PluginInfo{Name: "kv"}, conn, nil)
	}()
	logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": "kv"})
	assert.Equal(t, exitOK, stop())
	assert.NoError(t, <-started)
}

func TestServeListenFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	code, _, errOut := runCLI(t, "serve", "--listen", l.Addr().String())
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "plugsock serve: listen tcp "+l.Addr().String()+": bind: address already in use")

	code, _, errOut = runCLI(t, "serve", "--listen", "127.0.0.1:0", "--admin", l.Addr().String())
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "plugsock serve: admin API: listen tcp "+l.Addr().String())
}

// adminServe is a running serve with its admin API.
type adminServe struct {
	logs  *logBuffer
	stop  func() int
	addr  string // where plugins dial
	url   string // the admin API, without a token
	token string // the admin token, given or made up
}

// startAdminServe runs serve on free loopback ports with args added. token
// is the admin token serve was given; "" has it learn the one serve made
// up from the console URL it logs.
func startAdminServe(t *testing.T, token string, args ...string) *adminServe {
	t.Helper()
	logs, stop := startServe(t, append([]string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, args...)...)
	s := &adminServe{logs: logs, stop: stop, token: token}
	s.addr = logs.waitFor(t, "plugsock: socket listening", nil)["addr"].(string)
	s.url = logs.waitFor(t, "plugsock: admin API listening", nil)["url"].(string)
	if token == "" {
		u, err := url.Parse(logs.waitFor(t, consoleMsg, nil)["url"].(string))
		require.NoError(t, err)
		s.token = u.Query().Get("token")
	}
	return s
}

// get sends GET path with the given Authorization header ("" for none)
// and Host ("" for the URL's).
func (s *adminServe) get(t *testing.T, path, auth, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", s.url+path, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestServeMakesUpAdminToken is issue 9 B9: without --admin-token or
// $PLUGSOCK_ADMIN_TOKEN, serve makes a token up and logs the console's
// URL carrying it, once, whatever the log level; the API wants it.
func TestServeMakesUpAdminToken(t *testing.T) {
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "")
	s := startAdminServe(t, "")
	assert.Regexp(t, `^[A-Z2-7]{26}$`, s.token, "crypto/rand.Text: 128 bits")
	rec := s.logs.find(t, consoleMsg, nil)
	assert.Equal(t, s.url+"/?token="+s.token, rec["url"])
	assert.Equal(t, 1, strings.Count(s.logs.String(), s.token), "the token is printed once:\n%s", s.logs)

	status, body := s.get(t, "/api/plugins", "", "")
	assert.Equal(t, http.StatusUnauthorized, status, body)
	assert.Contains(t, body, "the admin API needs its token")
	status, _ = s.get(t, "/api/plugins", "Bearer wrong", "")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, body = s.get(t, "/api/plugins", "Bearer "+s.token, "")
	assert.Equal(t, http.StatusOK, status, body)
	status, _ = s.get(t, "/?token="+s.token, "", "")
	assert.Equal(t, http.StatusOK, status, "the console loads from the logged URL")
	assert.Equal(t, exitOK, s.stop())

	other := startAdminServe(t, "")
	assert.NotEqual(t, s.token, other.token, "each run makes up its own")

	// Logged whatever the level, or it would be lost.
	logs, stop := startServe(t, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-level", "error")
	rec = logs.waitFor(t, consoleMsg, nil)
	assert.Contains(t, rec["url"], "/?token=")
	assert.Equal(t, exitOK, stop())
	assert.Len(t, logs.records(t), 1, "nothing else at --log-level error:\n%s", logs)
}

// TestServeAdminTokenGiven checks --admin-token and $PLUGSOCK_ADMIN_TOKEN:
// the API wants that token, and serve prints it nowhere.
func TestServeAdminTokenGiven(t *testing.T) {
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", "from-the-environment")
	for _, tc := range []struct {
		args  []string
		token string
	}{
		{nil, "from-the-environment"},
		{[]string{"--admin-token", "from-the-flag"}, "from-the-flag"},
	} {
		s := startAdminServe(t, tc.token, tc.args...)
		status, body := s.get(t, "/api/plugins", "Bearer "+tc.token, "")
		assert.Equal(t, http.StatusOK, status, body)
		for _, wrong := range []string{"from-the-environment", "from-the-flag"} {
			if wrong != tc.token {
				status, _ = s.get(t, "/api/plugins", "Bearer "+wrong, "")
				assert.Equal(t, http.StatusUnauthorized, status)
			}
		}
		assert.Equal(t, exitOK, s.stop())
		assert.Nil(t, s.logs.find(t, consoleMsg, nil), "no token was made up")
		assert.NotContains(t, s.logs.String(), tc.token, "serve printed the token")
	}

	// An explicit empty flag wins over the environment: a token is made
	// up.
	s := startAdminServe(t, "", "--admin-token", "")
	assert.NotEqual(t, "from-the-environment", s.token)
	assert.NotEmpty(t, s.token)
}

// TestHelpPrintsNoSecret is issue 9 B12: "PLUGSOCK_TOKEN=… plugsock serve
// --help" printed the token as the flag's default. No command's help
// prints a secret from the environment.
func TestHelpPrintsNoSecret(t *testing.T) {
	const plug, adm = "plugin-secret-4f1c", "admin-secret-9a2e"
	t.Setenv("PLUGSOCK_TOKEN", plug)
	t.Setenv("PLUGSOCK_ADMIN_TOKEN", adm)
	var runs [][]string
	for name := range commands {
		runs = append(runs, []string{name, "--help"}, []string{name, "-h"}, []string{"help", name})
	}
	runs = append(runs, []string{"help"}, []string{"serve", "--no-such-flag"})
	for _, args := range runs {
		_, out, errOut := runCLI(t, args...)
		for _, secret := range []string{plug, adm} {
			assert.NotContains(t, out, secret, "plugsock %s", strings.Join(args, " "))
			assert.NotContains(t, errOut, secret, "plugsock %s", strings.Join(args, " "))
		}
	}
	_, out, _ := runCLI(t, "serve", "--help")
	assert.Contains(t, out, "default $PLUGSOCK_TOKEN")
	assert.Contains(t, out, "default $PLUGSOCK_ADMIN_TOKEN")

	// Nor does a run of serve log them, from start to stop.
	s := startAdminServe(t, adm, "--admin-token", adm)
	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() {
		p := &plugin.Plugin{Logger: quiet, Token: plug}
		started <- p.Start(new(kv.Store), &envelope.PluginInfo{Name: "kv"}, conn, nil)
	}()
	s.logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": "kv"})
	assert.Equal(t, exitOK, s.stop())
	assert.NoError(t, <-started)
	assert.NotContains(t, s.logs.String(), plug)
	assert.NotContains(t, s.logs.String(), adm)
}

// TestServePluginTokenFromEnv checks that $PLUGSOCK_TOKEN, no longer the
// flag's default, is still what plugins must present.
func TestServePluginTokenFromEnv(t *testing.T) {
	t.Setenv("PLUGSOCK_TOKEN", "plugin-secret")
	s := startAdminServe(t, "x", "--admin-token", "x")
	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	err = (&plugin.Plugin{Logger: quiet}).Start(new(kv.Store), &envelope.PluginInfo{Name: "kv"}, conn, nil)
	require.ErrorIs(t, err, envelope.ErrUnauthorized)
	conn, err = net.Dial("tcp", s.addr)
	require.NoError(t, err)
	started := make(chan error, 1)
	go func() {
		started <- (&plugin.Plugin{Logger: quiet, Token: "plugin-secret"}).Start(new(kv.Store), &envelope.PluginInfo{Name: "kv"}, conn, nil)
	}()
	s.logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": "kv"})
	assert.Equal(t, exitOK, s.stop())
	assert.NoError(t, <-started)
}

// TestServeAdminHosts is issue 9 B8 for serve: the admin API answers to
// loopback names and its --admin address, and to --admin-host names; a
// request naming any other host (a rebound web page) is refused.
func TestServeAdminHosts(t *testing.T) {
	s := startAdminServe(t, "tok", "--admin-token", "tok", "--admin-host", "plugsock.lan", "--admin-host", "Other.Example:80")
	_, port, err := net.SplitHostPort(strings.TrimPrefix(s.url, "http://"))
	require.NoError(t, err)
	for host, want := range map[string]int{
		"127.0.0.1:" + port:     200,
		"localhost:" + port:     200,
		"plugsock.lan:" + port:  200,
		"other.example":         200,
		"evil.example:" + port:  403,
		"plugsock.lan.evil.com": 403,
	} {
		status, body := s.get(t, "/api/health", "Bearer tok", host)
		assert.Equal(t, want, status, "Host %s: %s", host, body)
		if want == 403 {
			assert.Contains(t, body, "is not a name this admin server answers to")
		}
	}
}

// TestServeAdminConnectionCap is issue 9 B10 for serve: the admin API
// holds at most admin.DefaultMaxConns connections; the next is told 503
// at once.
func TestServeAdminConnectionCap(t *testing.T) {
	s := startAdminServe(t, "tok", "--admin-token", "tok")
	hostport := strings.TrimPrefix(s.url, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range admin.DefaultMaxConns {
		c, err := net.Dial("tcp", hostport)
		require.NoError(t, err)
		held = append(held, c)
		// One answer each, so that each was accepted before the next.
		_, err = fmt.Fprintf(c, "GET /api/health HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tok\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	c, err := net.Dial("tcp", hostport)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	got, err := io.ReadAll(c)
	require.NoError(t, err, "the server did not close the connection over the cap")
	assert.True(t, strings.HasPrefix(string(got), "HTTP/1.1 503 Service Unavailable\r\n"), "%q", got)
}
