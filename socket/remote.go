package socket

import (
	"context"
	"fmt"
	"time"

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
	due     time.Time     // when the handshake timer closes the connection unless it is named
	// handshakeTimer closes the connection at due unless it is named;
	// stopped once it is, so that 20,000 plugins do not keep 20,000
	// timers in the runtime's heaps for HandshakeTimeout. Set before the
	// read loop starts; nil for in-process plugins.
	handshakeTimer *time.Timer
	cfg            *config  // the socket's settings when it connected; never changed
	calls          inFlight // calls waiting for an answer (limits.go)
	hb             *envelope.Heartbeat
	async          asyncSource // its data in the async queue, guarded by s.async.mu
	reqs           requests    // its requests to the host in flight (services.go)
	conf           *pluginConf // its configuration (config.go); set before the handshake's answer, then never
	health         healthCheck // its health and the timer that checks it (health.go)

	// info is set by the handshake, under s.mu, before r is put in the
	// index and named; then it is read-only, and read without a lock by
	// whoever found r there or saw it named.
	info  *envelope.PluginInfo
	state connState // the connection's life: state.go

	schemas map[string]funcSchemas // info's schemas compiled (limits.go); set with info, then read-only
	stats   *remoteStats           // its metrics (metrics.go); set with info, then read-only
}

// handle runs on the plugin's read loop, for every message but answers.
// It reads the phase without Socket.mu (state.go), and r.info, which the
// handshake sets on this same goroutine, without any lock.
func (r *remote) handle(c *envelope.Conn, m *envelope.Envelope) {
	named, live := r.state.named(), r.state.live()
	if !named {
		r.handshake(c, m)
		return
	}
	switch m.Method {
	case envelope.MethodAsync:
		// Kept as JSON, decoded only when the host reads it (Async):
		// decoded, a payload can take many times its size.
		if live || r.conf.pending() {
			// Data from a plugin whose handshake answer was lost is not
			// passed on: its Connected event never was. Data read before
			// a configured plugin is announced waits for it (config.go).
			if data, err := r.asyncData(c, m); err != nil {
				r.cfg.log.Warn("plugsock: async data dropped", "plugin", r.info.Name, "err", err)
			} else if !r.conf.hold(data, r.cfg) {
				r.s.async.addData(&r.async, r.info.Name, data, r.cfg)
			}
		}
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
		r.state.goodbye()
		r.s.mu.Unlock()
		if m.IsRequest() {
			_ = c.Reply(m.ID, nil)
		}
	case envelope.MethodHandshake:
		r.violation(c, m, "second handshake")
	case envelope.MethodCancel:
		r.cancelRequest(m)
		switch {
		case !m.IsRequest():
		case c.Protocol() >= envelope.Protocol2:
			// Meant as a notification; every request gets an answer.
			_ = c.Reply(m.ID, nil)
		default:
			// As protocol 1 always answered it.
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
		}
	default:
		switch {
		case !m.IsRequest():
		case live && c.Protocol() >= envelope.Protocol2:
			r.serveRequest(c, m, r.info.Name)
		default:
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
		}
	}
}

// asyncData is the item a $/async carries: its params in protocol 1, their
// "value" in protocol 2.
func (r *remote) asyncData(c *envelope.Conn, m *envelope.Envelope) ([]byte, error) {
	if c.Protocol() < envelope.Protocol2 {
		return m.Params, nil
	}
	_, cancel, err := c.RequestContext(context.Background(), m)
	cancel()
	if err != nil {
		return nil, err
	}
	return m.Input(false)
}

func (r *remote) violation(c *envelope.Conn, m *envelope.Envelope, what string) {
	err := fmt.Errorf("%w: %s", envelope.ErrProtocol, what)
	if m.IsRequest() {
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidRequest, "%s", err))
	}
	r.cfg.log.Warn("plugsock: closing connection", "addr", r.addr, "reason", err)
	c.CloseWithError(err)
}

// disconnected reports the end of a connection: once, on its read loop.
func (s *Socket) disconnected(r *remote, err error) {
	r.health.stop() // health.go
	s.mu.Lock()
	decided := r.state.stopDecided()
	s.mu.Unlock()
	if decided != nil {
		// The connection is gone, so the stop's $/shutdown call has
		// returned or is about to: this does not wait long.
		<-decided
	}
	r.endRequests()
	s.mu.Lock()
	delete(s.conns, r)
	var info *envelope.PluginInfo
	if r.info != nil && s.plugins[r.info.Name] == r {
		delete(s.plugins, r.info.Name)
		s.index.remove(r)
	}
	if r.state.live() {
		info = r.info
	}
	graceful := r.state.leftGracefully()
	cfg := r.cfg
	s.metrics.leave(r.stats)
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
			s.pending = append(s.pending, disconnect{s.callbacks, info, graceful, cfg.log})
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
