package names_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/internal/names"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var valid = []string{
	"calc", "geo.lookup", "billing_v2", "météo", "Calc", "a",
	"...", ".hidden", "trailing.", "%2e", "%2E%2E", "a%2Fb", "?", "#", "q?x=1#f",
	`back\slash`, "semi;colon", "plus+", "~", "-", "100%", "日本語",
	strings.Repeat("x", names.MaxLen), strings.Repeat("é", names.MaxLen/2),
}

func TestCheck(t *testing.T) {
	for _, name := range valid {
		assert.NoError(t, names.Check(name), "%q", name)
	}
	for name, want := range map[string]string{
		"":                       "plugin name is empty",
		strings.Repeat("x", 129): "plugin name is 129 bytes long; at most 128 allowed",
		strings.Repeat("é", 65):  "plugin name is 130 bytes long; at most 128 allowed",
		".":                      `plugin name "." is a dot-segment, which cannot be a URL path segment`,
		"..":                     `plugin name ".." is a dot-segment, which cannot be a URL path segment`,
		"calc@1.2":               `plugin name "calc@1.2" contains '@' or '/'`,
		"a/b":                    `plugin name "a/b" contains '@' or '/'`,
		"two words":              `plugin name "two words" contains white space or unprintable characters`,
		"no\u00a0break":          `plugin name "no\u00a0break" contains white space or unprintable characters`,
		"tab\t":                  `plugin name "tab\t" contains white space or unprintable characters`,
		"esc\x1b]0;pwned\x07":    `plugin name "esc\x1b]0;pwned\a" contains white space or unprintable characters`,
		"bad\xffutf8":            `plugin name "bad\xffutf8" is not valid UTF-8`,
		"zero\u200bwidth":        `plugin name "zero\u200bwidth" contains white space or unprintable characters`,
	} {
		err := names.Check(name)
		if assert.Error(t, err, "%q", name) {
			assert.Equal(t, want, err.Error())
		}
	}
}

// The rule's reason to be: every valid name, escaped, is one path segment
// that a router sees unchanged, and the names it refuses for URLs are the
// ones a router cannot see.
func TestValidNamesRouteAsOneSegment(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/plugins/{name}/openrpc", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.PathValue("name")))
	})
	get := func(name string) *httptest.ResponseRecorder {
		u := &url.URL{Scheme: "http", Host: "127.0.0.1", Path: "/api/plugins/" + name + "/openrpc",
			RawPath: "/api/plugins/" + url.PathEscape(name) + "/openrpc"}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.String(), nil))
		return rec
	}
	for _, name := range valid {
		rec := get(name)
		require.Equal(t, http.StatusOK, rec.Code, "%q", name)
		assert.Equal(t, name, rec.Body.String())
	}
	for _, name := range []string{".", ".."} {
		rec := get(name)
		assert.NotEqual(t, http.StatusOK, rec.Code, "%q", name)
		assert.Error(t, names.Check(name))
	}
}
