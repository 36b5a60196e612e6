package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { removeBuilt() }))
}

// quiet keeps expected warnings out of test output.
var quiet = slog.New(slog.DiscardHandler)

// runCLI runs the command line args in-process and returns the exit status
// and what was printed.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := runCLI(t, args...)
		assert.Equal(t, exitOK, code, args)
		assert.Empty(t, errOut)
		for _, name := range []string{"demo", "serve", "list", "describe", "call", "broadcast", "unplug"} {
			assert.Contains(t, out, "\n  "+name+" ", "help lists %s", name)
		}
		assert.NotContains(t, out, "  plugin ", "the demo's helper command is not listed")
	}
}

func TestNoArguments(t *testing.T) {
	code, out, errOut := runCLI(t)
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "plugsock <command>")
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCLI(t, "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, "plugsock: unknown command \"frobnicate\"; run 'plugsock help'\n", errOut)

	code, _, errOut = runCLI(t, "help", "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "unknown command \"frobnicate\"")
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name, c := range commands {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
				code, out, errOut := runCLI(t, args...)
				assert.Equal(t, exitOK, code, args)
				assert.Empty(t, errOut, args)
				assert.True(t, strings.HasPrefix(out, "Usage: plugsock "+name+" "+c.usage+"\n"), "%v printed %q", args, out)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"list", "extra"}, "too many arguments"},
		{[]string{"describe"}, "too few arguments"},
		{[]string{"call", "calc"}, "too few arguments"},
		{[]string{"call", "calc", "Add", "{}", "more"}, "too many arguments"},
		{[]string{"call", "calc", "Add", "{oops"}, "payload is not valid JSON: {oops"},
		{[]string{"broadcast"}, "too few arguments"},
		{[]string{"unplug", "a", "b"}, "too many arguments"},
		{[]string{"call", "calc", "Add", "--timeout", "0s"}, "--timeout must be positive, such as 500ms or 5s, not 0s"},
		{[]string{"serve", "--log-format", "xml"}, "--log-format must be text or json"},
		{[]string{"serve", "--log-level", "loud"}, "--log-level must be debug, info, warn or error"},
		{[]string{"serve", "now"}, "unexpected argument \"now\""},
		{[]string{"demo", "--timeout", "soon"}, "invalid value \"soon\" for flag -timeout"},
		{[]string{"plugin", "nosuch"}, "name one plugin of: calc, kv"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		assert.Equal(t, exitUsage, code, tc.args)
		assert.Empty(t, out, tc.args)
		assert.Contains(t, errOut, tc.want, tc.args)
		assert.Contains(t, errOut, "Run 'plugsock "+tc.args[0]+" --help' for more.", tc.args)
	}
}

func TestParseFlagsAnywhere(t *testing.T) {
	c := command{name: "x", usage: "[flags] A B"}
	fs := c.flags()
	j := fs.Bool("json", false, "")
	addr := fs.String("admin", "", "")
	pos, _, ok := c.parse(fs, []string{"a", "--json", "b", "--admin", "h:1", "--", "--c"}, &strings.Builder{}, &strings.Builder{})
	assert.True(t, ok)
	assert.Equal(t, []string{"a", "b", "--c"}, pos)
	assert.True(t, *j)
	assert.Equal(t, "h:1", *addr)

	pos, _, ok = c.parse(fs, []string{"-", "--admin=x:2"}, &strings.Builder{}, &strings.Builder{})
	assert.True(t, ok)
	assert.Equal(t, []string{"-"}, pos, `"-" is an argument (stdin), not a flag`)
	assert.Equal(t, "x:2", *addr)
}
