package socket

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
)

// Unplug asks the plugin called name to stop: it refuses new calls,
// finishes and answers those in flight, and disconnects. Unplug returns
// when it is gone: its connection closed, every call to it answered or
// failed, its Disconnected event queued for Async and its disconnect
// callbacks queued. It does not wait for the callbacks to run (see
// RegisterCallback), so a callback may block until Unplug's caller
// receives what it sends. A plugin that takes longer than the shutdown
// timeout is cut off (and reported as not graceful). id is the trace id of the request. Unplugging a name that is
// not connected does nothing. name is an address as for CallContext. A
// plugin started by Launch is
// stopped for good, process and all, even between restarts.
func (s *Socket) Unplug(id string, name string) {
	s.mu.Lock()
	r := s.resolve(name)
	p := s.launchedFor(r, name) // a process Launch started stops with it
	if p == nil && (r == nil || !r.state.live()) {
		s.mu.Unlock()
		return
	}
	timeout := s.config().shutdownTimeout
	if r != nil {
		timeout = r.cfg.shutdownTimeout // the connection's own setting
	}
	s.mu.Unlock()
	if id == "" {
		id = uuid.NewString()
	}
	if p != nil {
		p.stop(id, time.Now().Add(timeout))
		return
	}
	r.stop(id, time.Now().Add(timeout))
}

// stop runs the graceful stop of one plugin, bounded by deadline. Unplug
// and Shutdown may both stop a plugin at once; the first sends $/shutdown,
// the second only waits.
func (r *remote) stop(trace string, deadline time.Time) {
	s := r.s
	s.mu.Lock()
	first := r.state.beginStop()
	log := r.cfg.log
	s.mu.Unlock()
	ctx, cancel := context.WithDeadline(envelope.WithTrace(context.Background(), trace), deadline)
	defer cancel()
	if first {
		// A plugin that stopped reading holds the request in a write
		// bounded only by the write timeout; closing the connection at
		// the deadline keeps the stop bounded by the shutdown timeout.
		cut := context.AfterFunc(ctx, func() {
			r.cancelStreams("unplugged: the shutdown timeout passed")
			r.conn.CloseWithError(fmt.Errorf("did not stop within the shutdown timeout: %w", ctx.Err()))
		})
		// Streams drain: their methods see the host's halves close, and
		// have until the deadline to finish and be acknowledged.
		r.closeStreams()
		// A plugin with state leaves its snapshot, once its deliveries
		// have settled, before it is asked to stop (state_snapshot.go).
		r.cfg.events.unplugging(ctx, r)
		err := r.conn.Call(ctx, envelope.MethodShutdown, nil, nil)
		cut()
		var answer *envelope.Error
		// Any answer, even an error from a plugin that does not know
		// $/shutdown, means it is alive and has sent all it will send.
		answered := err == nil || errors.As(err, &answer)
		// disconnected waits for this verdict, so a plugin that closes
		// right after answering is still reported as graceful.
		s.mu.Lock()
		r.state.decide(answered, ctx.Err() != nil)
		s.mu.Unlock()
		switch {
		case answered:
			r.conn.Close()
		case ctx.Err() != nil:
			log.Warn("plugsock: plugin did not stop in time; cutting it off", "plugin", r.name(), "trace", trace)
			r.cancelStreams("unplugged: the shutdown timeout passed")
			r.conn.CloseWithError(fmt.Errorf("did not stop within the shutdown timeout: %w", ctx.Err()))
		}
	}
	select {
	case <-r.gone:
	case <-ctx.Done():
		r.conn.CloseWithError(fmt.Errorf("did not disconnect within the shutdown timeout: %w", ctx.Err()))
		<-r.gone
	}
}

// waitAttached waits for in-process plugins to return from Start, and
// waitServing for the host services still answering plugins. Their
// connections are closed by now and their methods' contexts cancelled, so
// they end as soon as their methods do; a method that ignores its context
// is waited for until the shutdown deadline and then left running, which
// is logged: a goroutine cannot be stopped from outside.
func (s *Socket) waitAttached(deadline time.Time, cfg *config) {
	waitUntil(&s.attached, deadline, cfg, "plugsock: an attached plugin's method ignores its cancelled context; it outlives Shutdown")
}

func (s *Socket) waitServing(deadline time.Time, cfg *config) {
	waitUntil(&s.serving, deadline, cfg, "plugsock: a host service ignores its cancelled context; it outlives Shutdown")
}

func waitUntil(wg *sync.WaitGroup, deadline time.Time, cfg *config, late string) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(max(time.Until(deadline), 0))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cfg.log.Warn(late)
	}
}

// Shutdown stops the socket: it closes every listener, unplugs every
// plugin at once (each finishes and answers its calls in flight), waits
// for all of them up to the shutdown timeout and cuts off the rest. Then
// it waits for the disconnect callbacks to return, for at most the
// shutdown timeout again; a callback that has not returned by then is
// logged and left running, the one goroutine of the socket's that may
// outlive Shutdown (see RegisterCallback). Otherwise, after it returns no
// goroutine of the socket's is left, calls fail with
// ErrShutdown and Async returns ErrShutdown once drained. It returns an
// error naming the plugins it had to cut off. Calling it again waits for
// the first call to finish and returns nil. id is the trace id sent with
// every $/shutdown request. Processes started by Launch are stopped and
// reaped before it returns (see Launch for how long that may take).
func (s *Socket) Shutdown(id string) error {
	s.mu.Lock()
	if s.shut {
		done := s.shutDone
		s.mu.Unlock()
		<-done
		return nil
	}
	s.shut = true
	s.closed.Store(true)
	s.shutDone = make(chan struct{})
	defer close(s.shutDone)
	cfg := s.config()
	for l := range s.listeners {
		_ = l.Close()
	}
	procs := s.launchedAll()
	var live, pending []*remote
	for r := range s.conns {
		if r.state.live() {
			live = append(live, r)
		} else {
			pending = append(pending, r)
		}
	}
	s.mu.Unlock()

	if id == "" {
		id = uuid.NewString()
	}
	for _, r := range pending {
		r.conn.CloseWithError(ErrShutdown)
	}
	deadline := time.Now().Add(cfg.shutdownTimeout)
	var wg sync.WaitGroup
	for _, r := range live {
		wg.Go(func() { r.stop(id, deadline) })
	}
	for _, p := range procs {
		wg.Go(func() { p.stop(id, deadline) })
	}
	wg.Wait()
	s.wg.Wait()
	s.waitAttached(deadline, cfg)
	s.waitServing(deadline, cfg)
	cfg.events.close() // every plugin is gone: subscriptions commit and end (events.go)
	s.async.close()
	// Every plugin is gone, so every callback is queued. They get a
	// timeout of their own: a plugin cut off at the deadline should
	// still have its callbacks run before Shutdown returns.
	s.waitCallbacks(cfg.shutdownTimeout, cfg)

	var cut []string
	s.mu.Lock()
	for _, r := range live {
		if r.state.cutOff() && r.info != nil {
			cut = append(cut, r.info.Name)
		}
	}
	s.mu.Unlock()
	if len(cut) > 0 {
		sort.Strings(cut)
		return fmt.Errorf("plugsock: shutdown: cut off %d plugin(s) after %v: %s", len(cut), cfg.shutdownTimeout, strings.Join(cut, ", "))
	}
	cfg.log.Info("plugsock: socket shut down", "trace", id)
	return nil
}
