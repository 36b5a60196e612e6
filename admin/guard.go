package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The checks every request passes before it reaches a route, in order:
//
//  1. Host: the name the client used to reach the server must be one the
//     server is meant to be reached by. A web page whose own name was
//     re-resolved to 127.0.0.1 (DNS rebinding) is same-origin with the
//     server as far as the browser knows; its requests still say
//     "Host: evil.example", and are refused here.
//  2. Cross-origin: browsers say where a request comes from
//     (Sec-Fetch-Site, Origin); a request from another site is refused.
//     net/http.CrossOriginProtection judges this. It lets GET and HEAD
//     through, since those should not change anything, but API GETs make
//     the host walk plugin-supplied descriptions and read plugin data, so
//     under /api/ they are judged like any other method.
//  3. Token: with Config.Token set, every /api/ route, /metrics and /mcp
//     want "Authorization: Bearer <token>". The console's files are served
//     without it: they hold no data, and the console needs to load to
//     learn the token from its URL.

// hostName is h without its port and brackets, lower-cased, without a
// trailing dot.
func hostName(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// hostAllowed reports whether the request's Host names this server.
func (a *Server) hostAllowed(r *http.Request) bool {
	name := hostName(r.Host)
	if name == "" {
		return false
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		// Browsers resolve these to loopback themselves; no DNS answer
		// can rebind them.
		return true
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		ip = ip.Unmap()
		if ip.IsLoopback() {
			return true
		}
		// An address literal cannot be rebound either; the one the
		// connection came in on is this server's own.
		if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(local.String()); err == nil && ap.Addr().Unmap() == ip {
				return true
			}
		}
	}
	for _, h := range a.hosts {
		if h == name {
			return true
		}
	}
	return false
}

// guard runs the checks above and answers the request itself when one
// fails; it reports whether the request may go on.
func (a *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	if !a.hostAllowed(r) {
		a.refuse(w, r, http.StatusForbidden, 0, fmt.Sprintf(
			"host %q is not a name this admin server answers to (a web page re-resolved to this address, or a name it was not told about); "+
				"it answers to localhost, loopback addresses and its own address, and to names given in admin.Config.Hosts (plugsock serve --admin-host)", r.Host))
		return false
	}
	// /metrics tells what the plugins do, and /mcp calls them, so they
	// are guarded as the API is.
	api := r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" || r.URL.Path == "/mcp"
	check := r
	if api && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		c := *r
		c.Method = http.MethodPost // judged like a request that changes things
		check = &c
	}
	if err := a.cop.Check(check); err != nil {
		// A web page elsewhere must not drive or read the plugins through
		// a browser that can reach this server.
		a.refuse(w, r, http.StatusForbidden, 0, fmt.Sprintf("cross-origin request refused (%v); the API answers only its own console and non-browser clients", err))
		return false
	}
	if api && a.token != nil {
		if msg := a.checkToken(r); msg != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="plugsock admin"`)
			a.refuse(w, r, http.StatusUnauthorized, 0, msg)
			return false
		}
	}
	return true
}

// refuse answers a request the guard turns away, and gives its connection
// back at once: kept alive, it would hold one of the server's few
// connections (LimitListener) for the idle timeout, and a few clients
// without the token could lock the operator out.
func (a *Server) refuse(w http.ResponseWriter, r *http.Request, status int, code int64, msg string) {
	w.Header().Set("Connection", "close")
	a.fail(w, r, status, code, msg)
}

// checkToken returns why the request's token is not accepted, or "".
func (a *Server) checkToken(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return `the admin API needs its token: send "Authorization: Bearer <token>" ` +
			`(plugsock serve prints a console URL carrying it, or takes it from --admin-token or $PLUGSOCK_ADMIN_TOKEN; the CLI reads the same flag and variable)`
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Never echo what was sent: without a space, "scheme" is the
		// whole header, which may be the token itself.
		return `the Authorization header must be "Bearer <token>"`
	}
	// Hashing first makes the comparison take as long whatever the
	// length of the guess.
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], a.token) != 1 {
		return "the admin token is wrong"
	}
	return ""
}
