package socket

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
)

// Serve accepts plugin connections on listener in the background and
// returns at once. Serve may be called for several listeners; Shutdown
// closes them all. On a socket that is shut down, Serve closes listener.
//
// opts, usually one Config, apply to the whole socket, laid over its
// settings in order: a field left zero keeps what the socket had. Each
// connection, on any listener, takes the socket's settings as they are
// when it is accepted and keeps them for its whole life, so a later Serve
// changes only the connections accepted after it: for those before, the
// frame limit, the handshake, write and call timeouts, the token, the key
// sequencer, the heartbeat, MaxInFlight, validation, the async bounds of
// their items, the logger of their lines and the shutdown timeout of
// Unplug stay as they were. What concerns the socket as a whole reads its
// settings as they are at the time: MaxPlugins, Shutdown's timeout,
// Broadcast's call timeout and Launch.
func (s *Socket) Serve(listener net.Listener, opts ...Options) {
	s.mu.Lock()
	c := *s.config()
	for _, o := range opts {
		o.apply(&c)
	}
	s.cfg = &c
	if s.shut {
		s.mu.Unlock()
		_ = listener.Close()
		return
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[listener] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.accept(listener)
}

func (s *Socket) accept(l net.Listener) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			shut := s.shut
			log := s.config().log
			s.mu.Unlock()
			if shut || errors.Is(err, net.ErrClosed) {
				return
			}
			if !temporary(err) {
				log.Error("plugsock: listener failed; no longer accepting on it", "addr", l.Addr().String(), "err", err)
				_ = l.Close()
				return
			}
			// A passing failure such as running out of file descriptors:
			// back off as net/http does, then accept again. Shutdown
			// closes l, so the next Accept returns at once.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.Warn("plugsock: accept failed; retrying", "err", err, "in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.serveConn(nc, nc.RemoteAddr().String(), s.settings())
	}
}

// temporary reports whether an Accept error is worth retrying: running out
// of file descriptors or a connection aborted before it was accepted.
func temporary(err error) bool {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serveConn runs one plugin connection: its read loop handles the
// handshake and everything after it. cfg is the socket's settings as the
// connection was accepted: the connection reads them, and only them, for
// its whole life, however Serve changes the socket's meanwhile.
func (s *Socket) serveConn(nc net.Conn, addr string, cfg *config) {
	r := &remote{s: s, session: uuid.NewString(), addr: addr, gone: make(chan struct{}), cfg: cfg,
		calls: newInFlight(cfg.maxInFlight), due: time.Now().Add(cfg.handshakeTimeout)}
	conn := envelope.NewConn(nc, envelope.ConnOptions{
		Handler:      r.handle,
		MaxFrameSize: cfg.maxFrame,
		WriteTimeout: cfg.writeTimeout,
		CallTimeout:  cfg.callTimeout, // for calls without a deadline; see CallContext
		Logger:       cfg.log.With("addr", addr, "session", r.session),
		OnClose: func(err error) {
			r.handshakeTimer.Stop()
			r.conf.wait() // a configuration under way ends first (config.go)
			r.hb.Stop()
			s.disconnected(r, err)
		},
	})
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if s.conns == nil {
		s.conns = make(map[*remote]struct{})
	}
	// r.conn is set under the same lock that makes r visible to Shutdown,
	// and the timer's goroutine reads it under s.mu: the race detector
	// sees no order between setting a timer and its function running.
	r.conn = conn
	s.conns[r] = struct{}{}
	s.async.setBytes(cfg.asyncBytes)
	s.wg.Add(1)
	s.mu.Unlock()

	r.handshakeTimer = time.AfterFunc(cfg.handshakeTimeout, func() {
		s.mu.Lock()
		named := r.state.named()
		s.mu.Unlock()
		if !named {
			cfg.log.Warn("plugsock: no handshake in time; closing", "addr", addr, "timeout", cfg.handshakeTimeout)
			conn.CloseWithError(fmt.Errorf("%w: no handshake within %v", envelope.ErrProtocol, cfg.handshakeTimeout))
		}
	})
	conn.Start()
}
