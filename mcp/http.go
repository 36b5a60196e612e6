package mcp

import (
	"context"
	"crypto/rand"
	"net/http"
	"time"
)

// DefaultWriteTimeout bounds each write to an HTTP client when the
// http.Server sets no WriteTimeout of its own.
const DefaultWriteTimeout = 30 * time.Second

// The Streamable HTTP transport's headers.
const (
	sessionHeader  = "Mcp-Session-Id"
	protocolHeader = "Mcp-Protocol-Version"
)

// streamHeader tells a tool's handler which HTTP request carried its
// call (see streamContext). ServeHTTP sets it on every POST, replacing
// whatever a client sent.
const streamHeader = "X-Plugsock-Mcp-Stream"

// statelessVersion is the first protocol version without sessions
// (2026-07-28); versions are dates, so they compare as strings.
const statelessVersion = "2026-07-28"

// sessionUse is what the Server knows of one HTTP session: how many of
// its requests are being served, and when the last one ended.
type sessionUse struct {
	active int
	last   time.Time
}

// ServeHTTP serves MCP's Streamable HTTP transport: POST a message, GET
// the session's stream of messages from the server, DELETE to end a
// session. Requests that name protocol version 2026-07-28 or later (the
// Mcp-Protocol-Version header) are served without a session, as that
// version has none; the others, 2025-11-25 and before, with one.
//
// A call's HTTP request closing cancels the plugin's call, as
// notifications/cancelled does. Each write to a client has the
// http.Server's WriteTimeout (DefaultWriteTimeout when it has none) from
// when it starts, rather than one deadline for the whole answer, so that
// a long call or an open stream is not cut off while a client that stops
// reading still is. ServeHTTP does no authentication: mount it behind
// whatever guards the host's other routes (plugsock serve puts it behind
// the admin token).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		http.Error(w, "the MCP server is shutting down", http.StatusServiceUnavailable)
		return
	}
	sw := newStreamWriter(w, r)
	defer sw.done()
	w = sw

	if v := r.Header.Get(protocolHeader); v >= statelessVersion {
		s.serveCall(s.stateless, w, r)
		return
	}
	id := r.Header.Get(sessionHeader)
	if id == "" && r.Method == http.MethodPost {
		if !s.admit() {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "too many MCP sessions are open, and none is idle; end one (DELETE) or retry later", http.StatusServiceUnavailable)
			return
		}
		s.serveCall(s.stateful, w, r)
		if sid := w.Header().Get(sessionHeader); sid != "" {
			s.hmu.Lock()
			s.sessions[sid] = &sessionUse{last: time.Now()}
			s.hmu.Unlock()
		}
	} else {
		s.hmu.Lock()
		u := s.sessions[id]
		if u != nil {
			u.active++
		}
		s.hmu.Unlock()
		s.serveCall(s.stateful, w, r)
		if u != nil {
			s.hmu.Lock()
			u.active--
			u.last = time.Now()
			s.hmu.Unlock()
		}
	}
	s.mu.Lock()
	closed = s.closed
	s.mu.Unlock()
	if closed {
		// Close ran meanwhile and may have missed a session this request
		// opened.
		s.closeSessions()
	}
}

// serveCall serves r with h, and lets the tool calls it carries find r's
// context (streamContext).
func (s *Server) serveCall(h http.Handler, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		r.Header.Del(streamHeader)
		h.ServeHTTP(w, r)
		return
	}
	key := rand.Text()
	r.Header.Set(streamHeader, key)
	s.hmu.Lock()
	s.streams[key] = r.Context()
	s.hmu.Unlock()
	defer func() {
		s.hmu.Lock()
		delete(s.streams, key)
		s.hmu.Unlock()
	}()
	h.ServeHTTP(w, r)
}

// streamContext returns the context of the HTTP request that carried a
// call, from the header the SDK passes on to the call's handler; nil over
// stdio. In a session, the SDK answers a call on the request that
// carried it, but it does not end the call when that request ends (a
// client could resume the stream, which this server does not offer); the
// handler ends it then.
func (s *Server) streamContext(h http.Header) context.Context {
	if h == nil {
		return nil
	}
	key := h.Get(streamHeader)
	if key == "" {
		return nil
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.streams[key]
}

// admit reports whether a new HTTP session may open. Past MaxSessions,
// the session that has been idle longest (no request being served) is
// ended to make room; when every one is busy, none may open.
func (s *Server) admit() bool {
	live := map[string]bool{}
	for ss := range s.sdk.Sessions() {
		if id := ss.ID(); id != "" {
			live[id] = true
		}
	}
	s.hmu.Lock()
	for id := range s.sessions {
		if !live[id] {
			delete(s.sessions, id) // ended by its client, or by the SDK
		}
	}
	if len(s.sessions) < s.maxSessions {
		s.hmu.Unlock()
		return true
	}
	victim := ""
	var oldest time.Time
	for id, u := range s.sessions {
		if u.active == 0 && (victim == "" || u.last.Before(oldest)) {
			victim, oldest = id, u.last
		}
	}
	if victim != "" {
		delete(s.sessions, victim)
	}
	s.hmu.Unlock()
	if victim == "" {
		return false
	}
	for ss := range s.sdk.Sessions() {
		if ss.ID() == victim {
			s.log.Info("plugsock mcp: session ended to make room for a new one", "session", victim, "idle", time.Since(oldest).Round(time.Second), "max", s.maxSessions)
			_ = ss.Close()
		}
	}
	return true
}

// streamWriter gives each write to the client a deadline of its own.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func newStreamWriter(w http.ResponseWriter, r *http.Request) *streamWriter {
	d := DefaultWriteTimeout
	if srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server); srv != nil && srv.WriteTimeout > 0 {
		d = srv.WriteTimeout
	}
	return &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
}

func (w *streamWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *streamWriter) WriteHeader(code int) {
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

func (w *streamWriter) Flush() {
	w.extend()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// done lifts the deadline as the request ends: the connection may serve
// other requests, which get deadlines of the server's own.
func (w *streamWriter) done() { _ = w.rc.SetWriteDeadline(time.Time{}) }
