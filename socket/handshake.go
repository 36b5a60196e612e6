package socket

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/plugsock/plugsock/envelope"
)

// The handshake: the first message of every connection, which names the
// plugin, checks its credentials and makes it live.

func (r *remote) refuse(c *envelope.Conn, m *envelope.Envelope, e *envelope.Error) {
	r.s.launchRefused(r.launch, e)
	_ = c.ReplyError(m.ID, e)
	r.s.settings().log.Warn("plugsock: handshake refused", "addr", r.addr, "code", e.Code, "reason", e.Message)
	c.CloseWithError(fmt.Errorf("handshake refused: %w", e))
}

func (r *remote) handshake(c *envelope.Conn, m *envelope.Envelope) {
	if m.Method != envelope.MethodHandshake || !m.IsRequest() {
		r.violation(c, m, fmt.Sprintf("%q before the handshake", m.Method))
		return
	}
	var hs envelope.Handshake
	if err := envelope.DecodeParams(m, &hs); err != nil {
		r.refuse(c, m, envelope.Errorf(envelope.CodeInvalidParams, "malformed handshake: %v", err))
		return
	}
	r.launch = hs.Launch
	if !r.cfg.authorised(hs.Token) {
		why := "wrong token"
		if hs.Token == "" {
			why = "missing token"
		}
		r.refuse(c, m, envelope.Errorf(envelope.CodeUnauthorized, "unauthorised: %s", why))
		return
	}
	if err := validName(hs.Name); err != nil {
		r.refuse(c, m, envelope.Errorf(envelope.CodeInvalidParams, "malformed handshake: %v", err))
		return
	}
	s := r.s
	s.mu.Lock()
	cfg := s.config()
	if s.shut {
		s.mu.Unlock()
		r.refuse(c, m, envelope.Errorf(envelope.CodeShuttingDown, "socket is shutting down"))
		return
	}
	if n := len(s.plugins); cfg.maxPlugins > 0 && n >= cfg.maxPlugins {
		s.mu.Unlock()
		r.refuse(c, m, envelope.Errorf(envelope.CodeOverloaded, "socket is full: %d plugins connected, the limit", n))
		return
	}
	// Another version of a connected plugin is let in as name@version
	// (versions.go); otherwise a taken name is sequenced or refused.
	name, versioned := s.versionedName(hs.Name, hs.Version)
	if _, taken := s.plugins[name]; taken && cfg.sequencer != nil && !versioned {
		for i := uint(0); i < cfg.attempts && taken; i++ {
			name = cfg.sequencer(name)
			_, taken = s.plugins[name]
			taken = taken || validName(name) != nil
		}
	}
	if _, taken := s.plugins[name]; taken || !versioned && validName(name) != nil {
		s.mu.Unlock()
		r.refuse(c, m, envelope.Errorf(envelope.CodeNameTaken, "plugin name %q is taken", hs.Name))
		return
	}
	info := hs.PluginInfo.DeepCopy(true)
	info.Name = name
	r.info = info
	if s.plugins == nil {
		s.plugins = make(map[string]*remote)
	}
	s.plugins[name] = r // reserved; not live until the answer is out
	s.mu.Unlock()

	// Going live under the write lock keeps every call behind the answer.
	err := c.ReplyFirst(m.ID, envelope.HandshakeResult{Name: name, Session: r.session}, func() {
		s.mu.Lock()
		if s.shut {
			// Shutdown began after the name was reserved: it has already
			// closed this connection; never announce the plugin.
			s.mu.Unlock()
			return
		}
		r.live = true
		s.launchConnected(r)
		if s.changed != nil {
			close(s.changed)
			s.changed = nil
		}
		s.mu.Unlock()
	})
	s.mu.Lock()
	live := r.live
	s.mu.Unlock()
	if err != nil || !live {
		return
	}
	r.hb = envelope.StartHeartbeat(c, r.cfg.heartbeat, r.cfg.misses)
	cfg.log.Info("plugsock: plugin connected", "plugin", name, "version", info.Version,
		"functions", len(info.Functions), "addr", r.addr, "session", r.session)
	s.async.push(envelope.AsyncData{Name: name, Payload: envelope.Connected{Info: info.DeepCopy(false)}},
		cfg.asyncBuffer, cfg.asyncWait, cfg.log)
}

// validName accepts names that read well in logs, URLs and command lines.
// '@' is kept for addressing a version (name@version).
func validName(name string) error {
	switch {
	case name == "":
		return errors.New("plugin name is empty")
	case len(name) > 128:
		return fmt.Errorf("plugin name is %d bytes long; at most 128 allowed", len(name))
	case strings.ContainsAny(name, "@/"):
		return fmt.Errorf("plugin name %q contains '@' or '/'", name)
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("plugin name %q contains spaces or unprintable characters", name)
	}
	return nil
}
