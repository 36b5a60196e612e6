package socket

import (
	"fmt"
	"sync/atomic"

	"github.com/plugsock/plugsock/envelope"
)

// remote is the host's view of one plugin connection.
type remote struct {
	s       *Socket
	conn    *envelope.Conn
	session string
	addr    string
	launch  string        // the launch id the handshake presented
	gone    chan struct{} // closed once the disconnect has been reported
	cfg     *config       // the socket's settings when it connected
	calls   atomic.Int64  // calls waiting for an answer
	hb      *envelope.Heartbeat
	async   asyncSource // its data in the async queue, guarded by s.async.mu

	// Guarded by s.mu.
	info     *envelope.PluginInfo // set by the handshake, then read-only
	live     bool                 // handshake answered; calls may go out
	stopping bool                 // Unplug or Shutdown under way
	graceful bool                 // the plugin said goodbye or answered $/shutdown
	cutoff   bool                 // the socket gave up waiting for it
	decided  chan struct{}        // made when a stop begins; closed once graceful and cutoff are final
}

// handle runs on the plugin's read loop.
func (r *remote) handle(c *envelope.Conn, m *envelope.Envelope) {
	r.s.mu.Lock()
	info := r.info
	r.s.mu.Unlock()
	if info == nil {
		r.handshake(c, m)
		return
	}
	switch m.Method {
	case envelope.MethodAsync:
		// Kept as JSON, decoded only when the host reads it (Async):
		// decoded, a payload can take many times its size.
		r.s.async.addData(&r.async, info.Name, m.Params, r.s.settings())
		if m.IsRequest() {
			// Meant as a notification; answer anyway so the peer never waits.
			_ = c.Reply(m.ID, nil)
		}
	case envelope.MethodPing:
		if m.IsRequest() {
			_ = c.Reply(m.ID, nil)
		}
	case envelope.MethodShutdown:
		// The plugin is leaving on its own, in good order.
		r.s.mu.Lock()
		r.graceful = true
		r.stopping = true
		r.s.mu.Unlock()
		if m.IsRequest() {
			_ = c.Reply(m.ID, nil)
		}
	case envelope.MethodHandshake:
		r.violation(c, m, "second handshake")
	default:
		if m.IsRequest() {
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
		}
	}
}

func (r *remote) violation(c *envelope.Conn, m *envelope.Envelope, what string) {
	err := fmt.Errorf("%w: %s", envelope.ErrProtocol, what)
	if m.IsRequest() {
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidRequest, "%s", err))
	}
	r.s.settings().log.Warn("plugsock: closing connection", "addr", r.addr, "reason", err)
	c.CloseWithError(err)
}

// disconnected reports the end of a connection: once, on its read loop.
func (s *Socket) disconnected(r *remote, err error) {
	s.mu.Lock()
	decided := r.decided
	s.mu.Unlock()
	if decided != nil {
		// The connection is gone, so the stop's $/shutdown call has
		// returned or is about to: this does not wait long.
		<-decided
	}
	s.mu.Lock()
	delete(s.conns, r)
	var info *envelope.PluginInfo
	if r.info != nil && s.plugins[r.info.Name] == r {
		delete(s.plugins, r.info.Name)
	}
	if r.live {
		info = r.info
	}
	graceful := r.graceful && !r.cutoff
	cfg := s.config()
	s.mu.Unlock()

	if info != nil {
		if graceful {
			cfg.log.Info("plugsock: plugin disconnected", "plugin", info.Name, "graceful", true, "session", r.session)
		} else {
			cfg.log.Warn("plugsock: plugin disconnected", "plugin", info.Name, "graceful", false, "reason", err, "addr", r.addr, "session", r.session)
		}
		s.async.push(envelope.AsyncData{Name: info.Name, Payload: envelope.Disconnected{Info: info.DeepCopy(false), Graceful: graceful}},
			cfg.asyncBuffer, cfg.asyncWait, cfg.log)
		s.mu.Lock()
		if len(s.callbacks) > 0 {
			s.pending = append(s.pending, disconnect{s.callbacks, info, graceful})
			if s.dispatch == nil {
				s.dispatch = make(chan struct{})
				go s.runCallbacks(s.dispatch)
			}
		}
		s.mu.Unlock()
	}
	close(r.gone)
	s.wg.Done()
}

func (r *remote) name() string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.info == nil {
		return ""
	}
	return r.info.Name
}
