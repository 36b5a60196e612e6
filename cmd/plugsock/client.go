package main

// The commands that talk to a running host's admin API: list, describe,
// call, broadcast, unplug.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// defaultAdmin is where "plugsock serve" serves the admin API.
const defaultAdmin = "127.0.0.1:7701"

// adminAPI is what the commands need of admin.Client; tests put a fake in
// its place.
type adminAPI interface {
	List(ctx context.Context) (map[string]*envelope.PluginInfo, error)
	Describe(ctx context.Context, name string) (*envelope.PluginInfo, error)
	Call(ctx context.Context, name, method string, payload json.RawMessage) (json.RawMessage, error)
	Broadcast(ctx context.Context, method string, payload json.RawMessage) (map[string]admin.BroadcastResult, error)
	Unplug(ctx context.Context, name string) error
	Configure(ctx context.Context, name string, value json.RawMessage) error
}

var _ adminAPI = (*admin.Client)(nil)

// adminConfig is how the client commands reach the admin API.
type adminConfig struct {
	BaseURL string
	Token   string        // sent as "Authorization: Bearer"; "" for none
	Timeout time.Duration // how long the API is to wait for a plugin (?timeout=); 0 for no limit
}

// newAdmin returns the client for the admin API that cfg names.
var newAdmin = func(cfg adminConfig) adminAPI {
	return &admin.Client{
		BaseURL: cfg.BaseURL,
		Token:   cfg.Token,
		HTTP:    &http.Client{Transport: callTimeout{http.DefaultTransport, cfg.Timeout}},
	}
}

// callTimeout asks the admin API to give up on the plugins of a call,
// broadcast or configuration (the POST and PUT routes) after d, with
// ?timeout=. The API then answers, naming the plugin and method that did
// not answer, while the command is still waiting; see callGrace.
type callTimeout struct {
	base http.RoundTripper
	d    time.Duration
}

func (t callTimeout) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.d > 0 && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		r = r.Clone(r.Context()) // a RoundTripper must not change the request
		q := r.URL.Query()
		q.Set("timeout", t.d.String())
		r.URL.RawQuery = q.Encode()
	}
	return t.base.RoundTrip(r)
}

// callGrace is how much longer than --timeout call and broadcast wait for
// the admin API, so that its report of a plugin that did not answer in
// --timeout arrives before they give up on the API itself.
const callGrace = time.Second

// stdin is where call and broadcast read a payload given as "-".
var stdin io.Reader = os.Stdin

// clientFlags are the flags every admin client command has.
type clientFlags struct {
	admin   string
	token   string
	json    bool
	timeout time.Duration
}

func (f *clientFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.admin, "admin", "", "admin API `address` (host:port or URL, such as the console URL serve printed); default $PLUGSOCK_ADMIN, else "+defaultAdmin)
	// The default is looked up in run, not shown here: --help must not
	// print a secret.
	fs.StringVar(&f.token, "admin-token", "", "`token` of the admin API, the one 'plugsock serve' printed; default $PLUGSOCK_ADMIN_TOKEN")
	fs.BoolVar(&f.json, "json", false, "print JSON for scripts instead of tables")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
}

// address returns the admin address as given: the flag, else
// $PLUGSOCK_ADMIN, else the default; "http://" is added when no scheme is
// given.
func (f *clientFlags) address() string {
	addr := f.admin
	if addr == "" {
		addr = os.Getenv("PLUGSOCK_ADMIN")
	}
	if addr == "" {
		addr = defaultAdmin
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return addr
}

// baseURL returns the admin API's URL without what may carry a secret:
// no user information, query or fragment. The console URL that serve
// prints, with its ?token=, is thus a valid --admin.
func (f *clientFlags) baseURL() string {
	addr := f.address()
	if u, err := url.Parse(addr); err == nil {
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		addr = u.String()
	}
	return strings.TrimRight(addr, "/")
}

// tokenSource returns the admin token and where it came from:
// --admin-token, else $PLUGSOCK_ADMIN_TOKEN, else a token= in the admin
// address (the console URL serve prints).
func (f *clientFlags) tokenSource() (token, from string) {
	if f.token != "" {
		return f.token, "--admin-token"
	}
	if t := os.Getenv("PLUGSOCK_ADMIN_TOKEN"); t != "" {
		return t, "$PLUGSOCK_ADMIN_TOKEN"
	}
	if u, err := url.Parse(f.address()); err == nil {
		if t := u.Query().Get("token"); t != "" {
			return t, "the admin address"
		}
	}
	return "", ""
}

// clientCommand builds the command value for an admin client command whose
// body is do; args are the positional arguments, checked against min and
// max (max < 0: no limit). calls is set for the commands that call
// plugins, whose --timeout the admin API is asked to keep.
func clientCommand(name, usage, summary string, min, max int, calls bool,
	do func(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int) command {
	c := command{name: name, usage: usage, summary: summary}
	c.run = func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		var f clientFlags
		fs := c.flags()
		f.add(fs)
		pos, code, ok := c.parse(fs, args, stdout, stderr)
		if !ok {
			return code
		}
		switch {
		case len(pos) < min:
			return c.usageError(stderr, "too few arguments")
		case max >= 0 && len(pos) > max:
			return c.usageError(stderr, "too many arguments")
		case f.timeout <= 0:
			return c.usageError(stderr, "--timeout must be positive, such as 500ms or 5s, not %v", f.timeout)
		}
		cfg := adminConfig{BaseURL: f.baseURL()}
		cfg.Token, _ = f.tokenSource()
		wait := f.timeout
		if calls {
			cfg.Timeout = f.timeout
			wait += callGrace
		}
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		return do(ctx, c, newAdmin(cfg), &f, pos, stdout, stderr)
	}
	return c
}

func init() {
	register(clientCommand("list", "[flags]",
		"List the plugins connected to a running host.", 0, 0, false, runList))
	register(clientCommand("describe", "[flags] NAME [FUNCTION]",
		"Show a plugin's functions and what each takes and returns, or one function.\n"+
			"Shapes too wide for a table are laid out over several lines, a struct's\n"+
			"fields one per line.", 1, 2, false, runDescribe))
	register(clientCommand("call", "[flags] NAME METHOD [JSON|-]",
		"Call a function of one plugin.\n"+
			"The payload is the JSON argument, or stdin when it is \"-\" or absent (null on a\n"+
			"terminal); a negative number is a payload, not a flag, and so is anything\n"+
			"after \"--\". The result is printed as JSON; a failed call prints the plugin's\n"+
			"message and error code and exits 1. A plugin that does not answer within\n"+
			"--timeout is named.", 2, 3, true, runCall))
	register(clientCommand("broadcast", "[flags] METHOD [JSON|-]",
		"Call a function on every plugin at once.\n"+
			"The payload is given as for call. Exits 1 if any plugin failed, or did not\n"+
			"answer within --timeout.", 1, 2, true, runBroadcast))
	register(clientCommand("unplug", "[flags] NAME",
		"Stop a plugin gracefully.\n"+
			"It finishes and answers its calls in flight, then disconnects.", 1, 1, false, runUnplug))
}

func runList(ctx context.Context, c command, api adminAPI, f *clientFlags, _ []string, stdout, stderr io.Writer) int {
	plugins, err := api.List(ctx)
	if err != nil {
		return reportError(c, f, err, stderr)
	}
	if f.json {
		type item struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		}
		out := struct {
			Plugins []item `json:"plugins"`
		}{Plugins: []item{}}
		for _, name := range slices.Sorted(maps.Keys(plugins)) {
			out.Plugins = append(out.Plugins, item{Name: name, Version: plugins[name].Version})
		}
		return writeJSON(stdout, out)
	}
	if len(plugins) == 0 {
		fmt.Fprintln(stdout, "No plugins connected.")
		return exitOK
	}
	t := &table{}
	t.row("NAME", "VERSION")
	for _, name := range slices.Sorted(maps.Keys(plugins)) {
		t.row(name, orDash(plugins[name].Version))
	}
	t.write(stdout)
	return exitOK
}

func runDescribe(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int {
	info, err := api.Describe(ctx, args[0])
	if err != nil {
		return reportError(c, f, err, stderr)
	}
	if len(args) == 1 {
		if f.json {
			return writeJSON(stdout, info)
		}
		describe(stdout, withSchemaShapes(info))
		return exitOK
	}
	fn, ok := info.Functions[args[1]]
	if !ok {
		names := slices.Sorted(maps.Keys(info.Functions))
		if len(names) == 0 {
			return c.fail(stderr, "plugin %s has no function %q; it declared none", info.Name, args[1])
		}
		return c.fail(stderr, "plugin %s has no function %q; it has %s", info.Name, args[1], abbreviate(strings.Join(names, ", "), 200))
	}
	if f.json {
		if fn.Name == "" {
			fn.Name = args[1]
		}
		return writeJSON(stdout, fn)
	}
	fmt.Fprintf(stdout, "%s: %s\n", heading(info), text(args[1]))
	fn = withSchemaShapes(&envelope.PluginInfo{Functions: map[string]typedesc.Function{"": fn}}).Functions[""]
	describeFunction(stdout, &fn)
	fmt.Fprint(stdout, "\n"+shapeLegend)
	return exitOK
}

// shapeLegend explains the notation of shapes.
const shapeLegend = "\"?\" marks an optional field; \"-\" means nothing is described.\n"

// heading names a plugin and its version.
func heading(info *envelope.PluginInfo) string {
	head := text(info.Name)
	if info.Version != "" {
		head += " " + text(info.Version)
	}
	return head
}

// describe prints a plugin's header and its functions: a table when every
// row fits in describeWidth, otherwise one block per function.
func describe(w io.Writer, info *envelope.PluginInfo) {
	fmt.Fprintf(w, "%s — %s\n\n", heading(info), plural(len(info.Functions), "function"))
	if len(info.Functions) == 0 {
		return
	}
	if fitsTable(info) {
		t := &table{}
		t.row("FUNCTION", "INPUT", "OUTPUT")
		functionsTable(t, info, false)
		t.write(w)
		notesTable(w, info)
	} else {
		for i, name := range slices.Sorted(maps.Keys(info.Functions)) {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fn := info.Functions[name]
			fmt.Fprintln(w, text(name))
			describeFunction(w, &fn)
		}
	}
	fmt.Fprint(w, "\n"+shapeLegend)
}

// fitsTable reports whether the table of info's functions is at most
// describeWidth wide.
func fitsTable(info *envelope.PluginInfo) bool {
	var nameW, inW, outW int
	for name, fn := range info.Functions {
		nameW = max(nameW, utf8.RuneCountInString(text(name)))
		in, ok1 := shapeWithin(fn.Input, describeWidth)
		out, ok2 := shapeWithin(fn.Output, describeWidth)
		if fn.Stream != nil {
			out = outputShape(&fn)
		}
		if !ok1 || !ok2 {
			return false
		}
		inW = max(inW, utf8.RuneCountInString(in))
		outW = max(outW, utf8.RuneCountInString(out))
	}
	nameW = max(nameW, len("FUNCTION"))
	inW = max(inW, len("INPUT"))
	return nameW+2+inW+2+outW <= describeWidth
}

// describeFunction prints what fn takes and returns, each shape laid out
// to fit in describeWidth:
//
//	input  {
//	  id int64
//	  items []{name string, price float64}
//	}
//	output bool
func describeFunction(w io.Writer, fn *typedesc.Function) {
	const label = "  output "
	fmt.Fprintf(w, "  input  %s\n", shapeBlock(fn.Input, len(label), 2, describeWidth))
	if fn.Stream != nil {
		fmt.Fprintf(w, "%s%s\n", label, outputShape(fn))
	} else {
		fmt.Fprintf(w, "%s%s\n", label, shapeBlock(fn.Output, len(label), 2, describeWidth))
	}
	writeNotes(w, fn, "  ")
}

func runCall(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int {
	payload, err := readPayload(args[2:])
	if err != nil {
		return c.usageError(stderr, "%v", err)
	}
	result, err := api.Call(ctx, args[0], args[1], payload)
	if err != nil {
		if timedOut(err) {
			return reportTimeout(c, f, err, args[0]+"."+args[1], stderr)
		}
		return reportError(c, f, err, stderr)
	}
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	if f.json {
		fmt.Fprintf(stdout, "%s\n", safeJSON(compactJSON(result)))
		return exitOK
	}
	fmt.Fprintln(stdout, indented(result))
	return exitOK
}

func runBroadcast(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int {
	payload, err := readPayload(args[1:])
	if err != nil {
		return c.usageError(stderr, "%v", err)
	}
	results, err := api.Broadcast(ctx, args[0], payload)
	if err != nil {
		if timedOut(err) {
			return reportTimeout(c, f, err, "broadcast "+args[0], stderr)
		}
		return reportError(c, f, err, stderr)
	}
	failed := 0
	for _, r := range results {
		if r.Error != nil {
			failed++
		}
	}
	code := exitOK
	if failed > 0 {
		code = exitFail
	}
	if f.json {
		if results == nil {
			results = map[string]admin.BroadcastResult{}
		}
		writeJSON(stdout, struct {
			Results map[string]admin.BroadcastResult `json:"results"`
		}{results})
		return code
	}
	if len(results) == 0 {
		fmt.Fprintln(stdout, "No plugins connected.")
		return exitOK
	}
	t := &table{}
	t.row("PLUGIN", "RESULT")
	for _, name := range slices.Sorted(maps.Keys(results)) {
		r := results[name]
		if r.Error != nil {
			t.row(name, "error: "+errorText(r.Error.Code, r.Error.Message))
		} else {
			t.row(name, compact(orNull(r.Result)))
		}
	}
	t.write(stdout)
	if failed > 0 {
		fmt.Fprintf(stderr, "plugsock broadcast: %d of %d plugins failed\n", failed, len(results))
	}
	return code
}

func runUnplug(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int {
	if err := api.Unplug(ctx, args[0]); err != nil {
		return reportError(c, f, err, stderr)
	}
	if f.json {
		return writeJSON(stdout, map[string]string{"unplugged": args[0]})
	}
	fmt.Fprintf(stdout, "Unplugged %s.\n", text(args[0]))
	return exitOK
}

// readPayload returns the payload in args (at most one), reading stdin for
// "-" or for no argument. Nothing at all is a null payload.
func readPayload(args []string) (json.RawMessage, error) {
	var raw []byte
	if len(args) == 0 || args[0] == "-" {
		if f, ok := stdin.(*os.File); ok && len(args) == 0 && isTerminal(f) {
			// Nobody is going to type JSON at a prompt they were not
			// shown: an absent payload on a terminal is null.
			return json.RawMessage("null"), nil
		}
		var err error
		if raw, err = io.ReadAll(io.LimitReader(stdin, envelope.DefaultMaxFrameSize+1)); err != nil {
			return nil, fmt.Errorf("reading the payload from stdin: %w", err)
		}
		if len(raw) > envelope.DefaultMaxFrameSize {
			return nil, fmt.Errorf("payload on stdin is larger than %d bytes", envelope.DefaultMaxFrameSize)
		}
	} else {
		raw = []byte(args[0])
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("payload is not valid JSON: %s (strings need quotes: '\"text\"')", abbreviate(string(raw), 60))
	}
	return json.RawMessage(raw), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// timedOut reports whether err says a call ran out of time: the admin
// API's 504 or the command's own deadline.
func timedOut(err error) bool {
	var apiErr *admin.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusGatewayTimeout
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// reportTimeout reports that what (a plugin's method, or a broadcast's
// method) did not answer within --timeout. The admin API was asked to
// give up a little before the command does, and its 504 says so; if the
// command's own deadline came first, the API itself did not answer.
func reportTimeout(c command, f *clientFlags, err error, what string, stderr io.Writer) int {
	var apiErr *admin.APIError
	if errors.As(err, &apiErr) {
		return c.fail(stderr, "%s did not answer within %v (--timeout)", what, f.timeout)
	}
	return c.fail(stderr, "no answer from the admin API at %s within %v (calling %s)", f.baseURL(), f.timeout+callGrace, what)
}

// reportError prints err on one line and returns exitFail. An error
// answer of the API shows the plugin's message and code; a host that
// cannot be reached is named by its address. Nothing printed carries the
// token: it goes in a header, and the address is shown without user
// information or query.
func reportError(c command, f *clientFlags, err error, stderr io.Writer) int {
	var apiErr *admin.APIError
	var urlErr *url.Error
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized:
		if _, from := f.tokenSource(); from != "" {
			return c.fail(stderr, "the admin API at %s refused the token from %s; set --admin-token or $PLUGSOCK_ADMIN_TOKEN to the token 'plugsock serve' printed", f.baseURL(), from)
		}
		return c.fail(stderr, "the admin API at %s needs a token; set --admin-token or $PLUGSOCK_ADMIN_TOKEN to the token 'plugsock serve' printed", f.baseURL())
	case errors.As(err, &apiErr):
		return c.fail(stderr, "%s", errorText(apiErr.Code, apiErr.Message))
	case errors.Is(err, context.DeadlineExceeded):
		return c.fail(stderr, "no answer from the admin API at %s within %v", f.baseURL(), f.timeout)
	case errors.As(err, &urlErr), errors.As(err, &netErr):
		return c.fail(stderr, "cannot reach the admin API at %s (is 'plugsock serve' running?): %s", f.baseURL(), rootCause(err))
	}
	return c.fail(stderr, "%s", err.Error())
}

// rootCause returns the text of the innermost error that says what went
// wrong on the network, such as "connection refused".
func rootCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
		for {
			u := errors.Unwrap(err)
			if u == nil {
				break
			}
			err = u
		}
	}
	return oneLine(err.Error())
}

func abbreviate(s string, n int) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

func compactJSON(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// writeJSON prints v indented, for --json, written by safeJSON: the same
// values, safe to read on a terminal.
func writeJSON(w io.Writer, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintln(w, "null")
		return exitFail
	}
	fmt.Fprintf(w, "%s\n", safeJSON(b))
	return exitOK
}
