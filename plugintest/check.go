package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/proc"
	"github.com/plugsock/plugsock/typedesc"
)

// Defaults of the conformance battery.
const (
	DefaultCheckCallTimeout = 5 * time.Second
	checkHandshakeTimeout   = 10 * time.Second
	outputLines             = 40
	// checkTrace is the trace id of the battery's calls: like the host,
	// it sends one with every call, and none with its pings.
	checkTrace = "plugsock-check"
)

// Status is the outcome of one check.
type Status int

// Outcomes of a check.
const (
	Pass Status = iota
	Fail
	Skip // the plugin offers nothing to check this with
	// Warn is a finding outside the conformance battery: something the
	// host never does, which some hosts or proxies might. It does not
	// count against Passed.
	Warn
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	case Skip:
		return "SKIP"
	case Warn:
		return "WARN"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is one check's outcome and why.
type Result struct {
	Check  string
	Status Status
	Detail string
}

func (r Result) String() string { return fmt.Sprintf("%s  %-24s %s", r.Status, r.Check, r.Detail) }

// Report is what Check found.
type Report struct {
	// Plugin is what the plugin declared in its handshake; nil when it
	// sent none.
	Plugin *envelope.PluginInfo
	// Results lists every check in the order run.
	Results []Result
	// Output holds the last lines the plugin wrote to standard output and
	// error, each prefixed with the stream's name.
	Output []string
}

// Passed reports whether no check failed; warnings do not count.
func (r Report) Passed() bool { return len(r.Failures()) == 0 }

// Failures returns the failed checks.
func (r Report) Failures() []Result {
	var fs []Result
	for _, res := range r.Results {
		if res.Status == Fail {
			fs = append(fs, res)
		}
	}
	return fs
}

// CheckOption configures Check.
type CheckOption interface{ applyCheck(*checkConfig) }

type checkOptionFunc func(*checkConfig)

func (f checkOptionFunc) applyCheck(c *checkConfig) { f(c) }

type checkConfig struct {
	callTimeout time.Duration
	skip        map[string]bool
}

// CallTimeout bounds each wait of the battery: for an answer (the
// $/shutdown's included), and for the connection to close and the process
// to exit after the shutdown. DefaultCheckCallTimeout otherwise. The
// plugin always has 10 seconds to connect and handshake.
func CallTimeout(d time.Duration) CheckOption {
	return checkOptionFunc(func(c *checkConfig) {
		if d > 0 {
			c.callTimeout = d
		}
	})
}

// SkipFunctions leaves the named functions out of the checks that call
// them: those that block until something happens, or that must not be
// called with made-up input.
func SkipFunctions(names ...string) CheckOption {
	return checkOptionFunc(func(c *checkConfig) {
		for _, n := range names {
			c.skip[n] = true
		}
	})
}

// Check runs the conformance battery against the plugin executable cmd,
// which may be written in any language: it listens on a loopback TCP
// port, starts cmd with envelope.EnvAddr and envelope.EnvLaunch set, plays
// the host's part of docs/protocol.md over raw frames, and checks what
// the plugin does. What the battery sends is what a host built on package
// socket sends, byte for byte (the same encoder writes it): one
// Content-Length header line per frame, and the same members in the same
// order, so a plugin whose reader handles exactly that passes. It writes
// one line per check to w (PASS, FAIL, SKIP or WARN, the check, and why)
// and a summary, and returns the Report. The error is
// for what kept the battery from running at all, such as a command that
// cannot be started; a plugin that misbehaves is a failed check.
//
// The checks, in order:
//
//   - handshake: the first message is a $/handshake request with a valid
//     name, a version string and a functions object.
//   - functions: every description follows the grammar of section 6.
//   - ping: $/ping, sent as the host's heartbeat sends it, is answered
//     null.
//   - unknown method: a call to a function the plugin does not have is
//     answered -32601.
//   - bad params F: for every function F whose input description rules out
//     some JSON type, a payload of that type is answered -32602.
//   - call F: every function is called with the simplest payload its
//     description accepts (mandatory fields with zero values). The answer
//     must be well-formed: a result that fits the output description, or
//     an error with an integer code a call may get (-32000 for the
//     method's own error, -32603 for a crash, -32602 for input it will not
//     take) and a message. This is how errors and panics are exercised:
//     a zero payload is what makes most functions fail, if anything does.
//   - cancel: a call followed at once by $/cancelRequest for it, and by
//     one for an id never sent, must leave the connection healthy (a ping
//     is answered); any answer to the call must be well-formed. Whether
//     the work really stopped cannot be seen from outside; test that with
//     a Harness.
//   - shutdown: a call, then $/shutdown, then another call, sent back to
//     back. The first call is answered before the $/shutdown, the second
//     is refused with -32003 or never read, the $/shutdown is answered
//     null, and the plugin closes the connection.
//   - exit: the process exits with status 0 after the shutdown, as a
//     process started by socket.Socket.Launch should.
//   - framing: every frame had CR LF header lines and a Content-Length,
//     and every body was a JSON-RPC 2.0 message.
//   - async: every $/async the plugin sent was a notification (skipped
//     when it sent none).
//   - extra headers, outside the battery: a ping framed with a
//     Content-Type header line after Content-Length, as LSP clients frame
//     their messages, and then one with it before Content-Length, are
//     answered. The host never sends either, so a plugin that does not
//     answer gets a WARN, not a FAIL, and still passes. A plugin that
//     misreads such a frame may hang or leave, so this check runs on a
//     second start of cmd (same path, arguments, directory and
//     environment), after the first has been stopped, and only when the
//     first handshake passed.
//
// Calls are sent one at a time, so a single-threaded plugin passes. A
// function that blocks until something happens fails "call F" after the
// call timeout; leave it out with SkipFunctions. The process is killed
// and reaped before Check returns.
func Check(ctx context.Context, cmd *exec.Cmd, w io.Writer, opts ...CheckOption) (Report, error) {
	cfg := checkConfig{callTimeout: DefaultCheckCallTimeout, skip: make(map[string]bool)}
	for _, o := range opts {
		o.applyCheck(&cfg)
	}
	if w == nil {
		w = io.Discard
	}
	if cmd == nil || cmd.Path == "" {
		return Report{}, errors.New("plugintest: Check: no command")
	}
	if cmd.Err != nil {
		return Report{}, fmt.Errorf("plugintest: Check: %w", cmd.Err)
	}
	// The extra headers check starts the command again, as it was given.
	again := respawn(cmd)
	out := &tail{max: outputLines}
	if cmd.Stdout == nil {
		cmd.Stdout = out.stream("stdout")
	}
	if cmd.Stderr == nil {
		cmd.Stderr = out.stream("stderr")
	}
	r, err := start(cmd)
	if err != nil {
		return Report{}, err
	}
	defer r.end()
	c := &checker{cfg: cfg, w: w, p: r.p, launch: r.launch}
	c.run(ctx, r.l)
	r.end()
	c.report.Output = out.lines()
	switch {
	case c.report.Plugin == nil:
		c.add("extra headers", Skip, "no handshake")
	case ctx.Err() != nil:
		c.add("extra headers", Skip, "%v", ctx.Err())
	default:
		c.extraHeaders(ctx, again())
	}

	var passed, failed, skipped, warned int
	for _, r := range c.report.Results {
		switch r.Status {
		case Pass:
			passed++
		case Fail:
			failed++
		case Skip:
			skipped++
		case Warn:
			warned++
		}
	}
	summary := fmt.Sprintf("%d passed, %d failed, %d skipped", passed, failed, skipped)
	if warned > 0 {
		summary += ", " + count(warned, "warning")
	}
	fmt.Fprintln(w, summary)
	if failed > 0 && len(c.report.Output) > 0 {
		fmt.Fprintf(w, "last lines the plugin wrote:\n")
		for _, line := range c.report.Output {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	return c.report, nil
}

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
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	clean := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PLUGSOCK_") {
			clean = append(clean, kv)
		}
	}
	launch := uuid.NewString()
	cmd.Env = append(clean, envelope.EnvAddr+"="+l.Addr().String(), envelope.EnvLaunch+"="+launch)
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

type checker struct {
	cfg    checkConfig
	w      io.Writer
	p      *proc.Process
	launch string
	wire   *wire
	report Report

	fns     map[string]function
	names   []string      // functions to call, sorted
	fastest string        // the function that answered quickest, for the shutdown check
	best    time.Duration // its time
	lost    bool          // the connection ended before the shutdown check
}

func (c *checker) add(name string, st Status, format string, args ...any) {
	r := Result{Check: name, Status: st, Detail: fmt.Sprintf(format, args...)}
	c.report.Results = append(c.report.Results, r)
	fmt.Fprintln(c.w, r)
}

func (c *checker) run(ctx context.Context, l net.Listener) {
	nc, err := accept(ctx, l, c.p)
	if err != nil {
		c.add("handshake", Fail, "%v", err)
		c.skipRest("no connection")
		return
	}
	c.wire = newWire(nc)
	go c.wire.readLoop()
	// Ending ctx cuts the connection, which ends every wait below.
	defer context.AfterFunc(ctx, func() { _ = nc.Close() })()
	defer func() {
		_ = nc.Close()
		<-c.wire.closed
	}()
	if !c.handshake() {
		c.skipRest("no handshake")
		c.framingAndAsync()
		return
	}
	steps := []func(){c.ping, c.unknownMethod, c.badParams, c.calls, c.cancel}
	for _, step := range steps {
		if c.connectionLost() {
			break
		}
		step()
	}
	if c.connectionLost() {
		c.add("shutdown", Skip, "the connection was lost earlier")
	} else {
		c.shutdown()
	}
	c.exit()
	c.framingAndAsync()
}

func (c *checker) skipRest(why string) {
	for _, name := range []string{"functions", "ping", "unknown method", "calls", "cancel", "shutdown", "exit"} {
		c.add(name, Skip, "%s", why)
	}
}

// connectionLost reports (once, as a failure) a connection that ended
// before the shutdown check.
func (c *checker) connectionLost() bool {
	if !c.wire.isClosed() {
		return false
	}
	if !c.lost {
		c.lost = true
		why := "the plugin closed it"
		if c.wire.err != nil && !errors.Is(c.wire.err, io.EOF) {
			why = c.wire.err.Error()
		}
		c.add("connection", Fail, "the connection ended before the battery was done: %s", why)
	}
	return true
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
		err = fmt.Errorf("the process exited before connecting: %s", status(p.Err()))
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

func (c *checker) handshake() bool {
	const name = "handshake"
	var m *message
	t := time.NewTimer(checkHandshakeTimeout)
	defer t.Stop()
	select {
	case m = <-c.wire.hs:
	case <-c.wire.closed:
		select {
		case m = <-c.wire.hs:
		default:
			c.add(name, Fail, "the connection ended before a handshake: %v", c.wire.err)
			return false
		}
	case <-t.C:
		c.add(name, Fail, "no message within %v of connecting", checkHandshakeTimeout)
		return false
	}
	if !m.isRequest() || m.Method != envelope.MethodHandshake {
		what := "a response"
		switch {
		case m.isRequest():
			what = fmt.Sprintf("a %q request", m.Method)
		case m.isNotification():
			what = fmt.Sprintf("a %q notification", m.Method)
		}
		if m.isRequest() {
			_ = c.wire.replyError(m.ID, envelope.CodeInvalidRequest, "protocol violation: "+m.Method+" before the handshake")
		}
		c.add(name, Fail, "the first message was %s, not a $/handshake request", what)
		return false
	}
	var hs struct {
		Name      *string         `json:"name"`
		Version   json.RawMessage `json:"version"`
		Functions json.RawMessage `json:"functions"`
		Launch    *string         `json:"launch"`
	}
	var problem string
	if err := json.Unmarshal(m.Params, &hs); err != nil {
		problem = fmt.Sprintf("params are not an object of the handshake's shape: %v", err)
	} else if hs.Name == nil {
		problem = "params have no name"
	} else if p := nameProblem(*hs.Name); p != "" {
		problem = p
	}
	var version string
	if problem == "" && len(hs.Version) > 0 && string(hs.Version) != "null" {
		if err := json.Unmarshal(hs.Version, &version); err != nil {
			problem = fmt.Sprintf("version is not a string: %s", clip(hs.Version))
		}
	}
	if problem != "" {
		_ = c.wire.replyError(m.ID, envelope.CodeInvalidParams, "malformed handshake: "+problem)
		c.add(name, Fail, "%s", problem)
		return false
	}
	if err := c.wire.reply(m.ID, envelope.HandshakeResult{Name: *hs.Name, Session: uuid.NewString()}); err != nil {
		c.add(name, Fail, "could not answer the handshake: %v", err)
		return false
	}
	fns, problems := parseFunctions(hs.Functions)
	c.fns = fns
	info := &envelope.PluginInfo{Name: *hs.Name, Version: version, Functions: make(map[string]typedesc.Function, len(fns))}
	for n, f := range fns {
		info.Functions[n] = typedesc.Function{Name: n, Input: f.Input, Output: f.Output}
		if !c.cfg.skip[n] {
			c.names = append(c.names, n)
		}
	}
	slices.Sort(c.names)
	c.report.Plugin = info
	launch := ""
	if hs.Launch != nil && *hs.Launch == c.launch {
		launch = "; launch id sent back"
	}
	c.add(name, Pass, "name %q, version %q, %s%s", *hs.Name, version, count(len(fns), "function"), launch)
	if len(problems) > 0 {
		c.add("functions", Fail, "%s", summarize(problems))
	} else {
		c.add("functions", Pass, "%s, following the grammar", count(len(fns), "description"))
	}
	return true
}

func (c *checker) ping() {
	a, ok, err := c.wire.call(envelope.MethodPing, nil, "", c.cfg.callTimeout)
	switch {
	case err != nil:
		c.add("ping", Fail, "could not send: %v", err)
	case !ok:
		c.add("ping", Fail, "%s", c.noAnswer())
	case a.err != nil:
		c.add("ping", Fail, "answered with an error: %s", clip(a.m.Error))
	case string(bytes.TrimSpace(a.m.Result)) != "null":
		c.add("ping", Fail, "answered %s; want result null", clip(a.m.Result))
	default:
		c.add("ping", Pass, "answered null")
	}
}

func (c *checker) unknownMethod() {
	method := "NoSuchFunction"
	for c.has(method) {
		method += "X"
	}
	a, ok, err := c.wire.call(method, json.RawMessage(`{}`), checkTrace, c.cfg.callTimeout)
	want := fmt.Sprintf("want error %d (method not found)", envelope.CodeMethodNotFound)
	switch {
	case err != nil:
		c.add("unknown method", Fail, "could not send: %v", err)
	case !ok:
		c.add("unknown method", Fail, "%s to %s; %s", c.noAnswer(), method, want)
	case a.err == nil:
		c.add("unknown method", Fail, "%s answered with result %s; %s", method, clip(a.m.Result), want)
	case a.err.Code != envelope.CodeMethodNotFound:
		c.add("unknown method", Fail, "%s answered with error %s; %s", method, clip(a.m.Error), want)
	default:
		c.add("unknown method", Pass, "%s answered %d %q", method, a.err.Code, a.err.Message)
	}
}

// noAnswer says why an answer did not come.
func (c *checker) noAnswer() string {
	if c.wire.isClosed() {
		return "the connection ended instead of an answer"
	}
	return fmt.Sprintf("no answer within %v", c.cfg.callTimeout)
}

func (c *checker) has(name string) bool {
	_, ok := c.fns[name]
	return ok
}

func (c *checker) badParams() {
	tested := 0
	for _, fn := range c.names {
		params := contradiction(c.fns[fn].Input)
		if params == nil {
			continue
		}
		tested++
		check := "bad params " + fn
		want := fmt.Sprintf("want error %d (invalid params)", envelope.CodeInvalidParams)
		a, ok, err := c.wire.call(fn, params, checkTrace, c.cfg.callTimeout)
		switch {
		case err != nil:
			c.add(check, Fail, "could not send: %v", err)
		case !ok:
			c.add(check, Fail, "%s to params %s; %s", c.noAnswer(), params, want)
		case a.err == nil:
			c.add(check, Fail, "params %s, contrary to the input description %q, were answered with result %s; %s",
				params, c.fns[fn].Input.Type, clip(a.m.Result), want)
		case a.err.Code != envelope.CodeInvalidParams:
			c.add(check, Fail, "params %s were answered with error %s; %s", params, clip(a.m.Error), want)
		default:
			c.add(check, Pass, "%s where %q belongs was refused with %d", jsonKind(params), c.fns[fn].Input.Type, a.err.Code)
		}
		if c.wire.isClosed() {
			return
		}
	}
	if tested == 0 {
		c.add("bad params", Skip, "no function's input description rules out a JSON type")
	}
}

// callCodes are the error codes a call to a declared function may get.
var callCodes = map[int64]string{
	envelope.CodeMethodError:   "method error",
	envelope.CodeInternalError: "internal error",
	envelope.CodeInvalidParams: "invalid params",
}

// judge says whether an answer to a call of fn is well-formed, and how it
// reads in a report.
func (c *checker) judge(fn string, a answer, codes map[int64]string) (bool, string) {
	if a.err != nil {
		if p := errorShape(a.m.Error); p != "" {
			return false, p
		}
		meaning, ok := codes[a.err.Code]
		if !ok {
			return false, fmt.Sprintf("answered error %s, a code a call to a declared function should not get", clip(a.m.Error))
		}
		if a.err.Message == "" {
			return false, fmt.Sprintf("answered error %d with an empty message", a.err.Code)
		}
		return true, fmt.Sprintf("error %d (%s) %q", a.err.Code, meaning, a.err.Message)
	}
	if out := c.fns[fn].Output; out != nil {
		if err := out.Validate(a.m.Result); err != nil {
			return false, fmt.Sprintf("result %s does not fit the output description: %v", clip(a.m.Result), err)
		}
		return true, fmt.Sprintf("result %s fits its description", clip(a.m.Result))
	}
	return true, fmt.Sprintf("result %s", clip(a.m.Result))
}

func (c *checker) params(fn string) json.RawMessage {
	v := sample(c.fns[fn].Input)
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	return b
}

func (c *checker) calls() {
	if len(c.names) == 0 {
		c.add("calls", Skip, "no function to call")
		return
	}
	for _, fn := range c.names {
		check := "call " + fn
		params := c.params(fn)
		r := c.wire.newRequest(fn, params, checkTrace)
		start := time.Now()
		if err := c.wire.send(r); err != nil {
			c.add(check, Fail, "could not send: %v", err)
			return
		}
		a, ok := c.wire.await(r, c.cfg.callTimeout)
		took := time.Since(start)
		if !ok {
			c.wire.forget(r)
			if !c.wire.isClosed() {
				_ = c.wire.cancel(r.id)
				c.add(check, Fail, "no answer within %v to params %s (leave out functions that wait on purpose with -skip)", c.cfg.callTimeout, orNone(params))
			} else {
				c.add(check, Fail, "the connection ended during the call with params %s", orNone(params))
			}
			continue
		}
		fine, how := c.judge(fn, a, callCodes)
		if !fine {
			c.add(check, Fail, "params %s: %s", orNone(params), how)
			continue
		}
		c.add(check, Pass, "params %s: %s", orNone(params), how)
		if c.fastest == "" || took < c.best {
			c.fastest, c.best = fn, took
		}
	}
}

// cancelCodes are those a cancelled call may be answered with.
var cancelCodes = map[int64]string{
	envelope.CodeRequestCancelled: "request cancelled",
	envelope.CodeMethodError:      "method error",
	envelope.CodeInternalError:    "internal error",
	envelope.CodeInvalidParams:    "invalid params",
}

func (c *checker) cancel() {
	fn := c.fastest
	if fn == "" && len(c.names) > 0 {
		fn = c.names[0]
	}
	if fn == "" {
		c.add("cancel", Skip, "no function to call")
		return
	}
	r := c.wire.newRequest(fn, c.params(fn), "plugsock-check-cancel")
	err := c.wire.send(r)
	if err == nil {
		err = c.wire.cancel(r.id)
	}
	if err == nil {
		err = c.wire.cancel(envelope.NumberID(987654321))
	}
	if err != nil {
		c.add("cancel", Fail, "could not send: %v", err)
		return
	}
	a, ok, err := c.wire.call(envelope.MethodPing, nil, "", c.cfg.callTimeout)
	if err != nil || !ok || a.err != nil {
		c.add("cancel", Fail, "after a call to %s and $/cancelRequest for it (and for an id never sent), a ping got no answer", fn)
		return
	}
	// The answer to the cancelled call, if any, is already in or close.
	ca, answered := c.wire.await(r, min(c.cfg.callTimeout, time.Second))
	if !answered {
		c.wire.forget(r)
		c.add("cancel", Pass, "%s was not answered after $/cancelRequest (allowed); still serving", fn)
		return
	}
	fine, how := c.judge(fn, ca, cancelCodes)
	if !fine {
		c.add("cancel", Fail, "the cancelled call to %s: %s", fn, how)
		return
	}
	c.add("cancel", Pass, "%s after $/cancelRequest: %s; still serving", fn, how)
}

func (c *checker) shutdown() {
	fn := c.fastest
	var before, after *request
	if fn != "" {
		before = c.wire.newRequest(fn, c.params(fn), "plugsock-check-shutdown")
		after = c.wire.newRequest(fn, c.params(fn), "plugsock-check-shutdown")
	}
	sd := c.wire.newRequest(envelope.MethodShutdown, nil, "plugsock-check-shutdown")
	batch := []*request{sd}
	if before != nil {
		batch = []*request{before, sd, after}
	}
	if err := c.wire.sendAll(batch...); err != nil {
		c.add("shutdown", Fail, "could not send: %v", err)
		return
	}
	a, ok := c.wire.await(sd, c.cfg.callTimeout)
	switch {
	case !ok && c.wire.isClosed():
		c.add("shutdown answers", Fail, "the connection ended without an answer to $/shutdown (a host reports that as a crash)")
	case !ok:
		c.add("shutdown answers", Fail, "no answer to $/shutdown within %v (a host cuts such a plugin off and reports a crash)", c.cfg.callTimeout)
	case a.err != nil:
		c.add("shutdown answers", Fail, "answered $/shutdown with error %s; want result null", clip(a.m.Error))
	case string(bytes.TrimSpace(a.m.Result)) != "null":
		c.add("shutdown answers", Fail, "answered $/shutdown with %s; want result null", clip(a.m.Result))
	default:
		c.add("shutdown answers", Pass, "answered null")
	}

	// Wait for the plugin to close; by then everything it sent is read.
	t := time.NewTimer(c.cfg.callTimeout)
	defer t.Stop()
	closed := true
	select {
	case <-c.wire.closed:
	case <-t.C:
		closed = false
	}

	if before != nil {
		c.inFlight(fn, before, sd, ok)
	} else {
		c.add("shutdown in flight", Skip, "no function answered earlier, so none to have in flight")
	}

	if after != nil {
		ra, answered := c.wire.await(after, 0)
		switch {
		case !answered:
			c.add("shutdown refuses calls", Pass, "a call sent after $/shutdown was not served")
		case ra.err != nil && ra.err.Code == envelope.CodeShuttingDown:
			c.add("shutdown refuses calls", Pass, "a call sent after $/shutdown was refused with %d", ra.err.Code)
		default:
			c.add("shutdown refuses calls", Fail, "a call sent after $/shutdown was answered %s; want error %d (shutting down) or no answer",
				clip(ra.m.body), envelope.CodeShuttingDown)
		}
	}
	if closed {
		c.add("shutdown closes", Pass, "closed the connection")
	} else {
		c.add("shutdown closes", Fail, "the connection was still open %v after $/shutdown", c.cfg.callTimeout)
	}
}

// inFlight checks that the call sent before $/shutdown was served and
// answered before the $/shutdown was.
func (c *checker) inFlight(fn string, before, sd *request, sdAnswered bool) {
	const name = "shutdown in flight"
	ba, ok := c.wire.await(before, 0)
	if !ok {
		c.add(name, Fail, "a call to %s sent just before $/shutdown got no answer", fn)
		return
	}
	if ba.err != nil && ba.err.Code == envelope.CodeShuttingDown {
		c.add(name, Fail, "a call to %s sent before $/shutdown was refused with %d; calls in flight must be served", fn, ba.err.Code)
		return
	}
	if fine, how := c.judge(fn, ba, callCodes); !fine {
		c.add(name, Fail, "a call to %s sent before $/shutdown: %s", fn, how)
		return
	}
	if sdAnswered && c.wire.answeredAfter(before.id.String(), sd.id.String()) {
		c.add(name, Fail, "the call to %s sent before $/shutdown was answered after it; a host has stopped listening by then", fn)
		return
	}
	c.add(name, Pass, "a call to %s sent just before $/shutdown was answered first", fn)
}

func (c *checker) exit() {
	t := time.NewTimer(c.cfg.callTimeout)
	defer t.Stop()
	select {
	case <-c.p.Exited():
		if err := c.p.Err(); err != nil {
			c.add("exit", Fail, "the process ended with %s", status(err))
		} else {
			c.add("exit", Pass, "the process exited with status 0")
		}
	case <-t.C:
		c.add("exit", Fail, "the process was still running %v after the shutdown; killed it", c.cfg.callTimeout)
	}
}

func (c *checker) framingAndAsync() {
	c.wire.mu.Lock()
	problems := append([]string(nil), c.wire.problems...)
	asyncs, bad := c.wire.asyncs, append([]string(nil), c.wire.asyncBad...)
	c.wire.mu.Unlock()
	if len(problems) > 0 {
		c.add("framing", Fail, "%s", summarize(problems))
	} else {
		c.add("framing", Pass, "every frame and message was well-formed")
	}
	switch {
	case len(bad) > 0:
		c.add("async", Fail, "$/async %s", summarize(bad))
	case asyncs == 0:
		c.add("async", Skip, "the plugin sent no $/async during the check")
	default:
		c.add("async", Pass, "%s, well-formed", count(asyncs, "$/async notification"))
	}
}

// answeredAfter reports whether the answer to the request with id a came
// after the answer to b.
func (w *wire) answeredAfter(a, b string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ia, ib := -1, -1
	for i, id := range w.order {
		switch id {
		case a:
			ia = i
		case b:
			ib = i
		}
	}
	return ia > ib && ib >= 0
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func status(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func summarize(ps []string) string {
	if len(ps) <= 3 {
		return strings.Join(ps, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(ps[:3], "; "), len(ps)-3)
}

func orNone(params json.RawMessage) string {
	if params == nil {
		return "(none)"
	}
	return clip(params)
}

func jsonKind(raw json.RawMessage) string {
	switch bytes.TrimSpace(raw)[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a value"
}

// tail keeps the last lines a process wrote.
type tail struct {
	mu    sync.Mutex
	max   int
	buf   []string
	parts map[string][]byte
}

func (t *tail) stream(name string) io.Writer { return &tailStream{t: t, name: name} }

type tailStream struct {
	t    *tail
	name string
}

func (s *tailStream) Write(p []byte) (int, error) {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.parts == nil {
		t.parts = make(map[string][]byte)
	}
	b := append(t.parts[s.name], p...)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		t.push(s.name + ": " + strings.TrimRight(string(b[:i]), "\r"))
		b = b[i+1:]
	}
	if len(b) > 4096 {
		t.push(s.name + ": " + string(b))
		b = nil
	}
	t.parts[s.name] = append([]byte(nil), b...)
	return len(p), nil
}

func (t *tail) push(line string) {
	t.buf = append(t.buf, line)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
}

func (t *tail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.buf...)
	for _, name := range sortedKeys(t.parts) {
		if len(t.parts[name]) > 0 {
			out = append(out, name+": "+string(t.parts[name]))
		}
	}
	return out
}
