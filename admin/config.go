package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// A plugin's configuration: GET /api/plugins/{name}/config answers the
// schema it declared and the configuration it took; PUT replaces it
// (Socket.Configure).

func (a *Server) pluginConfig(w http.ResponseWriter, r *http.Request) {
	info, ok := a.plugin(w, r)
	if !ok {
		return
	}
	pc, err := a.s.PluginConfig(info.Name)
	if err != nil {
		a.configFailed(w, r, err, info.Name, 0)
		return
	}
	writeJSON(w, http.StatusOK, pc)
}

func (a *Server) configure(w http.ResponseWriter, r *http.Request) {
	info, ok := a.plugin(w, r)
	if !ok {
		return
	}
	value, ok := a.payload(w, r)
	if !ok {
		return
	}
	if value == nil {
		value = json.RawMessage("null")
	}
	ctx, cancel, timeout, ok := a.callContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	a.log.Info("plugsock admin: configuring", "plugin", info.Name, "trace", envelope.TraceFrom(ctx), "remote", r.RemoteAddr)
	ready := answerDeadline(w, r)
	err := a.s.Configure(ctx, info.Name, value)
	ready()
	if err != nil {
		if r.Context().Err() != nil {
			a.log.Debug("plugsock admin: client went away during configure", "plugin", info.Name, "trace", envelope.TraceFrom(ctx))
			return
		}
		a.configFailed(w, r, err, info.Name, timeout)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// configFailed answers an error of Socket.Configure or PluginConfig.
func (a *Server) configFailed(w http.ResponseWriter, r *http.Request, err error, name string, timeout time.Duration) {
	var rpc *envelope.Error
	switch {
	case errors.Is(err, socket.ErrNotConfigurable):
		a.fail(w, r, http.StatusNotFound, 0, fmt.Sprintf("plugin %q takes no configuration: it declared no configSchema", name))
	case !errors.As(err, &rpc) && errors.Is(err, context.DeadlineExceeded):
		msg := fmt.Sprintf("plugin %q did not take its configuration within %v", name, timeout)
		if timeout == 0 {
			msg = err.Error()
		}
		a.fail(w, r, http.StatusGatewayTimeout, 0, msg)
	default:
		status, body := classify(err, name, "$/configure", timeout)
		a.fail(w, r, status, body.Code, body.Message)
	}
}
