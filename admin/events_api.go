package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/socket"
)

// The routes of the socket's events and of its plugins' state
// (docs/admin-api.md, "Events and state").

// eventRoutes registers the routes of events and state with routes'
// handle.
func (a *Server) eventRoutes(handle func(path string, byMethod map[string]http.HandlerFunc)) {
	handle("/api/topics", map[string]http.HandlerFunc{http.MethodGet: a.topics})
	handle("/api/topics/{topic}/events", map[string]http.HandlerFunc{http.MethodPost: a.publish})
	handle("/api/subscriptions", map[string]http.HandlerFunc{http.MethodGet: a.subscriptions})
	handle("/api/state/{name}", map[string]http.HandlerFunc{http.MethodGet: a.state})
}

// Topics is the answer of GET /api/topics.
type Topics struct {
	Topics []socket.TopicInfo `json:"topics"`
}

// Subscriptions is the answer of GET /api/subscriptions.
type Subscriptions struct {
	Subscriptions []socket.SubscriptionInfo `json:"subscriptions"`
}

// Published is the answer of POST /api/topics/{topic}/events: the offset
// the event was given.
type Published struct {
	Topic  string `json:"topic"`
	Offset uint64 `json:"offset"`
}

// State is the answer of GET /api/state/{name}: the snapshot the host
// holds of the state of the plugins called name.
type State struct {
	socket.StateInfo
	// Age is how long ago it was taken, in seconds.
	Age float64 `json:"age"`
}

// eventsFailed answers an error of the socket's events: 400 for a
// request it cannot take, 413 for an event too large, 503 while it shuts
// down, 500 for the store's own failures.
func (a *Server) eventsFailed(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, eventlog.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, socket.ErrEvents), errors.Is(err, eventlog.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, socket.ErrShutdown), errors.Is(err, eventlog.ErrClosed):
		status = http.StatusServiceUnavailable
	}
	a.fail(w, r, status, 0, err.Error())
}

func (a *Server) topics(w http.ResponseWriter, r *http.Request) {
	ts, err := a.s.Topics(r.Context())
	if err != nil {
		a.eventsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Topics{ts})
}

func (a *Server) subscriptions(w http.ResponseWriter, r *http.Request) {
	subs, err := a.s.Subscriptions(r.Context())
	if err != nil {
		a.eventsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Subscriptions{subs})
}

// publish appends the event in the body, an eventlog.Event without its
// topic and offset (the path names the topic; the store gives the
// offset), and answers once it is stored.
func (a *Server) publish(w http.ResponseWriter, r *http.Request) {
	body, ok := a.payload(w, r)
	if !ok {
		return
	}
	var e eventlog.Event
	if body != nil {
		if err := json.Unmarshal(body, &e); err != nil {
			a.fail(w, r, http.StatusBadRequest, 0, "request body is not an event: "+err.Error())
			return
		}
	}
	topic := r.PathValue("topic")
	if e.Topic != "" && e.Topic != topic {
		a.fail(w, r, http.StatusBadRequest, 0, fmt.Sprintf("the event names topic %q, the path %q", e.Topic, topic))
		return
	}
	off, err := a.s.Publish(r.Context(), topic, e)
	if err != nil {
		a.eventsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Published{Topic: topic, Offset: off})
}

func (a *Server) state(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	info, ok, err := a.s.State(r.Context(), name)
	switch {
	case err != nil:
		a.eventsFailed(w, r, err)
	case !ok:
		a.fail(w, r, http.StatusNotFound, 0, fmt.Sprintf("no snapshot of plugin %q is held", name))
	default:
		writeJSON(w, http.StatusOK, State{StateInfo: info, Age: time.Since(info.Time).Seconds()})
	}
}

// Topics returns the topics of the host's store (GET /api/topics).
func (c *Client) Topics(ctx context.Context) ([]socket.TopicInfo, error) {
	var t Topics
	if err := c.do(ctx, http.MethodGet, nil, &t, "api", "topics"); err != nil {
		return nil, err
	}
	return t.Topics, nil
}

// Subscriptions returns the host's subscriptions, their offsets, lag and
// instances (GET /api/subscriptions).
func (c *Client) Subscriptions(ctx context.Context) ([]socket.SubscriptionInfo, error) {
	var s Subscriptions
	if err := c.do(ctx, http.MethodGet, nil, &s, "api", "subscriptions"); err != nil {
		return nil, err
	}
	return s.Subscriptions, nil
}

// Publish publishes event, the JSON of an eventlog.Event without its
// topic, to topic, and returns its offset (POST
// /api/topics/{topic}/events).
func (c *Client) Publish(ctx context.Context, topic string, event json.RawMessage) (uint64, error) {
	if err := checkSegment("topic", topic); err != nil {
		return 0, err
	}
	var p Published
	if err := c.do(ctx, http.MethodPost, bodyOf(event), &p, "api", "topics", topic, "events"); err != nil {
		return 0, err
	}
	return p.Offset, nil
}

// State returns what the host holds of the state of the plugins called
// name (GET /api/state/{name}); an error with status 404 when it holds
// none.
func (c *Client) State(ctx context.Context, name string) (*State, error) {
	if err := checkSegment("plugin name", name); err != nil {
		return nil, err
	}
	var st State
	if err := c.do(ctx, http.MethodGet, nil, &st, "api", "state", name); err != nil {
		return nil, err
	}
	return &st, nil
}
