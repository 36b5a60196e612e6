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
	"strings"
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
		"Starts a socket that offers a host service (Clock), launches the calc and kv\n" +
		"example plugins as processes of their own (Socket.Launch), lists their\n" +
		"functions, calls them (kv asks the host's Clock for the time as it stores),\n" +
		"broadcasts, reads their async data, unplugs one and shuts down. With -v, the\n" +
		"socket's log and the plugins' output appear on stderr; without, only what\n" +
		"went wrong.",
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
	verbose := fs.Bool("v", false, "show the socket's log, with the plugins' output, on stderr")
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

	// The socket's log: all of it with -v; otherwise only what went
	// wrong, so that the tour reads cleanly.
	var handler slog.Handler = &tidyHandler{w: &lockedWriter{w: stderr}}
	if *verbose {
		handler = slog.NewTextHandler(&lockedWriter{w: stderr}, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	d := &demo{
		out:    stdout,
		stderr: stderr,
		exe:    exe,
		log:    slog.New(handler),
		events: make(chan *envelope.AsyncData, 256),
		asked:  make(chan clockCall, 16),
		gone:   make(chan string, 8),
		procs:  map[string]*exec.Cmd{},
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
		"(go run ./examples/calc), then try 'plugsock list', 'plugsock describe calc'\n"+
		"or the console at the URL serve prints (it carries the admin token).\n")
	return exitOK
}

type demo struct {
	out    io.Writer
	stderr io.Writer
	exe    string
	log    *slog.Logger

	sock      *socket.Socket
	addr      string
	events    chan *envelope.AsyncData // everything Async returned
	asked     chan clockCall           // the plugins' calls to the Clock service
	asyncDone chan struct{}
	gone      chan string          // from the disconnect callback
	procs     map[string]*exec.Cmd // by plugin name: the process Launch started
	order     []string             // plugin names in start order
}

func (d *demo) heading(s string) { fmt.Fprintf(d.out, "\n▸ %s\n", s) }

func (d *demo) run(ctx context.Context) error {
	fmt.Fprintln(d.out, "plugsock demo")
	if err := d.listen(); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\nA socket is listening on %s. It launches the example plugins\n"+
		"calc and kv as processes of their own (Socket.Launch): each dials back and\n"+
		"handshakes like any plugin, and the socket stops and reaps it at the end.\n"+
		"It offers them a host service, Clock, which kv asks for the time.\n", d.addr)

	d.heading("Launching plugins: each process starts, dials in and handshakes")
	t := &table{indent: "  "}
	for _, name := range []string{calc.Name, kv.Name} {
		cmd, err := d.launch(ctx, name)
		if err != nil {
			return err
		}
		version := ""
		if info := d.sock.PluginInfo(name); info != nil {
			version = info.Version
		}
		t.row(name, fmt.Sprintf("pid %d", cmd.Process.Pid), "plugsock plugin "+name, "connected, version "+version)
	}
	t.write(d.out)

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
		{kv.Name, "Get", kv.Key{Key: "color"}},
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

	d.heading("Host service: kv asked the host's Clock for the time, on each Set")
	t = &table{indent: "  "}
	for range 2 {
		var call clockCall
		select {
		case call = <-d.asked:
		default:
			// Set returns only once the Clock has answered it.
			return errors.New("kv did not ask the host for the time")
		}
		t.row(text(call.plugin), kv.ClockNow, "→ "+compact(call.now))
	}
	t.write(d.out)
	fmt.Fprintln(d.out, "  (kv stamps each entry it stores with the time it was told: kv.Get above\n  shows color's)")

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
		fmt.Fprintf(d.out, "  %-5s %s\n", text(item.Name), compact(item.Payload))
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
	err = d.sock.RegisterName("Clock", clock{asked: func(plugin string, now time.Time) {
		select {
		case d.asked <- clockCall{plugin, now}:
		default: // the tour reads two; never hold a plugin up for it
		}
	}})
	if err != nil {
		_ = l.Close()
		return err
	}
	d.sock.Serve(l, socket.Config{Logger: d.log, ShutdownTimeout: demoWait})
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

// clock is the host service Clock that demo and serve offer their
// plugins: Now is the host's time, which kv stamps the entries it stores
// with (kv.ClockNow). asked, when set, hears of every call, with the
// name of the plugin that made it.
type clock struct {
	asked func(plugin string, now time.Time)
}

// Now returns the host's time, in UTC.
func (c clock) Now(ctx context.Context, _ struct{}) (time.Time, error) {
	now := time.Now().UTC()
	if c.asked != nil {
		c.asked(socket.PluginFrom(ctx), now)
	}
	return now, nil
}

// clockCall is one call to the Clock, as the tour reports it.
type clockCall struct {
	plugin string
	now    time.Time
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

// launch has the socket start this executable as "plugsock plugin name"
// and returns once the plugin has handshaken under that name.
func (d *demo) launch(ctx context.Context, name string) (*exec.Cmd, error) {
	cmd := exec.Command(d.exe, "plugin", name)
	got, err := d.sock.Launch(ctx, cmd, socket.LaunchConfig{Restart: socket.RestartNever, StopGrace: demoWait / 2})
	if err != nil {
		return nil, err
	}
	d.procs[name] = cmd
	d.order = append(d.order, name)
	if got != name {
		return nil, fmt.Errorf("plugin %s was assigned the name %q", name, got)
	}
	return cmd, nil
}

// reportGone prints the disconnect callback's report for name and how its
// process ended. The socket has reaped the process by the time Unplug or
// Shutdown returns.
func (d *demo) reportGone(ctx context.Context, name string) error {
	t := time.NewTimer(demoWait)
	defer t.Stop()
	select {
	case msg := <-d.gone:
		fmt.Fprintf(d.out, "  callback: %s\n", text(msg))
	case <-t.C:
		return fmt.Errorf("no disconnect reported for %s", name)
	case <-ctx.Done():
		return ctx.Err()
	}
	cmd := d.procs[name]
	if st := cmd.ProcessState; st == nil || !st.Success() {
		return fmt.Errorf("plugin %s (pid %d): %v", name, cmd.Process.Pid, exitText(st))
	}
	fmt.Fprintf(d.out, "  process: %s (pid %d) exited with status 0\n", name, cmd.Process.Pid)
	return nil
}

// cleanup stops whatever is still running, whether the demo got to the
// end or not. Shutdown unplugs every plugin, gives a process that does not
// leave SIGTERM and then SIGKILL, and reaps them all; what had to be
// stopped that way is reported.
func (d *demo) cleanup() {
	if d.sock == nil {
		return
	}
	_ = d.sock.Shutdown("")
	<-d.asyncDone
	for _, name := range d.order {
		cmd := d.procs[name]
		if st := cmd.ProcessState; st == nil || !st.Success() {
			fmt.Fprintf(d.stderr, "plugsock demo: plugin %s (pid %d): %s\n", name, cmd.Process.Pid, exitText(st))
		}
	}
}

func exitText(st *os.ProcessState) string {
	if st == nil {
		return "still running"
	}
	return st.String()
}

// tidyHandler is the demo socket's log without -v. The tour is the
// output; the log adds only what went wrong, one short line each: the
// socket's warnings and errors, and what a plugin process writes (the
// plugin command itself logs only its warnings). The socket's other
// lines, such as Launch's reports of processes starting and exiting, are
// left out.
type tidyHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func (h *tidyHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *tidyHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	var b strings.Builder
	b.WriteString("plugsock demo: ")
	if r.Message == "plugsock: plugin output" {
		var plugin, line string
		for _, a := range attrs {
			switch a.Key {
			case "plugin":
				plugin = a.Value.String()
			case "line":
				line = a.Value.String()
			}
		}
		fmt.Fprintf(&b, "%s: %s\n", text(plugin), text(line))
	} else {
		if r.Level < slog.LevelWarn {
			return nil
		}
		b.WriteString(text(strings.TrimPrefix(r.Message, "plugsock: ")))
		for _, a := range attrs {
			fmt.Fprintf(&b, " %s=%s", text(a.Key), text(a.Value.String()))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *tidyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &tidyHandler{w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

// WithGroup keeps the group's attributes unqualified: enough for one line.
func (h *tidyHandler) WithGroup(string) slog.Handler { return h }
