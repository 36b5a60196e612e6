package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/proc"
)

// Defaults for the settings of LaunchConfig.
const (
	DefaultStartTimeout    = 10 * time.Second
	DefaultStopGrace       = 5 * time.Second
	DefaultRestartLimit    = 5
	DefaultRestartWindow   = time.Minute
	DefaultRestartBackoff  = 200 * time.Millisecond
	DefaultRestartMaxDelay = 10 * time.Second
)

// ErrNoListener is returned by Launch on a socket with no TCP or Unix
// listener for the process to dial.
var ErrNoListener = errors.New("plugsock: the socket has no TCP or Unix listener to launch a plugin against; call Serve first")

// LaunchOption configures one Launch: LaunchConfig is the one there is.
type LaunchOption interface{ applyLaunch(*launchConfig) }

// LaunchConfig holds the settings of one Launch. Its zero value means
// every default: a field left zero keeps its default.
type LaunchConfig struct {
	// Restart says when the process is started again after it exits; the
	// zero value is RestartOnFailure.
	Restart RestartPolicy

	// RestartLimit allows at most that many restarts within any
	// RestartWindow; past that the plugin is given up on (and the reason
	// logged). Zero means DefaultRestartLimit and a negative value allows
	// none; a window of zero or less means DefaultRestartWindow.
	RestartLimit  int
	RestartWindow time.Duration

	// RestartBackoff is the wait before the first restart in the window,
	// doubling with each further one up to RestartMaxDelay, with jitter.
	// Zero or less means DefaultRestartBackoff and DefaultRestartMaxDelay;
	// a maximum below the first wait is raised to it.
	RestartBackoff  time.Duration
	RestartMaxDelay time.Duration

	// StopGrace is how long a stopping process is given to exit after it
	// answered $/shutdown (or could not be asked), and again after
	// SIGTERM, before it is killed. Zero or less means DefaultStopGrace.
	StopGrace time.Duration

	// StartTimeout bounds the time from starting a process to its
	// handshake. Zero or less means DefaultStartTimeout.
	StartTimeout time.Duration

	// Config, when not nil, is the plugin's configuration, encoded as
	// JSON: every process of this Launch takes it in place of the one
	// the socket holds for the plugin's name (Config.Configs), until
	// Socket.Configure replaces it. Launch fails when it cannot be
	// encoded, and when the first process is refused because it does not
	// fit the plugin's schema.
	Config any

	// Bridge, when not nil, is for a program that does not speak
	// plugsock's protocol but another over its standard input and output
	// (a Model Context Protocol server: package mcpplugin): the Bridge
	// gets them, and connects to the socket in the process's stead (see
	// Bridge). The process gets no PLUGSOCK_ variable then, nor a
	// lifeline, since its standard input is the Bridge's; cmd must leave
	// Stdin and Stdout nil; and the socket needs no listener.
	Bridge Bridge
}

// applyLaunch overlays the settings c sets, those not left zero, on cfg.
func (c LaunchConfig) applyLaunch(cfg *launchConfig) {
	if c.Restart != RestartOnFailure {
		cfg.policy = c.Restart
	}
	switch {
	case c.RestartLimit > 0:
		cfg.limit = c.RestartLimit
	case c.RestartLimit < 0:
		cfg.limit = 0
	}
	if c.RestartWindow > 0 {
		cfg.window = c.RestartWindow
	}
	if c.RestartBackoff > 0 {
		cfg.firstDelay = c.RestartBackoff
	}
	if c.RestartMaxDelay > 0 {
		cfg.maxDelay = c.RestartMaxDelay
	}
	cfg.maxDelay = max(cfg.maxDelay, cfg.firstDelay)
	if c.StopGrace > 0 {
		cfg.grace = c.StopGrace
	}
	if c.StartTimeout > 0 {
		cfg.startTimeout = c.StartTimeout
	}
	if c.Config != nil {
		cfg.config, cfg.configErr = json.Marshal(c.Config)
	}
	if c.Bridge != nil {
		cfg.bridge = c.Bridge
	}
}

type launchConfig struct {
	policy       RestartPolicy
	limit        int
	window       time.Duration
	firstDelay   time.Duration
	maxDelay     time.Duration
	grace        time.Duration
	startTimeout time.Duration
	config       json.RawMessage // nil: the socket's for the name
	configErr    error
	bridge       Bridge // nil: the process speaks plugsock's protocol itself
}

func launchDefaults() launchConfig {
	return launchConfig{
		policy:       RestartOnFailure,
		limit:        DefaultRestartLimit,
		window:       DefaultRestartWindow,
		firstDelay:   DefaultRestartBackoff,
		maxDelay:     DefaultRestartMaxDelay,
		grace:        DefaultStopGrace,
		startTimeout: DefaultStartTimeout,
	}
}

// launches is what a Socket knows of the processes Launch started.
// Guarded by Socket.mu.
type launches struct {
	byID  map[string]*instance   // by launch id, every process not yet reaped
	all   map[*launched]struct{} // every Launch not yet given up
	exits []Exit                 // the last keptExits exits, oldest first (exits.go)
}

// launched is one Launch: a plugin kept running across restarts. Its
// supervisor goroutine waits for each process, restarts it per policy,
// and ends when the plugin is stopped or given up on.
type launched struct {
	s     *Socket
	cfg   launchConfig
	tmpl  exec.Cmd // what each restart copies
	label string   // the program's name, for logs before a handshake
	log   *slog.Logger
	name  atomic.Pointer[string] // the name the last handshake assigned

	stopOnce sync.Once
	stopCh   chan struct{} // closed when the plugin is to stop for good
	done     chan struct{} // closed when the supervisor has ended

	// Guarded by s.mu.
	cur       *instance
	remote    *remote // the current process's connection, once live
	accepted  bool    // Launch has returned the name; restarts may follow
	abandoned bool    // the first process exited before Launch returned
	stopping  bool
	restarts  []time.Time     // within the window
	config    json.RawMessage // the configuration its processes take; nil: the socket's (config.go)
}

// instance is one process of a launched plugin.
type instance struct {
	owner   *launched
	id      string // launch id
	p       *proc.Process
	hello   chan string // the assigned name, on the first handshake
	refused chan error  // a refused handshake
	logs    []*proc.Lines
	tail    tail     // the last lines of its standard error (output.go)
	bridge  *bridged // its Bridge, when it has one (launchbridge.go)
}

// Launch starts the plugin executable cmd and waits until it has
// connected to the socket and handshaken; it returns the name the
// plugin was assigned. From then on the socket owns the process: it
// restarts it per the restart policy when it exits, stops it with Unplug
// or Shutdown, and reaps it, so that no zombie and no orphan is left.
//
// The process finds the socket through its environment:
// envelope.EnvAddr holds the address of one of the socket's listeners (a
// Unix socket when there is one, else TCP, on the loopback address for a
// listener on every interface), envelope.EnvLaunch a launch id used once,
// which the plugin sends back in its handshake so that the socket knows
// which connection is this process, and envelope.EnvToken the socket's
// token when it requires one. plugin.Run reads them all. A program that
// speaks another protocol over its standard input and output is launched
// with a Bridge (LaunchConfig.Bridge), which connects for it instead.
//
// Unless cmd sets them, Launch gives the process a process group of its
// own (signals reach the helpers it starts too, and on Linux whatever is
// left of the group when the process exits is killed), a lifeline on its standard input (envelope.EnvLifeline:
// end of file there tells the plugin that the host died), and logs every
// line it writes to standard output or error through the socket's
// logger, tagged with the plugin's name and the stream.
//
// ctx bounds only the start: when it ends before the handshake, the
// process is killed and Launch returns ctx's error. So does a process
// that exits, is refused, or does not handshake within the start
// timeout. Restarts copy cmd's Path, Args, Env, Dir, standard streams,
// ExtraFiles, SysProcAttr and WaitDelay; each gets a new launch id and,
// typically, the same name. A process that loses its connection but
// keeps running (plugin.Run reconnects) stays the same launched plugin.
//
// Launch sets cmd's environment and, when they are nil, its standard
// streams and SysProcAttr; cmd must not have been started. The first
// process is cmd itself: once Launch has returned, cmd.Process is it, and
// once Unplug or Shutdown has stopped the plugin, cmd.ProcessState says
// how it ended (read it no sooner; restarts run copies of cmd).
//
// Unplug (by the plugin's name, even between restarts) and Shutdown stop
// a launched plugin: $/shutdown first, so calls in flight finish; then
// the lifeline is closed and, if the process has not exited within the
// grace period (LaunchConfig.StopGrace), it gets SIGTERM, and after
// another grace period SIGKILL. Shutdown therefore takes up to twice the grace period
// longer than its shutdown timeout for a process that ignores all that. Disconnects are reported
// as for any plugin: a crash or a kill is not graceful.
func (s *Socket) Launch(ctx context.Context, cmd *exec.Cmd, opts ...LaunchOption) (name string, err error) {
	if cmd == nil || cmd.Path == "" {
		return "", errors.New("plugsock: Launch: no command")
	}
	if cmd.Err != nil {
		return "", fmt.Errorf("plugsock: Launch: %w", cmd.Err)
	}
	if cmd.Process != nil {
		return "", errors.New("plugsock: Launch: command already started")
	}
	cfg := launchDefaults()
	for _, o := range opts {
		o.applyLaunch(&cfg)
	}
	if cfg.configErr != nil {
		return "", fmt.Errorf("plugsock: Launch: encoding LaunchConfig.Config: %w", cfg.configErr)
	}
	if cfg.bridge != nil && (cmd.Stdin != nil || cmd.Stdout != nil) {
		return "", errors.New("plugsock: Launch: a bridged command's standard input and output are its Bridge's: leave cmd.Stdin and cmd.Stdout nil")
	}
	e := &launched{
		s:      s,
		cfg:    cfg,
		label:  filepath.Base(cmd.Path),
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
		config: cfg.config,
	}
	e.tmpl = exec.Cmd{
		Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: cmd.Dir,
		Stdin: cmd.Stdin, Stdout: cmd.Stdout, Stderr: cmd.Stderr,
		ExtraFiles: cmd.ExtraFiles, SysProcAttr: cmd.SysProcAttr, WaitDelay: cmd.WaitDelay,
	}

	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return "", ErrShutdown
	}
	e.log = s.config().log
	if s.procs.all == nil {
		s.procs.all = make(map[*launched]struct{})
	}
	s.procs.all[e] = struct{}{}
	s.wg.Add(1) // the supervisor
	s.mu.Unlock()

	in, err := e.start(cmd)
	if err != nil {
		s.mu.Lock()
		delete(s.procs.all, e)
		s.mu.Unlock()
		s.wg.Done()
		return "", fmt.Errorf("plugsock: Launch %s: %w", e.label, err)
	}
	go e.supervise(in)

	name, err = e.awaitFirst(ctx, in)
	if err != nil {
		e.abort()
		return "", fmt.Errorf("plugsock: Launch %s: %w", e.label, err)
	}
	return name, nil
}

// launchToken is the token a launched process presents in its handshake
// (envelope.EnvToken): the socket's own when it requires one (Config.Token),
// "" when it does not.
func (c *config) launchToken() string { return c.tokenText }

// launchAddr returns the EnvAddr value for the socket's listeners,
// preferring a Unix socket, which is local by nature. s.mu must be held.
func (s *Socket) launchAddr() (string, error) {
	var addrs []string
	for l := range s.listeners {
		if a, err := envelope.FormatAddr(l.Addr()); err == nil {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return "", ErrNoListener
	}
	sort.Slice(addrs, func(i, j int) bool {
		ui, uj := strings.HasPrefix(addrs[i], "unix:"), strings.HasPrefix(addrs[j], "unix:")
		if ui != uj {
			return ui
		}
		return addrs[i] < addrs[j]
	})
	return addrs[0], nil
}

// start starts one process of the plugin: cmd itself the first time,
// then copies of it. It fails once the plugin is stopping.
func (e *launched) start(cmd *exec.Cmd) (*instance, error) {
	s := e.s
	in := &instance{owner: e, id: uuid.NewString(), hello: make(chan string, 1), refused: make(chan error, 1)}

	// s.mu is held from the check for stopping until the process is
	// registered and running, so that stop sees it, and its handshake,
	// however quick, finds it.
	s.mu.Lock()
	if e.stopping || s.shut {
		s.mu.Unlock()
		return nil, ErrShutdown
	}
	var ours, theirs [2]*os.File
	if e.cfg.bridge != nil {
		// The Bridge connects in the process's stead: the program learns
		// nothing of the socket, and its stdin is the Bridge's.
		var err error
		if ours, theirs, err = bridgePipes(cmd); err != nil {
			s.mu.Unlock()
			return nil, err
		}
		cmd.Env = proc.Env(cmd.Env)
	} else {
		addr, err := s.launchAddr()
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		set := []string{envelope.EnvAddr + "=" + addr, envelope.EnvLaunch + "=" + in.id}
		if tok := s.config().launchToken(); tok != "" {
			set = append(set, envelope.EnvToken+"="+tok)
		}
		cmd.Env = proc.Env(cmd.Env, set...)
	}
	if cmd.Stdout == nil {
		cmd.Stdout = in.newLog("stdout")
	}
	if cmd.Stderr == nil {
		cmd.Stderr = in.newLog("stderr")
	}
	if s.procs.byID == nil {
		s.procs.byID = make(map[string]*instance)
	}
	s.procs.byID[in.id] = in
	p, err := proc.Start(cmd)
	closeAll(theirs) // the child has its own copies
	if err != nil {
		closeAll(ours)
		delete(s.procs.byID, in.id)
		s.mu.Unlock()
		return nil, err
	}
	in.p = p
	e.cur = in
	e.remote = nil
	if e.cfg.bridge != nil {
		in.runBridge(e.cfg.bridge, ours)
	}
	s.mu.Unlock()
	e.log.Info("plugsock: plugin process started", "plugin", e.displayName(), "pid", p.Pid(), "launch", in.id)
	return in, nil
}

// displayName is the plugin's name once it has one, else the program's.
func (e *launched) displayName() string {
	if n := e.name.Load(); n != nil {
		return *n
	}
	return e.label
}

// awaitFirst waits for the first process's handshake.
func (e *launched) awaitFirst(ctx context.Context, in *instance) (string, error) {
	t := time.NewTimer(e.cfg.startTimeout)
	defer t.Stop()
	select {
	case name := <-in.hello:
		e.s.mu.Lock()
		defer e.s.mu.Unlock()
		if e.abandoned {
			return "", fmt.Errorf("process exited right after its handshake: %s", in.p.Status())
		}
		e.accepted = true
		return name, nil
	case err := <-in.refused:
		return "", fmt.Errorf("handshake refused: %w", err)
	case <-in.bridge.doneCh():
		if err := in.bridge.failed(); err != nil {
			return "", fmt.Errorf("bridge: %w", err)
		}
		return "", errors.New("the program ended its output before the bridge's handshake")
	case <-in.p.Exited():
		if b := in.bridge; b != nil {
			<-b.done // the process's exit ends it
			if err := b.failed(); err != nil {
				return "", fmt.Errorf("bridge: %w", err)
			}
		}
		return "", fmt.Errorf("process exited before its handshake: %s", in.p.Status())
	case <-t.C:
		return "", fmt.Errorf("no handshake within %v", e.cfg.startTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// launchConnected ties a connection that has just gone live to the
// process that presented its launch id. s.mu must be held.
func (s *Socket) launchConnected(r *remote) {
	in := s.procs.byID[r.launch]
	if r.launch == "" || in == nil {
		return
	}
	e := in.owner
	if e.cur != in {
		return
	}
	e.remote = r
	name := r.info.Name
	e.name.Store(&name)
	select {
	case in.hello <- name:
	default:
	}
}

// launchRefused tells a process waiting for its first handshake why it
// was refused.
func (s *Socket) launchRefused(launch string, err *envelope.Error) {
	if launch == "" {
		return
	}
	s.mu.Lock()
	in := s.procs.byID[launch]
	s.mu.Unlock()
	if in != nil {
		select {
		case in.refused <- err:
		default:
		}
	}
}

// launchedFor returns the launched plugin whose connection r is, or, when
// r is nil, the one last assigned name. s.mu must be held.
func (s *Socket) launchedFor(r *remote, name string) *launched {
	for e := range s.procs.all {
		if r != nil && e.remote == r {
			return e
		}
		if r == nil && !e.stopping && e.displayName() == name {
			return e
		}
	}
	return nil
}

// launchedAll returns every launched plugin. s.mu must be held.
func (s *Socket) launchedAll() []*launched {
	all := make([]*launched, 0, len(s.procs.all))
	for e := range s.procs.all {
		all = append(all, e)
	}
	return all
}
