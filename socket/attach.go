package socket

import (
	"errors"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Attach runs the Go plugin v inside the host, over an in-memory
// connection, with exactly the semantics of a plugin that dialled in: the
// same handshake, names, calls, async hook, callbacks, Unplug and
// Shutdown. It returns the name the plugin was assigned, or the error
// that refused it. The plugin takes the socket's settings for what both
// sides have: frame size, handshake and write timeouts, token and
// heartbeat, which runs both ways as over a network, and Config.Observer.
func (s *Socket) Attach(v any, info *envelope.PluginInfo) (name string, err error) {
	s.mu.Lock()
	shut := s.shut
	cfg := s.config()
	if !shut {
		s.attached.Add(1) // the plugin's goroutine below
	}
	s.mu.Unlock()
	if shut {
		return "", ErrShutdown
	}
	hostEnd, pluginEnd := memPipe() // buffered, unlike net.Pipe: see pipe.go
	s.serveConn(hostEnd, "in-process", cfg)
	if info == nil {
		info = &envelope.PluginInfo{}
	}
	connected := make(chan string, 1)
	result := make(chan error, 1)
	p := attachedPlugin(cfg)
	p.OnConnect = func(name string) { connected <- name }
	go func() {
		defer s.attached.Done()
		err := p.Start(v, info, pluginEnd, nil)
		if err != nil && !errors.Is(err, envelope.ErrShutdown) {
			cfg.log.Debug("plugsock: attached plugin ended", "err", err)
		}
		result <- err
	}()
	select {
	case name := <-connected:
		if err := s.awaitLive(name, result); err != nil {
			return "", err
		}
		return name, nil
	case err := <-result:
		if err == nil {
			err = ErrShutdown
		}
		return "", err
	}
}

// attachedPlugin is the plugin side of Attach, with the socket's settings
// for what both sides have. Both ping, as over a network: the buffered
// connection (pipe.go) lets both read loops answer at once.
func attachedPlugin(cfg *config) *plugin.Plugin {
	return &plugin.Plugin{
		Logger:            cfg.log,
		HandshakeTimeout:  cfg.handshakeTimeout,
		MaxFrameSize:      cfg.maxFrame,
		Token:             cfg.tokenText,
		HeartbeatInterval: orOff(cfg.heartbeat),
		HeartbeatMisses:   cfg.misses,
		WriteTimeout:      orOff(cfg.writeTimeout),
		Observer:          cfg.observer,
	}
}

// orOff turns a socket setting, where zero is off, into a plugin.Plugin
// one, where zero is the default and a negative value is off.
func orOff(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
