package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/proc"
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
	// Protocol is the protocol the plugin speaks, as the handshake
	// settled it: the lower of the one it offered and the highest the
	// battery speaks (envelope.Protocol), or 1 when it offered none. Zero
	// when there was no handshake to settle it.
	Protocol int
	// Streams names the shape of each stream function the plugin declares
	// (typedesc.ShapeSource, ShapeSink or ShapeProcessor; "" for a stream
	// described with neither half), by function; nil when it declares
	// none.
	Streams map[string]string
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

// CheckOption configures Check: CheckConfig is the one there is.
type CheckOption interface{ applyCheck(*checkConfig) }

// CheckConfig holds the settings of Check. Its zero value means every
// default: a field left zero keeps its default.
type CheckConfig struct {
	// CallTimeout bounds each wait of the battery: for an answer (the
	// $/shutdown's included), and for the connection to close and the
	// process to exit after the shutdown. DefaultCheckCallTimeout when
	// zero or less. The plugin always has 10 seconds to connect and
	// handshake.
	CallTimeout time.Duration

	// SkipFunctions leaves the named functions out of the checks that call
	// them: those that block until something happens, or that must not be
	// called with made-up input.
	SkipFunctions []string
}

type checkConfig struct {
	callTimeout time.Duration
	skip        map[string]bool
}

// applyCheck overlays the settings c sets, those not left zero, on cfg;
// SkipFunctions add to those already skipped.
func (c CheckConfig) applyCheck(cfg *checkConfig) {
	if c.CallTimeout > 0 {
		cfg.callTimeout = c.CallTimeout
	}
	for _, n := range c.SkipFunctions {
		cfg.skip[n] = true
	}
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
// and a summary that names the protocol the plugin speaks, and returns the
// Report. The error is for what kept the battery from running at all,
// such as a command that cannot be started; a plugin that misbehaves is a
// failed check.
//
// The protocol is the one the handshake settles, as the host settles it:
// the plugin's "protocol" (1 when it names none) or the battery's highest,
// envelope.Protocol, whichever is lower; Report.Protocol holds it. In
// protocol 1 the battery sends protocol 1's frames; in protocol 2 a
// call's params are an object (an object input by name, any other input
// as {"value": input}) whose last member is _meta, with the trace id, the
// deadline the call timeout gives and the request's id as progressToken,
// and nothing has a top-level meta. In protocol 2 the battery offers one
// host service, Check.Echo, whose input and output are any: it answers
// the value it was sent. It answers other Service.Method calls, and $/
// methods it does not know, with -32601, and $/call with -32005, as a host
// whose policy lets no plugin call another.
//
// The checks, in order:
//
//   - handshake: the first message is a $/handshake request with a valid
//     name, a version string and a functions object, and, if it has them,
//     a protocol that is a positive integer and capabilities that are an
//     object.
//   - functions: every description follows the grammar of section 6.
//   - ping: $/ping, sent as the host's heartbeat sends it, is answered
//     null.
//   - unknown method: a call to a function the plugin does not have is
//     answered -32601.
//   - bad params F: for every function F whose input description rules out
//     some JSON type, a payload of that type is answered -32602.
//   - call F: every function that is not a stream is called with the
//     simplest payload its description accepts (mandatory fields with zero values). The answer
//     must be well-formed: a result that fits the output description, or
//     an error with an integer code a call may get (-32000 for the
//     method's own error, -32603 for a crash, -32602 for input it will not
//     take) and a message. This is how errors and panics are exercised:
//     a zero payload is what makes most functions fail, if anything does.
//   - meta (protocol 2): _meta never reaches the input. A function whose
//     call passed, preferably one whose input is an object, is called
//     again with the same input three ways: with _meta, without it, and
//     by position ([input]); the three answers must be equal results or
//     errors with one code.
//   - cancel: a call followed at once by $/cancelRequest for it, and by
//     one for an id never sent, must leave the connection healthy (a ping
//     is answered); any answer to the call must be well-formed. Whether
//     the work really stopped cannot be seen from outside; test that with
//     a Harness.
//   - streams (protocol 2; these checks and the stream messages check
//     are there only for a plugin that declares stream functions,
//     docs/protocol.md section 19): every stream description has a shape
//     (in, out, or both), item schemas that compile, and no output.
//   - stream F: every stream function is opened as the host opens it,
//     with the simplest payload its input accepts and a window of 4, and
//     served as its shape asks. A sink or a processor must grant credit
//     within the call timeout, and settle (acknowledge or reject) the
//     items it is sent, made from the in description as payloads are; a
//     WARN when it rejects them all. The items a source or a processor
//     sends must count seq 1, 2, 3... without a gap, never pass the credit
//     granted ("sent item 5 with 4 credit"), fit the out description, and
//     keep coming once the battery, having let the plugin use its window,
//     acknowledges them and grants more. Then the battery closes its half
//     of a sink or a processor, which must answer null (or an error)
//     within the call timeout with none of its items unsettled, and
//     cancels a source, which may be endless, and which must answer all
//     the same. A stream that breaks a rule is failed by the battery, as
//     the host fails it, with a $/stream/cancel carrying an error.
//   - stream call F: the same function called without _meta.stream is
//     answered -32602; the host never makes such a call, so another error
//     is a WARN.
//   - stream without credit: one stream is sent an item past the credit
//     the plugin granted, which the plugin must fail with a
//     $/stream/cancel carrying an error; a WARN when it does not. The
//     stream is a source's when there is one, since a source never
//     settles what it is sent; a plugin could grant more credit as it
//     settles, before the item arrives, so the check tries again when it
//     cannot be sure, and is skipped if it never is.
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
//   - strict (protocol 2): every message the plugin sent after the
//     handshake had JSON-RPC 2.0's members only, no top-level meta,
//     params that were an object or absent (absent on $/ping and
//     $/shutdown), and $/async params of the form {"value": item}. A
//     failure quotes the first message that did not.
//   - host services (protocol 2): every call the plugin made to
//     Check.Echo was shaped as a host service's input is, params
//     {"value": input} with a well-formed _meta if any. Skipped when the
//     plugin called no host service, which it need not.
//   - progress (protocol 2): every $/progress the plugin sent was a
//     notification naming the progressToken of a call still in flight,
//     with a numeric progress (and a numeric total and a string message,
//     if any). Skipped when it sent none.
//   - stream messages (protocol 2, with the stream checks): every stream
//     message the plugin sent was a notification about a stream the
//     battery opened and the plugin had not ended.
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
// In protocol 1 the checks marked protocol 2 are skipped, saying so; the
// stream checks are one skipped line, streams.
//
// Calls are sent one at a time, and streams opened one at a time, so a
// single-threaded plugin passes. A
// function that blocks until something happens fails "call F" after the
// call timeout; leave it out with CheckConfig.SkipFunctions. The process
// is killed and reaped before Check returns.
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
	if c.report.Protocol > 0 {
		summary = fmt.Sprintf("protocol %d: %s", c.report.Protocol, summary)
	}
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

type checker struct {
	cfg    checkConfig
	w      io.Writer
	p      *proc.Process
	launch string
	wire   *wire
	report Report

	fns       map[string]function
	names     []string // functions to call, sorted: those that are no stream, and not skipped
	streamFns []string // the stream functions, sorted, skipped ones too
	schemas   map[string]itemSchemas
	served    []string      // those whose call passed, sorted
	fastest   string        // the function that answered quickest, for the shutdown check
	best      time.Duration // its time
	lost      bool          // the connection ended before the shutdown check
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
		c.protocol2Findings()
		return
	}
	steps := []func(){c.ping, c.unknownMethod, c.badParams, c.calls, c.meta, c.cancel, c.streams}
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
	c.protocol2Findings()
	c.streamFindings()
}

func (c *checker) skipRest(why string) {
	for _, name := range []string{"functions", "ping", "unknown method", "calls", "meta", "cancel", "shutdown", "exit"} {
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

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
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
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return "a value"
}
