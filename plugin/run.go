package plugin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/backoff"
	"github.com/plugsock/plugsock/typedesc"
)

// Run is the whole main of a plugin executable:
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		defer stop()
//		if err := plugin.Run(ctx, &Calc{}, &envelope.PluginInfo{Name: "calc", Version: "1.2.0"}); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// It reads from the environment where to connect (envelope.EnvAddr:
// "host:port" or "unix:/path"; envelope.DefaultAddr, 127.0.0.1:7700,
// where plugsock serve listens, when it is unset or empty), the token to
// present (envelope.EnvToken) and the launch id a host that started the
// process gave it (envelope.EnvLaunch); socket.Socket.Launch sets all
// three. It dials,
// retrying with backoff until the host is there, and serves v as
// [Plugin.Start] does.
//
// When the connection is lost without a $/shutdown, Run connects again
// and handshakes anew, with exponential backoff and jitter between
// attempts (from 100ms up to 5s; back to the start after a session that
// lasted 10s or more), for as long as ctx lasts. The async hook survives:
// UseAsyncHook is called once, and what the plugin sends while
// disconnected goes out after the next handshake. A handshake refused
// because the name is taken is retried too, since the host may not yet
// have noticed that the previous connection is gone.
//
// Run returns nil after the host stopped the plugin with $/shutdown, and
// when ctx ends: then it leaves in good order first ([Plugin.Close]), so
// the host sees a graceful disconnect. A plugin started by a host that
// set envelope.EnvLifeline also leaves when its standard input reaches
// end of file, which is how it learns that the host died. Run returns an
// error at once for what retrying cannot mend: a value with no callable
// methods (ErrNoMethods), a malformed address, a handshake
// refused as unauthorised or malformed.
//
// Run with the single argument "describe" (os.Args[1]) prints the
// plugin's info (name, version and the description of every function) as
// JSON to standard output and returns nil without connecting, so tools
// can inspect the executable. This is the one place the module writes to
// standard output, and it does so because Run is meant to be a program's
// main. Run logs through slog.Default(); a process started by
// socket.Socket.Launch has its standard error in the host's log.
//
// Run is new(Plugin).Run: [Plugin.Run] does the same with a Plugin's
// settings.
func Run(ctx context.Context, v any, info *envelope.PluginInfo) error {
	return new(Plugin).Run(ctx, v, info)
}

// Run is [Run] with p's settings: its Logger, timeouts, limits,
// StreamWindow, Observer and OnConnect apply to every session. Its Token
// and Launch, left empty as they usually are, are taken from the
// environment as Run takes them. Run does not change p's fields, so p may
// be set up once, in main:
//
//	p := &plugin.Plugin{Logger: logger, Observer: plugsockotel.Observer()}
//	if err := p.Run(ctx, &Calc{}, &envelope.PluginInfo{Name: "calc"}); err != nil {
//		log.Fatal(err)
//	}
//
// p.Host returns the host of the session under way, and p.Close ends it
// in good order, after which Run returns nil; to stop Run at any moment,
// end ctx. A Plugin runs one Run or Start at a time: another one meanwhile
// returns ErrRunning.
func (p *Plugin) Run(ctx context.Context, v any, info *envelope.PluginInfo) error {
	r := &runner{
		plugin:   p,
		args:     os.Args,
		getenv:   os.Getenv,
		stdout:   os.Stdout,
		lifeline: watchStdin,
	}
	return r.run(ctx, v, info)
}

// Reconnection timing for Run.
const (
	runMinDelay   = 100 * time.Millisecond
	runMaxDelay   = 5 * time.Second
	runResetAfter = 10 * time.Second
	runDialWait   = 5 * time.Second
	runLeaveWait  = time.Second
)

// runner is Run with its environment made explicit, for tests.
type runner struct {
	plugin   *Plugin // the one to run; a new one when nil
	args     []string
	getenv   func(string) string
	stdout   io.Writer
	log      *slog.Logger
	lifeline func(gone func()) (stop func())
	// dial connects; a net.Dialer's when nil.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Zero means the defaults above.
	minDelay, maxDelay, resetAfter time.Duration
	// onSession, when set, is called with the name each session was
	// given once it has handshaken; tests use it to watch reconnects.
	onSession func(name string)
}

func (r *runner) run(ctx context.Context, v any, info *envelope.PluginInfo) error {
	if info == nil {
		info = &envelope.PluginInfo{}
	}
	if len(r.args) == 2 && r.args[1] == "describe" {
		return r.describe(v, info)
	}
	if _, err := methods(v); err != nil {
		return err
	}
	where := r.getenv(envelope.EnvAddr)
	if strings.TrimSpace(where) == "" {
		where = envelope.DefaultAddr
	}
	network, addr, err := envelope.ParseAddr(where)
	if err != nil {
		return fmt.Errorf("plugsock: %s: %w", envelope.EnvAddr, err)
	}
	p := r.plugin
	if p == nil {
		p = new(Plugin)
	}
	log := cmp.Or(p.Logger, r.log, slog.Default())
	minDelay, maxDelay, resetAfter := r.minDelay, r.maxDelay, r.resetAfter
	if minDelay <= 0 {
		minDelay = runMinDelay
	}
	if maxDelay <= 0 {
		maxDelay = runMaxDelay
	}
	if resetAfter <= 0 {
		resetAfter = runResetAfter
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.lifeline != nil && r.getenv(envelope.EnvLifeline) == "stdin" {
		stop := r.lifeline(func() {
			log.Info("plugsock: standard input closed: the host is gone; leaving")
			cancel()
		})
		defer stop()
	}

	hooks := runHooks{log: log, token: r.getenv(envelope.EnvToken), launch: r.getenv(envelope.EnvLaunch)}
	asked := info.Name
	dial := r.dial
	if dial == nil {
		dialer := net.Dialer{Timeout: runDialWait}
		dial = dialer.DialContext
	}
	failures := 0
	for {
		conn, err := dial(ctx, network, addr)
		if ctx.Err() != nil {
			if conn != nil {
				_ = conn.Close()
			}
			return nil
		}
		if err == nil {
			began := time.Now()
			info.Name = asked // not the name the last session was given
			err = r.session(ctx, p, hooks, v, info, conn)
			switch {
			case ctx.Err() != nil || err == nil:
				return nil
			case permanent(err):
				return err
			}
			if time.Since(began) >= resetAfter {
				failures = 0
			}
			log.Warn("plugsock: disconnected; connecting again", "addr", addr, "err", err)
		} else if failures == 0 || failures&(failures-1) == 0 {
			// Logged on attempts 1, 2, 4, 8, ...: a host that takes a
			// while to come up does not flood the log.
			log.Info("plugsock: cannot reach the host yet; retrying", "addr", addr, "attempt", failures+1, "err", err)
		}
		// Jittered, so that plugins cut off together do not reconnect
		// together.
		delay := backoff.Delay(failures, minDelay, maxDelay)
		failures++
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs one Start on conn. When ctx ends it makes the plugin leave
// in good order. A handshake under way is let finish first, for up to
// runLeaveWait: the host counts the plugin as connected once it has
// answered, so hanging up while that answer is on its way would look to
// the host like a crash. Past that wait, or when the handshake fails,
// the connection is dropped, which ends the handshake.
func (r *runner) session(ctx context.Context, p *Plugin, hooks runHooks, v any, info *envelope.PluginInfo, conn net.Conn) error {
	hello := make(chan struct{}) // closed once the handshake has succeeded
	ended := make(chan struct{}) // closed once Start has returned
	hooks.onConnect = func(name string) {
		close(hello)
		if r.onSession != nil {
			r.onSession(name)
		}
	}
	left := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(left)
		t := time.NewTimer(runLeaveWait)
		defer t.Stop()
		select {
		case <-hello:
			_ = p.Close()
		case <-ended:
		case <-t.C:
			_ = conn.Close()
		}
	})
	err := p.start(v, info, conn, nil, hooks)
	close(ended)
	if !stop() {
		<-left
	}
	return err
}

// permanent reports whether a session's error is one that connecting
// again cannot mend.
func permanent(err error) bool {
	return errors.Is(err, envelope.ErrUnauthorized) ||
		errors.Is(err, envelope.ErrInvalidParams) ||
		errors.Is(err, ErrNoMethods) ||
		errors.Is(err, typedesc.ErrRefinement) ||
		errors.Is(err, ErrRunning)
}

// describe writes what the handshake would say about v.
func (r *runner) describe(v any, info *envelope.PluginInfo) error {
	ms, err := methods(v)
	if err != nil {
		return err
	}
	out := &envelope.PluginInfo{Name: info.Name, Version: info.Version}
	if out.Name == "" {
		out.Name = typeName(v)
	}
	if out.Functions, _, err = describe(ms, info.Functions); err != nil {
		return err
	}
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
