package plugintest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/proc"
)

// run is one start of the plugin: its process and the listener it was
// told to dial.
type run struct {
	l      net.Listener
	p      *proc.Process
	launch string
}

// start starts cmd with a listener of its own, telling it where that is
// and its launch id in the environment, instead of any PLUGSOCK_ variable
// cmd had.
func start(cmd *exec.Cmd) (*run, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("plugintest: Check: %w", err)
	}
	launch := uuid.NewString()
	cmd.Env = proc.Env(cmd.Env, envelope.EnvAddr+"="+l.Addr().String(), envelope.EnvLaunch+"="+launch)
	p, err := proc.Start(cmd)
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("plugintest: Check: starting %s: %w", cmd.Path, err)
	}
	return &run{l: l, p: p, launch: launch}, nil
}

// end kills the process, reaps it and closes the listener; again is fine.
func (r *run) end() {
	r.p.Kill()
	<-r.p.Exited()
	_ = r.l.Close()
}

// respawn returns a function that makes a new command like cmd as the
// caller gave it, before Check or proc.Start changed anything: same path,
// arguments, directory, environment and process attributes, and the
// caller's standard output and error if it set them (otherwise they are
// discarded). Standard input is left for the lifeline.
func respawn(cmd *exec.Cmd) func() *exec.Cmd {
	path, args, dir := cmd.Path, slices.Clone(cmd.Args), cmd.Dir
	env := slices.Clone(cmd.Env)
	stdout, stderr := cmd.Stdout, cmd.Stderr
	var attr *syscall.SysProcAttr
	if cmd.SysProcAttr != nil {
		a := *cmd.SysProcAttr
		attr = &a
	}
	return func() *exec.Cmd {
		c := &exec.Cmd{Path: path, Args: slices.Clone(args), Dir: dir, Env: slices.Clone(env),
			Stdout: stdout, Stderr: stderr}
		if attr != nil {
			a := *attr
			c.SysProcAttr = &a
		}
		return c
	}
}

// accept waits for the plugin to connect: within the handshake deadline,
// while the process p lives and ctx lasts.
func accept(ctx context.Context, l net.Listener, p *proc.Process) (net.Conn, error) {
	type result struct {
		nc  net.Conn
		err error
	}
	got := make(chan result, 1)
	go func() {
		nc, err := l.Accept()
		got <- result{nc, err}
	}()
	t := time.NewTimer(checkHandshakeTimeout)
	defer t.Stop()
	var err error
	select {
	case r := <-got:
		return r.nc, r.err
	case <-p.Exited():
		err = fmt.Errorf("the process exited before connecting: %s", p.Status())
	case <-t.C:
		err = fmt.Errorf("no connection within %v", checkHandshakeTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = l.Close()
	if r := <-got; r.nc != nil {
		_ = r.nc.Close()
	}
	return nil, err
}
