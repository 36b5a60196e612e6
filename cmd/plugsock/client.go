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
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
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
}

var _ adminAPI = (*admin.Client)(nil)

// newAdmin returns the client for the admin API at baseURL.
var newAdmin = func(baseURL string) adminAPI { return &admin.Client{BaseURL: baseURL} }

// stdin is where call and broadcast read a payload given as "-".
var stdin io.Reader = os.Stdin

// clientFlags are the flags every admin client command has.
type clientFlags struct {
	admin   string
	json    bool
	timeout time.Duration
}

func (f *clientFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.admin, "admin", "", "admin API `address` (host:port or URL); default $PLUGSOCK_ADMIN, else "+defaultAdmin)
	fs.BoolVar(&f.json, "json", false, "print JSON for scripts instead of tables")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
}

// baseURL resolves the admin address: the flag, else $PLUGSOCK_ADMIN, else
// the default; "http://" is added when no scheme is given.
func (f *clientFlags) baseURL() string {
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
	return strings.TrimRight(addr, "/")
}

// clientCommand builds the command value for an admin client command whose
// body is do; args are the positional arguments, checked against min and
// max (max < 0: no limit).
func clientCommand(name, usage, summary string, min, max int,
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
		}
		ctx, cancel := context.WithTimeout(ctx, f.timeout)
		defer cancel()
		return do(ctx, c, newAdmin(f.baseURL()), &f, pos, stdout, stderr)
	}
	return c
}

func init() {
	register(clientCommand("list", "[flags]",
		"List the plugins connected to a running host.", 0, 0, runList))
	register(clientCommand("describe", "[flags] NAME",
		"Show a plugin's functions and what each takes and returns.", 1, 1, runDescribe))
	register(clientCommand("call", "[flags] NAME METHOD [JSON|-]",
		"Call a function of one plugin.\n"+
			"The payload is the JSON argument, or stdin when it is \"-\" or absent (null on a\n"+
			"terminal). The result is printed as JSON; a failed call prints the plugin's\n"+
			"message and error code and exits 1.", 2, 3, runCall))
	register(clientCommand("broadcast", "[flags] METHOD [JSON|-]",
		"Call a function on every plugin at once.\n"+
			"The payload is given as for call. Exits 1 if any plugin failed.", 1, 2, runBroadcast))
	register(clientCommand("unplug", "[flags] NAME",
		"Stop a plugin gracefully.\n"+
			"It finishes and answers its calls in flight, then disconnects.", 1, 1, runUnplug))
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
		for _, name := range sortedKeys(plugins) {
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
	for _, name := range sortedKeys(plugins) {
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
	if f.json {
		return writeJSON(stdout, info)
	}
	describe(stdout, info)
	return exitOK
}

// describe prints a plugin's header and its functions.
func describe(w io.Writer, info *envelope.PluginInfo) {
	head := info.Name
	if info.Version != "" {
		head += " " + info.Version
	}
	fmt.Fprintf(w, "%s — %s\n\n", head, plural(len(info.Functions), "function"))
	if len(info.Functions) == 0 {
		return
	}
	t := &table{}
	t.row("FUNCTION", "INPUT", "OUTPUT")
	functionsTable(t, info, false)
	t.write(w)
	fmt.Fprint(w, "\n\"?\" marks an optional field; \"-\" means nothing is described.\n")
}

func runCall(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int {
	payload, err := readPayload(args[2:])
	if err != nil {
		return c.usageError(stderr, "%v", err)
	}
	result, err := api.Call(ctx, args[0], args[1], payload)
	if err != nil {
		return reportError(c, f, err, stderr)
	}
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	if f.json {
		fmt.Fprintln(stdout, compactJSON(result))
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
	for _, name := range sortedKeys(results) {
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
	fmt.Fprintf(stdout, "Unplugged %s.\n", args[0])
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

// reportError prints err on one line and returns exitFail. An error
// answer of the API shows the plugin's message and code; a host that
// cannot be reached is named by its address.
func reportError(c command, f *clientFlags, err error, stderr io.Writer) int {
	var apiErr *admin.APIError
	var urlErr *url.Error
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		return c.fail(stderr, "%s", errorText(apiErr.Code, apiErr.Message))
	case errors.Is(err, context.DeadlineExceeded):
		return c.fail(stderr, "no answer from the admin API at %s within %v", f.baseURL(), f.timeout)
	case errors.As(err, &urlErr), errors.As(err, &netErr):
		return c.fail(stderr, "cannot reach the admin API at %s (is 'plugsock serve' running?): %s", f.baseURL(), rootCause(err))
	}
	return c.fail(stderr, "%s", oneLine(err.Error()))
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

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

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

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// writeJSON prints v indented, for --json.
func writeJSON(w io.Writer, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintln(w, "null")
		return exitFail
	}
	fmt.Fprintf(w, "%s\n", b)
	return exitOK
}
