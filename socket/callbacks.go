package socket

import (
	"log/slog"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// disconnect is one plugin's disconnect, for the callbacks.
type disconnect struct {
	callbacks []func(info *envelope.PluginInfo, graceful bool)
	info      *envelope.PluginInfo
	graceful  bool
	log       *slog.Logger // the plugin's connection's
}

// runCallbacks runs the callbacks for each disconnect queued, in order,
// and ends once none is left; it closes done as it ends. Running them
// here rather than on the plugin's connection goroutine is what lets a
// callback block on whoever called Unplug without deadlocking either.
func (s *Socket) runCallbacks(done chan struct{}) {
	defer close(done)
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.dispatch = nil
			s.mu.Unlock()
			return
		}
		d := s.pending[0]
		s.pending[0] = disconnect{}
		s.pending = s.pending[1:]
		s.mu.Unlock()
		for _, cb := range d.callbacks {
			s.runCallback(cb, d.info.DeepCopy(true), d.graceful, d.log)
		}
	}
}

// waitCallbacks waits for the callbacks queued so far to return, for at
// most timeout: a callback that never returns is left running, and
// logged, as a goroutine cannot be stopped from outside.
func (s *Socket) waitCallbacks(timeout time.Duration, cfg *config) {
	s.mu.Lock()
	done := s.dispatch
	s.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cfg.log.Warn("plugsock: a disconnect callback has not returned within the shutdown timeout; it outlives Shutdown", "timeout", timeout)
	}
}

func (s *Socket) runCallback(cb func(*envelope.PluginInfo, bool), info *envelope.PluginInfo, graceful bool, log *slog.Logger) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("plugsock: disconnect callback panicked", "plugin", info.Name, "panic", v)
		}
	}()
	cb(info, graceful)
}

// RegisterCallback adds a function that runs once for every plugin that
// disconnects, after it is gone. graceful is true when the plugin left in
// good order (Unplug, Shutdown, or its own orderly exit) and false for a
// crash, a kill, a dropped connection or a plugin cut off at the shutdown
// timeout.
//
// Callbacks run one after another, in the order the plugins disconnected
// (for one disconnect, in the order they were registered), on a goroutine
// of the socket's that exists only while there are callbacks to run. No
// connection waits for them, and Unplug does not either: a callback may
// block until the code that called Unplug reads what it sends, or call
// Unplug itself. A slow callback delays only the callbacks after it.
// Shutdown waits for the callbacks of every plugin it stopped, for at
// most the shutdown timeout once the plugins are gone; a callback still
// running then is logged and left running. So a callback should not call
// Shutdown: it would hold Shutdown up, waiting for itself, for that
// timeout.
func (s *Socket) RegisterCallback(callback func(info *envelope.PluginInfo, graceful bool)) {
	if callback == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbacks = append(s.callbacks[:len(s.callbacks):len(s.callbacks)], callback)
}
