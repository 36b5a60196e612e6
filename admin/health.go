package admin

import (
	"net/http"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// Probes: GET /healthz and GET /readyz, the names Kubernetes' liveness
// and readiness probes expect, and GET /api/health/plugins, every
// plugin's health for the console.
//
// A probe cannot send the admin token (Kubernetes' httpGet probes send
// only fixed headers, which would put the token in the pod's spec), so
// the probes are outside /api/ and want none. Without it they answer
// their status alone and name no plugin: what anyone who can reach the
// server learns is whether it is up and ready, which the probe exists to
// tell. With the token, /readyz says what keeps it from being ready. The
// Host check applies to them as to every route, so a page re-resolved to
// 127.0.0.1 reads nothing; a probe's Host is the address it dials, which
// is the server's own.

// Probe statuses.
const (
	statusOK           = "ok"
	statusReady        = "ready"
	statusNotReady     = "not ready"
	statusShuttingDown = "shutting down"
)

// Liveness is the answer of GET /healthz.
type Liveness struct {
	// Status is "ok", or "shutting down" once the socket's Shutdown has
	// begun (answered 503).
	Status string `json:"status"`
}

// Readiness is the answer of GET /readyz. Without the token only Status
// is there.
type Readiness struct {
	// Status is "ready" (200), "not ready" or "shutting down" (503).
	Status string `json:"status"`
	// Missing lists the required plugins not connected.
	Missing []string `json:"missing,omitempty"`
	// Unhealthy lists the required plugins whose last health check found
	// them unhealthy, or failed.
	Unhealthy []string `json:"unhealthy,omitempty"`
	// Unchecked lists the required plugins whose health is checked but
	// whose first check has not answered yet; they are not ready until
	// it has.
	Unchecked []string `json:"unchecked,omitempty"`
	// Degraded lists the required plugins that say they are degraded:
	// ready, but worth a look.
	Degraded []string `json:"degraded,omitempty"`
	// Plugins is the health of each required plugin connected.
	Plugins []socket.Health `json:"plugins,omitempty"`
}

// PluginHealths is the answer of GET /api/health/plugins.
type PluginHealths struct {
	Plugins []socket.Health `json:"plugins"`
}

func (a *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !a.s.Up() {
		writeJSON(w, http.StatusServiceUnavailable, Liveness{statusShuttingDown})
		return
	}
	writeJSON(w, http.StatusOK, Liveness{statusOK})
}

func (a *Server) readyz(w http.ResponseWriter, r *http.Request) {
	// The details are for those with the token; a wrong one is refused
	// as the API refuses it, so that a client expecting details learns
	// why it gets none.
	details := a.token == nil
	if !details && r.Header.Get("Authorization") != "" {
		if msg := a.checkToken(r); msg != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="plugsock admin"`)
			a.refuse(w, r, http.StatusUnauthorized, 0, msg)
			return
		}
		details = true
	}
	rd := a.readiness()
	status := http.StatusOK
	if rd.Status != statusReady {
		status = http.StatusServiceUnavailable
	}
	if !details {
		rd = Readiness{Status: rd.Status}
	}
	writeJSON(w, status, rd)
}

// readiness judges the required plugins: ready when each is connected
// and neither unhealthy nor waiting for its first check.
func (a *Server) readiness() Readiness {
	if !a.s.Up() {
		return Readiness{Status: statusShuttingDown}
	}
	rd := Readiness{Status: statusReady}
	for _, name := range a.required {
		h, ok := a.s.Health(name)
		switch {
		case !ok:
			rd.Missing = append(rd.Missing, name)
			continue
		case h.Status == envelope.Unhealthy:
			rd.Unhealthy = append(rd.Unhealthy, name)
		case h.Checks && h.LastCheck.IsZero():
			rd.Unchecked = append(rd.Unchecked, name)
		case h.Status == envelope.Degraded:
			rd.Degraded = append(rd.Degraded, name)
		}
		rd.Plugins = append(rd.Plugins, h)
	}
	if len(rd.Missing)+len(rd.Unhealthy)+len(rd.Unchecked) > 0 {
		rd.Status = statusNotReady
	}
	return rd
}

func (a *Server) pluginHealths(w http.ResponseWriter, r *http.Request) {
	out := a.s.Healths()
	if out == nil {
		out = []socket.Health{}
	}
	writeJSON(w, http.StatusOK, PluginHealths{out})
}
