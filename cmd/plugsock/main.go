// Command plugsock hosts plugins, shows them at work and talks to a running
// host's admin API.
//
//	plugsock demo                       watch two plugins connect, answer, push data and leave
//	plugsock serve                      host a socket, its admin API and web console until interrupted
//	plugsock list                       list the plugins connected to a running host
//	plugsock describe NAME [FUNCTION]   show a plugin's functions and their shapes
//	plugsock call NAME METHOD [JSON]
//	plugsock broadcast METHOD [JSON]
//	plugsock unplug NAME
//	plugsock configure NAME [JSON]      replace a plugin's configuration
//	plugsock check -- COMMAND [ARGS...] check that a plugin executable keeps the protocol
//	plugsock mcp                        an MCP server on stdin and stdout, relayed to a running serve
//	plugsock top                        a live view of each plugin's calls, errors, latency and health
//	plugsock publish TOPIC [JSON]       publish an event to the host's store
//	plugsock topics                     list the store's topics and their offsets
//	plugsock subscriptions              list the subscriptions, their offsets and lag
//	plugsock state NAME                 the size and age of a plugin's last snapshot
//
// Every subcommand has --help. The exit status is 0 on success, 1 when the
// command failed and 2 when it was used wrongly. The client commands send
// the admin token from --admin-token or $PLUGSOCK_ADMIN_TOKEN. Text that
// plugins control is printed with terminal controls and bidi characters
// escaped; --json prints the same values as JSON.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// command is one subcommand. Each lives in its own file and registers
// itself from init.
type command struct {
	name    string // what follows "plugsock"
	usage   string // the synopsis after the name, e.g. "[flags] NAME"
	summary string // first line for "plugsock help", all of it for --help; empty hides the command
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

// register adds c to the table. Call it from init.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("plugsock: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process around it, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(rest) > 0 {
			c, ok := commands[rest[0]]
			if !ok {
				fmt.Fprintf(stderr, "plugsock: unknown command %q; run 'plugsock help'\n", rest[0])
				return exitUsage
			}
			return c.run(ctx, []string{"--help"}, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "plugsock: unknown command %q; run 'plugsock help'\n", name)
		return exitUsage
	}
	return c.run(ctx, rest, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, "plugsock hosts plugins that connect over one socket.\n\nUsage:\n\n  plugsock <command> [arguments]\n\nCommands:\n\n")
	var names []string
	for name, c := range commands {
		if c.summary != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	t := &table{indent: "  "}
	for _, name := range names {
		first, _, _ := strings.Cut(commands[name].summary, "\n")
		t.row(name, first)
	}
	t.write(w)
	fmt.Fprint(w, "\nRun 'plugsock <command> --help' for a command's flags.\n"+
		"Start with 'plugsock demo'.\n")
}

// flags returns an empty FlagSet for c. Add flags to it and call c.parse.
func (c command) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("plugsock "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse prints help and errors itself
	return fs
}

// help prints c's usage, summary and flags.
func (c command) help(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: plugsock %s %s\n\n%s\n", c.name, c.usage, c.summary)
	if hasFlags(fs) {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses args, allowing flags after positional arguments
// ("plugsock call calc Add '{}' --json"). A flag is "-" or "--" and a
// letter; anything else is a positional argument, so that a negative
// number ("plugsock call calc Neg -5") and "-" (stdin) are payloads.
// "--" ends the flags: what follows is positional however it looks. It
// returns the positional arguments, or, when parsing should stop the
// command, the exit status: 0 after --help (printed on stdout), 2 after a
// usage error (reported on stderr).
func (c command) parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	var flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case isFlag(a):
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			// A flag that takes a value may have it in the next argument.
			if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.help(fs, stdout)
			return nil, exitOK, false
		}
		return nil, c.usageError(stderr, "%v", err), false
	}
	return pos, 0, true
}

// isFlag reports whether a looks like a flag: one or two dashes, then a
// letter. No flag name starts with anything else, and no JSON payload
// starts with a dash unless it is a negative number.
func isFlag(a string) bool {
	name := strings.TrimPrefix(a, "-")
	name = strings.TrimPrefix(name, "-")
	r, _ := utf8.DecodeRuneInString(name)
	return len(name) < len(a) && unicode.IsLetter(r)
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// usageError reports a misuse of c on one line, escaped (see text), and
// returns exitUsage.
func (c command) usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "plugsock %s: %s\nUsage: plugsock %s %s\nRun 'plugsock %s --help' for more.\n",
		c.name, oneLine(fmt.Sprintf(format, args...)), c.name, c.usage, c.name)
	return exitUsage
}

// fail reports that c failed on one line, escaped (see text), and returns
// exitFail.
func (c command) fail(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "plugsock %s: %s\n", c.name, oneLine(fmt.Sprintf(format, args...)))
	return exitFail
}
