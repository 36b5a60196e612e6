package socket

import (
	"errors"
	"net"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Attach runs the Go plugin v inside the host, over an in-memory
// connection, with exactly the semantics of a plugin that dialled in: the
// same handshake, names, calls, async hook, callbacks, Unplug and
// Shutdown. It returns the name the plugin was assigned, or the error
// that refused it.
func (s *Socket) Attach(v any, info *envelope.PluginInfo) (name string, err error) {
	hostEnd, pluginEnd := net.Pipe()
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
	s.serveConn(hostEnd, "in-process")
	if info == nil {
		info = &envelope.PluginInfo{}
	}
	connected := make(chan string, 1)
	result := make(chan error, 1)
	p := &plugin.Plugin{
		Logger:           cfg.log,
		HandshakeTimeout: cfg.handshakeTimeout,
		MaxFrameSize:     cfg.maxFrame,
		Token:            cfg.tokenText,
		OnConnect:        func(name string) { connected <- name },
		// The socket pings the plugin. Were the plugin to ping the socket
		// as well, over net.Pipe, which holds no bytes, both read loops
		// could be caught writing answers to each other's pings at once.
		HeartbeatInterval: -1,
	}
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
		return name, nil
	case err := <-result:
		if err == nil {
			err = ErrShutdown
		}
		return "", err
	}
}
