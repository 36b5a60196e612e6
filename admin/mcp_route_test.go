package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/socket"
)

// TestMCPRoute: Config.MCP serves /mcp, every method, behind the token
// and the cross-origin check, GETs included; without it there is no
// such route.
func TestMCPRoute(t *testing.T) {
	var seen []string
	mcp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method)
		_, _ = io.WriteString(w, "mcp here")
	})
	e := newEnvOf(t, socket.Config{}, []admin.Option{admin.Config{Logger: quiet, Token: testToken, MCP: mcp}})
	send := func(method, auth, site string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, e.ts.URL+"/mcp", strings.NewReader("{}"))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
			req.Header.Set("Origin", "https://evil.example")
		}
		resp, err := e.ts.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		status, body := send(method, "", "")
		assert.Equal(t, http.StatusUnauthorized, status, method)
		assert.Contains(t, body, "needs its token")
		status, _ = send(method, "Bearer "+testToken, "cross-site")
		assert.Equal(t, http.StatusForbidden, status, "%s from another site", method)
		status, body = send(method, "Bearer "+testToken, "")
		assert.Equal(t, http.StatusOK, status, method)
		assert.Equal(t, "mcp here", body)
	}
	assert.Equal(t, []string{http.MethodPost, http.MethodGet, http.MethodDelete}, seen, "only the requests that passed the guard")

	plain := admin.New(e.s, admin.Config{Logger: quiet, Token: testToken})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	plain.ServeHTTP(rec, req)
	assert.NotEqual(t, http.StatusOK, rec.Code, "no MCP handler, no /mcp")
	assert.NotContains(t, rec.Body.String(), "mcp here")
}
