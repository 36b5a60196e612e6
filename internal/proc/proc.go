// Package proc starts and stops plugin processes for the packages that
// host them (socket.Socket.Launch, plugintest.Check), so that neither
// leaves a zombie or an orphan behind.
//
// A process started here runs in a process group of its own (on Unix),
// which is signalled as a whole, so that helpers a plugin starts (a shell
// wrapper's child, say) go with it; it gets a lifeline pipe on its
// standard input when the caller left that unset (see
// envelope.EnvLifeline), so that it can tell when its host has died; and
// exactly one goroutine waits for it, which ends once it has exited and
// been reaped.
//
// Both hosts also take from here what they do around a process: the
// environment it starts with (Env), its output line by line (Lines) and
// the text of how it ended (Status).
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// DefaultWaitDelay bounds how long reaping a process waits for its
// standard output and error to be drained once it has exited, for a
// process whose descendants outlive it while holding them open.
const DefaultWaitDelay = 2 * time.Second

// Process is a started command.
type Process struct {
	Cmd *exec.Cmd

	group    bool     // signals go to the process group
	lifeline *os.File // the write end of the stdin pipe, or nil
	exited   chan struct{}
	err      error // set before exited is closed
}

// Start starts cmd. Unless the caller set them, it gives cmd a process
// group of its own, a lifeline on its standard input (and sets
// envelope.EnvLifeline in its environment), and a WaitDelay. The
// returned Process is reaped by a goroutine of its own; Exited tells when.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{Cmd: cmd, exited: make(chan struct{})}
	var child *os.File
	if cmd.Stdin == nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("lifeline pipe: %w", err)
		}
		child, p.lifeline = r, w
		cmd.Stdin = r
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env[:len(cmd.Env):len(cmd.Env)], envelope.EnvLifeline+"=stdin")
	}
	p.group = ownGroup(cmd)
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = DefaultWaitDelay
	}
	err := cmd.Start()
	if child != nil {
		_ = child.Close() // the child has its own copy
	}
	if err != nil {
		if p.lifeline != nil {
			_ = p.lifeline.Close()
		}
		return nil, err
	}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	// Once the leader has exited, whatever else is left in its group is
	// an orphan in the making: kill it while the group is still pinned
	// by the unreaped leader.
	if p.group && awaitExit(p.Cmd.Process.Pid) {
		_ = killGroup(p.Cmd.Process.Pid)
	}
	err := p.Cmd.Wait()
	if p.lifeline != nil {
		_ = p.lifeline.Close()
	}
	p.err = err
	close(p.exited)
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Exited is closed once the process has exited and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended, as exec.Cmd.Wait reports it: nil for a
// zero exit status. It is valid once Exited is closed.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Terminate asks the process (and its group) to stop: SIGTERM on Unix, a
// kill elsewhere.
func (p *Process) Terminate() { p.signal(false) }

// Kill kills the process and its group.
func (p *Process) Kill() { p.signal(true) }

func (p *Process) signal(kill bool) {
	select {
	case <-p.exited:
		return // reaped; its pid may belong to someone else now
	default:
	}
	signal(p.Cmd.Process, p.group, kill)
}

// Stop closes the lifeline, so that a plugin watching it leaves on its
// own, waits up to grace for the process to exit, then terminates it,
// waits up to grace again, then kills it, and returns once it is reaped.
func (p *Process) Stop(grace time.Duration) {
	if p.lifeline != nil {
		_ = p.lifeline.Close()
	}
	if p.waitFor(grace) {
		return
	}
	p.Terminate()
	if p.waitFor(grace) {
		return
	}
	p.Kill()
	<-p.exited
}

func (p *Process) waitFor(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}
