package main

// The demo command: a socket, two plugin processes, and a tour of what a
// host can do with them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/calc/calc"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/socket"
)

var demoCmd = command{
	name:  "demo",
	usage: "[flags]",
	summary: "Show plugsock at work, in about a second.\n" +
		"Starts a socket, launches the calc and kv example plugins as processes of\n" +
		"their own, lists their functions, calls them, broadcasts, reads their async\n" +
		"data, unplugs one and shuts down.",
}

func init() {
	demoCmd.run = runDemo
	register(demoCmd)
}

// demoWait bounds each wait of the demo for something the plugins do.
const demoWait = 5 * time.Second

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := demoCmd
	fs := c.flags()
	verbose := fs.Bool("v", false, "show the socket's and the plugins' log lines on stderr")
	timeout := fs.Duration("timeout", 30*time.Second, "give up, and stop everything, after this long")
	pos, code, ok := c.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(stderr, "unexpected argument %q", pos[0])
	}
	exe, err := os.Executable()
	if err != nil {
		return c.fail(stderr, "cannot find this program to run the plugins: %v", err)
	}
	sigctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigctx, *timeout)
	defer cancel()

	level := slog.LevelError + 1 // nothing
	if *verbose {
		level = slog.LevelDebug
	}
	d := &demo{
		out:     stdout,
		stderr:  stderr,
		exe:     exe,
		verbose: *verbose,
		log:     slog.New(slog.NewTextHandler(&lockedWriter{w: stderr}, &slog.HandlerOptions{Level: level})),
		events:  make(chan *envelope.AsyncData, 256),
		gone:    make(chan string, 8),
		procs:   map[string]*proc{},
	}
	start := time.Now()
	err = d.run(ctx)
	d.cleanup()
	switch {
	case sigctx.Err() != nil:
		return c.fail(stderr, "interrupted; stopped every plugin")
	case ctx.Err() != nil:
		return c.fail(stderr, "gave up after %v (--timeout); stopped every plugin", *timeout)
	case err != nil:
		return c.fail(stderr, "%v", err)
	}
	fmt.Fprintf(stdout, "\nDone in %v; every plugin process has exited.\n", time.Since(start).Round(time.Millisecond))
	fmt.Fprint(stdout, "\nNext: 'plugsock serve' hosts a socket you can plug the examples into\n"+
		"(go run ./examples/calc), then try 'plugsock list' and 'plugsock describe calc'.\n")
	return exitOK
}

type demo struct {
	out     io.Writer
	stderr  io.Writer
	exe     string
	verbose bool
	log     *slog.Logger

	sock      *socket.Socket
	addr      string
	events    chan *envelope.AsyncData // everything Async returned
	asyncDone chan struct{}
	gone      chan string // from the disconnect callback
	procs     map[string]*proc
	order     []string // plugin names in start order
}

// proc is one plugin process.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once Wait has returned; err is set then
	err    error
}

func (d *demo) heading(s string) { fmt.Fprintf(d.out, "\n▸ %s\n", s) }

func (d *demo) run(ctx context.Context) error {
	fmt.Fprintln(d.out, "plugsock demo")
	if err := d.listen(); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\nA socket is listening on %s. Two example plugins, calc and kv, start\n"+
		"as processes of their own and dial it, as any plugin would.\n", d.addr)

	d.heading("Starting plugins")
	t := &table{indent: "  "}
	for _, name := range []string{calc.Name, kv.Name} {
		p, err := d.startPlugin(name)
		if err != nil {
			return err
		}
		t.row(name, fmt.Sprintf("pid %d", p.cmd.Process.Pid), "plugsock plugin "+name)
	}
	t.write(d.out)

	d.heading("Connected")
	connected := map[string]*envelope.PluginInfo{}
	for !d.all(connected) {
		item, err := d.next(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the plugins to connect: %w", err)
		}
		if c, ok := item.Payload.(envelope.Connected); ok {
			connected[item.Name] = c.Info
		}
	}
	// In start order, whichever handshook first.
	for _, name := range d.order {
		fmt.Fprintf(d.out, "  %-5s %s, handshake done\n", name, connected[name].Version)
	}

	if os.Getenv("PLUGSOCK_DEMO_HOLD") != "" {
		// For tests of the interrupt and timeout paths: stop here, with
		// both plugins running, until one of those ends the demo.
		fmt.Fprintln(d.out, "\nHolding until interrupted.")
		<-ctx.Done()
		return ctx.Err()
	}

	d.heading("Functions they declared")
	t = &table{indent: "  "}
	t.row("PLUGIN", "FUNCTION", "INPUT", "OUTPUT")
	for _, name := range d.order {
		info := d.sock.PluginInfo(name)
		if info == nil {
			return fmt.Errorf("plugin %s is gone", name)
		}
		functionsTable(t, info, true)
	}
	t.write(d.out)
	fmt.Fprintln(d.out, "  (\"-\": nothing to describe; Stats and Keys take no input)")

	d.heading("Calls")
	t = &table{indent: "  "}
	calls := []struct {
		plugin, method string
		payload        any
	}{
		{calc.Name, "Add", calc.Args{A: 2, B: 3}},
		{calc.Name, "Div", calc.Args{A: 1, B: 0}},
		{kv.Name, "Set", kv.Entry{Key: "color", Value: "blue"}},
		{kv.Name, "Set", kv.Entry{Key: "size", Value: 42}},
		{kv.Name, "Delete", kv.Key{Key: "size"}},
		{kv.Name, "Keys", nil},
	}
	for _, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, demoWait)
		var out json.RawMessage
		err := d.sock.CallContext(cctx, call.plugin, call.method, call.payload, &out)
		cancel()
		var result string
		var e *envelope.Error
		switch {
		case err == nil:
			result = compact(out)
		case errors.As(err, &e):
			result = "error: " + errorText(e.Code, e.Message)
		default:
			return fmt.Errorf("calling %s.%s: %w", call.plugin, call.method, err)
		}
		payload := ""
		if call.payload != nil {
			payload = compact(call.payload)
		}
		t.row(call.plugin+"."+call.method, payload, "→ "+result)
	}
	t.write(d.out)

	d.heading("Broadcast: Stats, to every plugin at once")
	results, errs := d.sock.Broadcast("", "Stats", nil)
	t = &table{indent: "  "}
	for _, name := range d.order {
		if err, ok := errs[name]; ok {
			t.row(name, "→ error: "+err.Error())
		} else {
			t.row(name, "→ "+compact(results[name]))
		}
	}
	t.write(d.out)

	d.heading("Async data: kv pushed a change event for each Set and Delete")
	for n := 0; n < 3; {
		item, err := d.next(ctx)
		if err != nil {
			return fmt.Errorf("waiting for kv's change events: %w", err)
		}
		switch item.Payload.(type) {
		case envelope.Connected, envelope.Disconnected:
			continue
		}
		fmt.Fprintf(d.out, "  %-5s %s\n", item.Name, compact(item.Payload))
		n++
	}

	d.heading("Unplug calc: it finishes its calls, says goodbye and exits")
	d.sock.Unplug("", calc.Name)
	if err := d.reportGone(ctx, calc.Name); err != nil {
		return err
	}

	d.heading("Shut down: kv is unplugged the same way")
	if err := d.sock.Shutdown(""); err != nil {
		return err
	}
	if err := d.reportGone(ctx, kv.Name); err != nil {
		return err
	}
	return nil
}

// listen starts the socket on a free loopback port and the goroutine that
// reads its Async queue into d.events.
func (d *demo) listen() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.sock = new(socket.Socket)
	d.sock.Serve(l, socket.WithLogger(d.log), socket.WithShutdownTimeout(demoWait))
	d.addr = l.Addr().String()
	d.sock.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		how := "graceful"
		if !graceful {
			how = "NOT graceful"
		}
		d.gone <- fmt.Sprintf("%s disconnected, %s", info.Name, how)
	})
	d.asyncDone = make(chan struct{})
	go func() {
		defer close(d.asyncDone)
		for {
			item, err := d.sock.Async()
			if err != nil {
				return // shut down and drained
			}
			select {
			case d.events <- item:
			default:
				// The demo reads far fewer items than this holds;
				// never block the socket for it.
			}
		}
	}()
	return nil
}

// all reports whether every plugin started is in m.
func (d *demo) all(m map[string]*envelope.PluginInfo) bool {
	for _, name := range d.order {
		if m[name] == nil {
			return false
		}
	}
	return true
}

// next returns the next async item, waiting at most demoWait.
func (d *demo) next(ctx context.Context) (*envelope.AsyncData, error) {
	t := time.NewTimer(demoWait)
	defer t.Stop()
	select {
	case item := <-d.events:
		return item, nil
	case <-t.C:
		return nil, errors.New("nothing arrived in time")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startPlugin runs this executable as "plugsock plugin name".
func (d *demo) startPlugin(name string) (*proc, error) {
	// Not CommandContext: on an interrupt or timeout, cleanup first
	// unplugs the plugin in good order and kills it only if that fails.
	cmd := exec.Command(d.exe, "plugin", name)
	cmd.Env = append(os.Environ(), "PLUGSOCK_ADDR="+d.addr)
	if d.verbose {
		cmd.Stderr = d.stderr
		cmd.WaitDelay = time.Second // for the copying of its stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting plugin %s: %w", name, err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	d.procs[name] = p
	d.order = append(d.order, name)
	return p, nil
}

// reportGone prints the disconnect callback's report for name and waits for
// its process to exit.
func (d *demo) reportGone(ctx context.Context, name string) error {
	t := time.NewTimer(demoWait)
	defer t.Stop()
	select {
	case msg := <-d.gone:
		fmt.Fprintf(d.out, "  callback: %s\n", msg)
	case <-t.C:
		return fmt.Errorf("no disconnect reported for %s", name)
	case <-ctx.Done():
		return ctx.Err()
	}
	p := d.procs[name]
	select {
	case <-p.exited:
	case <-t.C:
		return fmt.Errorf("plugin %s (pid %d) did not exit", name, p.cmd.Process.Pid)
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.err != nil {
		return fmt.Errorf("plugin %s (pid %d): %v", name, p.cmd.Process.Pid, p.err)
	}
	fmt.Fprintf(d.out, "  process: %s (pid %d) exited with status 0\n", name, p.cmd.Process.Pid)
	return nil
}

// cleanup stops whatever is still running, whether the demo got to the
// end or not: the socket (which unplugs the plugins) and then any plugin
// process that has not exited, which is killed after a grace period.
func (d *demo) cleanup() {
	if d.sock != nil {
		_ = d.sock.Shutdown("")
		<-d.asyncDone
	}
	grace := time.NewTimer(2 * time.Second)
	defer grace.Stop()
	expired := false
	for _, name := range d.order {
		p := d.procs[name]
		if !expired {
			select {
			case <-p.exited:
				continue
			case <-grace.C:
				expired = true
			}
		}
		select {
		case <-p.exited:
			continue
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
		fmt.Fprintf(d.stderr, "plugsock demo: killed plugin %s (pid %d)\n", name, p.cmd.Process.Pid)
	}
}
