package socket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"
)

// A Bridge makes a plugin of a program that speaks another protocol than
// plugsock's over its standard input and output: a Model Context
// Protocol server, say (package mcpplugin). Set as LaunchConfig.Bridge, it
// is run once for every process Launch starts, on a goroutine of the
// socket's, and talks to the process through p.Stdin and p.Stdout. It
// connects to the socket in the process's stead with p.Pipe, handshakes
// there as a plugin, with p.Launch as the handshake's "launch" member,
// and serves the plugin's calls by turning them into the program's
// requests. The connection is then the launched plugin's, as a plugin
// process's own would be: Launch returns the name it was assigned, and
// the restart policy, the log lines of standard error, Unplug and
// Shutdown apply to the process as to any other.
//
// A Bridge may close its connection and open another with p.Pipe while
// the process runs (to describe functions that have changed, say): each
// handshake with p.Launch is the same launched plugin's.
//
// ctx ends when the process has exited, and when the plugin is stopped:
// then after the connection has been stopped in good order, so that the
// calls in flight have been answered. The Bridge must return soon after
// ctx ends; once it has, the socket closes the process's standard input
// and output. What it returns says how its side ended:
//
//   - nil: the program ended it (its output reached end of file, say).
//     The process's exit decides what follows, as for any plugin; the
//     socket waits for it as Unplug does (StopGrace, SIGTERM, StopGrace,
//     SIGKILL).
//   - an error: the bridge failed. The process, of no use without it, is
//     killed, and its exit counts as a failure for the restart policy,
//     whatever its status. Before the first handshake, the error is
//     Launch's. ctx's own error, returned once ctx has ended, is no
//     failure, and nothing is, once the plugin is being stopped.
//
// A panic in the Bridge is recovered and is its error.
type Bridge func(ctx context.Context, p *BridgedProcess) error

// BridgedProcess is one process of a bridged plugin, as its Bridge sees
// it.
type BridgedProcess struct {
	// Stdin and Stdout are pipes to the process's standard input and from
	// its standard output, the Bridge's alone. Closing Stdin tells a
	// well-behaved program to exit, as it tells a plugin whose host has
	// gone (the lifeline of a plugin the socket launches itself).
	Stdin  io.WriteCloser
	Stdout io.ReadCloser

	// Launch is the process's launch id, to send as the "launch" member
	// of every handshake made on its behalf (envelope.Handshake.Launch).
	Launch string

	// Pid is the process's id, for log lines.
	Pid int

	// Logger is the socket's logger.
	Logger *slog.Logger

	s *Socket
}

// Pipe is the socket's Pipe: a new connection to the socket, on which the
// Bridge handshakes for the process.
func (p *BridgedProcess) Pipe() (net.Conn, error) { return p.s.Pipe() }

// Pipe returns the plugin's end of a new in-memory connection to the
// socket, which the socket serves as it serves a connection accepted by a
// listener: a plugin that speaks the protocol over it, handshake first,
// is a plugin like any other. It is for plugins that speak the protocol
// themselves inside the host's process, such as bridges to other
// protocols (see Bridge and package mcpplugin); Attach is the way to run
// a Go plugin value in process. The connection takes the socket's
// settings as they are now, except that its handshake needs no token:
// whoever holds the Socket is the host already. After Shutdown, Pipe
// returns ErrShutdown.
func (s *Socket) Pipe() (net.Conn, error) {
	s.mu.Lock()
	shut := s.shut
	cfg := *s.config()
	s.mu.Unlock()
	if shut {
		return nil, ErrShutdown
	}
	cfg.token, cfg.tokenText = nil, ""
	hostEnd, pluginEnd := memPipe() // buffered, unlike net.Pipe: see pipe.go
	s.serveConn(hostEnd, "in-process", &cfg)
	return pluginEnd, nil
}

// bridged is the Bridge of one process, running: what the socket holds
// of it to end it.
type bridged struct {
	cancel   context.CancelFunc
	stdin    *os.File // the write end of the pipe to the process's stdin
	stdout   *os.File // the read end of the pipe from its stdout
	closeIn  sync.Once
	closeOut sync.Once
	done     chan struct{} // closed once the Bridge has returned
	failure  error         // why it failed, when it did; set before done closes
	told     bool          // told to end by a stop of the plugin; guarded by the Socket's mu
}

// bridgePipes gives cmd pipes for its standard input and output, which the
// Bridge will use, and returns the ends the socket keeps and those the
// child gets, which the socket closes once the child has started.
func bridgePipes(cmd *exec.Cmd) (ours, theirs [2]*os.File, err error) {
	if cmd.Stdin != nil || cmd.Stdout != nil {
		return ours, theirs, errors.New("a bridged command's standard input and output are the Bridge's: leave cmd.Stdin and cmd.Stdout nil")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return ours, theirs, fmt.Errorf("stdin pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = inR.Close()
		_ = inW.Close()
		return ours, theirs, fmt.Errorf("stdout pipe: %w", err)
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	return [2]*os.File{inW, outR}, [2]*os.File{inR, outW}, nil
}

func closeAll(files [2]*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}

// runBridge starts the Bridge for process in, over the pipes ours.
func (in *instance) runBridge(fn Bridge, ours [2]*os.File) {
	e := in.owner
	ctx, cancel := context.WithCancel(context.Background())
	b := &bridged{cancel: cancel, stdin: ours[0], stdout: ours[1], done: make(chan struct{})}
	in.bridge = b
	p := &BridgedProcess{Stdin: ours[0], Stdout: ours[1], Launch: in.id, Pid: in.p.Pid(), Logger: e.log, s: e.s}
	go func() {
		defer close(b.done)
		err := callBridge(ctx, fn, p)
		b.endInput()
		e.s.mu.Lock()
		told := b.told || e.stopping || e.s.shut
		e.s.mu.Unlock()
		switch {
		case told:
		case err != nil && !(ctx.Err() != nil && errors.Is(err, ctx.Err())):
			// Even when the process has exited already (the bridge's
			// closing its pipes may have done that), it failed; only
			// ctx's own error, once the exit has ended ctx, is no failure.
			b.failure = err
			e.log.Warn("plugsock: bridge failed; killing its process", "plugin", e.displayName(), "pid", p.Pid, "err", err)
			in.p.Kill()
		default:
			select {
			case <-in.p.Exited(): // the exit ended the Bridge
			default:
				// The program ended its side: its exit, which the
				// closed pipes hasten, decides what follows.
				in.p.Stop(e.cfg.grace)
			}
		}
		// Its output is read to the end, not closed: a program that
		// writes as it leaves would die of the closed pipe (a Go one by
		// SIGPIPE) instead of exiting as it meant to. end closes it once
		// the process has exited, for a descendant that keeps it open.
		_ = b.stdout.SetReadDeadline(time.Time{}) // the Bridge may have set one to stop its reading
		_, _ = io.Copy(io.Discard, b.stdout)
		b.endOutput()
	}()
}

// callBridge runs fn, turning a panic into its error: a Bridge runs in
// the host's process, and must not take it down.
func callBridge(ctx context.Context, fn Bridge, p *BridgedProcess) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("bridge panicked: %v", v)
		}
	}()
	return fn(ctx, p)
}

// stop tells the Bridge to end, the plugin being stopped, and closes the
// process's standard input, so that the program, having answered
// everything, can exit on its own. s.mu must not be held.
func (b *bridged) stop(s *Socket) {
	if b == nil {
		return
	}
	s.mu.Lock()
	b.told = true
	s.mu.Unlock()
	b.cancel()
	b.endInput()
}

// end ends the Bridge of a process that has exited, closing both pipes,
// the output too, so that a Bridge still reading it, kept open by a
// descendant of the process, returns. It waits for the Bridge to return.
func (b *bridged) end() {
	if b == nil {
		return
	}
	b.cancel()
	b.endInput()
	b.endOutput()
	<-b.done
}

func (b *bridged) endInput()  { b.closeIn.Do(func() { _ = b.stdin.Close() }) }
func (b *bridged) endOutput() { b.closeOut.Do(func() { _ = b.stdout.Close() }) }

// failed returns the error of a Bridge that has failed (see Bridge), once
// it has returned; nil before, and when it has not failed.
func (b *bridged) failed() error {
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
		return b.failure
	default:
		return nil
	}
}

// doneCh is closed once the Bridge has returned; nil without one.
func (b *bridged) doneCh() <-chan struct{} {
	if b == nil {
		return nil
	}
	return b.done
}
