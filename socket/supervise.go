package socket

import (
	"errors"
	"fmt"
	"time"

	"github.com/plugsock/plugsock/internal/backoff"
	"github.com/plugsock/plugsock/internal/proc"
)

// RestartPolicy says when Launch starts a plugin's process again after it
// exits. The zero value is RestartOnFailure.
type RestartPolicy int

const (
	// RestartOnFailure restarts a process that exits with a non-zero
	// status, is killed by a signal, or does not handshake in time.
	RestartOnFailure RestartPolicy = iota
	// RestartNever lets the plugin go when its process exits.
	RestartNever
	// RestartAlways restarts a process whenever it exits, even with
	// status 0.
	RestartAlways
)

func (p RestartPolicy) String() string {
	switch p {
	case RestartOnFailure:
		return "on-failure"
	case RestartNever:
		return "never"
	case RestartAlways:
		return "always"
	}
	return fmt.Sprintf("RestartPolicy(%d)", int(p))
}

// abort gives up on a plugin whose Launch failed: its process is killed
// at once (it has no connection to be asked to leave on) and reaped.
func (e *launched) abort() {
	e.s.mu.Lock()
	e.stopping = true
	in := e.cur
	e.s.mu.Unlock()
	e.stopOnce.Do(func() { close(e.stopCh) })
	if in != nil {
		in.p.Kill()
	}
	<-e.done
}

// stop stops the plugin for good: $/shutdown on its connection, bounded
// by deadline, then the grace periods, SIGTERM and SIGKILL. It returns
// once the process is reaped and the supervisor has ended.
func (e *launched) stop(trace string, deadline time.Time) {
	s := e.s
	s.mu.Lock()
	e.stopping = true
	in, r := e.cur, e.remote
	s.mu.Unlock()
	e.stopOnce.Do(func() { close(e.stopCh) })
	if r != nil {
		select {
		case <-r.gone:
		default:
			r.stop(trace, deadline)
		}
	}
	if in != nil {
		// A bridged process's standard input is its lifeline: closed once
		// the connection has stopped, as Stop closes a plugin's.
		in.bridge.stop(s)
		in.p.Stop(e.cfg.grace)
	}
	<-e.done
}

// supervise waits for each process of the plugin to exit and starts the
// next one as the policy says. It is the plugin's only long-lived
// goroutine and ends when the plugin is stopped or given up on.
func (e *launched) supervise(in *instance) {
	s := e.s
	defer s.wg.Done()
	defer close(e.done)
	defer func() {
		s.mu.Lock()
		delete(s.procs.all, e)
		s.mu.Unlock()
	}()
	for in != nil {
		<-in.p.Exited()
		exitErr := in.p.Err()
		in.bridge.end() // the Bridge ends with its process
		if err := in.bridge.failed(); err != nil && exitErr == nil {
			exitErr = fmt.Errorf("its bridge failed: %w", err) // a failure, however the process exited
		}
		for _, l := range in.logs {
			l.Flush()
		}
		s.mu.Lock()
		delete(s.procs.byID, in.id)
		e.cur = nil
		stopping := e.stopping || s.shut
		if !e.accepted {
			e.abandoned = true
		}
		accepted := e.accepted
		s.mu.Unlock()

		s.metrics.launched(e.displayName()).exits[exitReason(exitErr)].Add(1)
		ended := proc.Ended(exitErr)
		attrs := []any{"plugin", e.displayName(), "pid", in.p.Pid(), "status", in.p.Status()}
		if stopping || !accepted {
			e.log.Info(fmt.Sprintf("plugsock: %s (pid %d) %s", e.displayName(), in.p.Pid(), ended), attrs...)
			s.exited(e, in, exitErr, "stopped")
			return
		}
		// The decision first, so that one line says what happened and
		// what comes next: "calc (pid 4242) killed by signal 9
		// (SIGKILL); restarting in 1.2s".
		delay, why := e.next(exitErr)
		next := "not restarting: " + why
		if why == "" {
			next = "restarting in " + delay.Round(time.Millisecond).String()
		}
		line := fmt.Sprintf("plugsock: %s (pid %d) %s; %s", e.displayName(), in.p.Pid(), ended, next)
		if exitErr != nil {
			e.log.Warn(line, attrs...)
		} else {
			e.log.Info(line, attrs...)
		}
		s.exited(e, in, exitErr, next)
		in = e.restart(exitErr, delay, why)
	}
}

// restart goes by the decision of next on an exit (delay, or why not),
// and then decides again after each failed start: it waits the backoff,
// starts it and waits for its handshake. It returns the new process, or
// nil when the plugin is stopped or given up on. A process that does not
// handshake in time or is refused is killed and returned, so that its
// exit counts as the next failure.
func (e *launched) restart(exitErr error, delay time.Duration, why string) *instance {
	for first := true; ; first = false {
		if !first {
			delay, why = e.next(exitErr)
		}
		if why != "" {
			e.log.Warn("plugsock: not restarting plugin", "plugin", e.displayName(), "reason", why)
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-e.stopCh:
			t.Stop()
			return nil
		}
		cmd := e.tmpl // a fresh copy: an exec.Cmd runs once
		in, err := e.start(&cmd)
		if errors.Is(err, ErrShutdown) {
			return nil
		}
		if err != nil {
			e.log.Error("plugsock: cannot restart plugin", "plugin", e.displayName(), "err", err)
			exitErr = err
			continue
		}
		e.s.metrics.launched(e.displayName()).restarts.Add(1)
		t = time.NewTimer(e.cfg.startTimeout)
		select {
		case <-in.hello:
		case err := <-in.refused:
			e.log.Warn("plugsock: restarted plugin refused; killing it", "plugin", e.displayName(), "err", err)
			in.p.Kill()
		case <-t.C:
			e.log.Warn("plugsock: restarted plugin did not handshake in time; killing it", "plugin", e.displayName(), "timeout", e.cfg.startTimeout)
			in.p.Kill()
		case <-in.p.Exited():
		case <-e.stopCh: // stop deals with the process
		}
		t.Stop()
		return in
	}
}

// next applies the policy and the limit to an exit: the wait before the
// restart, or why there is none.
func (e *launched) next(exitErr error) (time.Duration, string) {
	s := e.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case e.stopping || s.shut:
		return 0, "stopping"
	case e.cfg.policy == RestartNever:
		return 0, "restart policy is never"
	case e.cfg.policy == RestartOnFailure && exitErr == nil:
		return 0, "exited with status 0 and the restart policy is on-failure"
	}
	now := time.Now()
	kept := e.restarts[:0]
	for _, at := range e.restarts {
		if now.Sub(at) < e.cfg.window {
			kept = append(kept, at)
		}
	}
	e.restarts = kept
	if len(kept) >= e.cfg.limit {
		return 0, fmt.Sprintf("restarted %d times within %v", len(kept), e.cfg.window)
	}
	e.restarts = append(e.restarts, now)
	return backoff.Delay(len(kept), e.cfg.firstDelay, e.cfg.maxDelay), ""
}
