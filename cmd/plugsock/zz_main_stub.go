// This file stands in for the plugsock command's main until the real one
// is merged: the command type, register, the exit statuses, and a main
// that dispatches.

package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type command struct {
	name    string
	usage   string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func main() {
	os.Exit(dispatch(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if c, ok := commands[args[0]]; ok {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "usage: plugsock COMMAND [ARGS...]")
	for _, c := range commands {
		fmt.Fprintf(stderr, "  plugsock %s %s\n", c.name, c.usage)
	}
	return exitUsage
}
