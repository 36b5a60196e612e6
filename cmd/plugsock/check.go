package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/plugsock/plugsock/plugintest"
)

const (
	checkUsage   = "[-timeout DURATION] [-skip F,G,...] -- COMMAND [ARGS...]"
	checkSummary = `Check that a plugin executable, in any language, keeps the protocol.

Starts COMMAND with PLUGSOCK_ADDR and PLUGSOCK_LAUNCH in its environment,
plays a host's part over the raw protocol (docs/protocol.md) and prints one
line per check, PASS, FAIL, SKIP or WARN and why, then a summary. The exit
status is 0 when no check failed, 1 otherwise; a WARN (the extra headers
check, which the host never needs) does not count as a failure.

Every function the plugin declares is called with the simplest payload its
description accepts, and every stream function (protocol 2) is opened as a
stream and served as its shape asks: a source read and cancelled, a sink
sent items and closed, a processor both, with its credit, sequence numbers
and acknowledgements checked frame by frame. Leave out the functions that
must not be called, or that wait for something on purpose, with -skip.
docs/lifecycle.md lists the checks.`
)

func init() {
	register(command{name: "check", usage: checkUsage, summary: checkSummary, run: runCheck})
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugsock check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", plugintest.DefaultCheckCallTimeout, "how long to wait for each answer, and for the plugin to close and exit after $/shutdown")
	skip := fs.String("skip", "", "comma-separated `functions` not to call")
	help := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: plugsock check %s\n\n%s\n\nFlags:\n", checkUsage, checkSummary)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			help(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "plugsock check: %v\n", err)
		help(stderr)
		return exitUsage
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "plugsock check: no command to check")
		help(stderr)
		return exitUsage
	}
	opts := []plugintest.CheckOption{plugintest.CheckConfig{CallTimeout: *timeout}}
	if *skip != "" {
		opts = append(opts, plugintest.CheckConfig{SkipFunctions: strings.Split(*skip, ",")})
	}
	// The report quotes what the plugin answered and wrote on its
	// stderr: escape it, as all plugin-controlled text (see text).
	out := &escapingWriter{w: stdout}
	defer out.Flush()
	fmt.Fprintf(out, "plugsock check: %s\n", strings.Join(argv, " "))
	report, err := plugintest.Check(ctx, exec.Command(argv[0], argv[1:]...), out, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "plugsock check: %s\n", oneLine(err.Error()))
		return exitFail
	}
	if !report.Passed() {
		return exitFail
	}
	return exitOK
}
