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

func init() {
	register(command{
		name:    "check",
		usage:   "check [-timeout DURATION] [-skip F,G,...] -- COMMAND [ARGS...]",
		summary: "check a plugin executable, in any language, against the wire protocol",
		run:     runCheck,
	})
}

// runCheck runs plugintest.Check against COMMAND and prints its report:
// one line per check, PASS, FAIL or SKIP and why. It exits 0 when every
// check passed (or was skipped), 1 otherwise, 2 on a usage error.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", plugintest.DefaultCheckCallTimeout, "how long to wait for each answer")
	skip := fs.String("skip", "", "comma-separated `functions` not to call (those that wait for something, or must not be called with made-up input)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: plugsock check [-timeout DURATION] [-skip F,G,...] -- COMMAND [ARGS...]

Starts COMMAND with PLUGSOCK_ADDR (and PLUGSOCK_LAUNCH) in its environment,
plays a plugsock host's part over the raw protocol (docs/protocol.md), and
reports one line per check. Exit status 0 when all pass, 1 otherwise.

Every function the plugin declares is called with the simplest payload its
description accepts; leave out the ones that must not be with -skip.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fs.Usage()
		return 2
	}
	opts := []plugintest.CheckOption{plugintest.CallTimeout(*timeout)}
	if *skip != "" {
		opts = append(opts, plugintest.SkipFunctions(strings.Split(*skip, ",")...))
	}
	fmt.Fprintf(stdout, "plugsock check: %s\n", strings.Join(argv, " "))
	report, err := plugintest.Check(ctx, exec.Command(argv[0], argv[1:]...), stdout, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "plugsock check: %v\n", err)
		return 1
	}
	if !report.Passed() {
		return 1
	}
	return 0
}
