package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// assertTerminalSafe checks that out can act on no terminal: valid UTF-8,
// no control character but \n, no format (bidi, zero-width), separator,
// private-use or unassigned character.
func assertTerminalSafe(t *testing.T, out string, msgAndArgs ...any) {
	t.Helper()
	require.True(t, utf8.ValidString(out), msgAndArgs...)
	for i, r := range out {
		if r == '\n' {
			continue
		}
		if !unicode.IsGraphic(r) {
			assert.Failf(t, "unsafe character in output", "%U at byte %d of %q %v", r, i, out, msgAndArgs)
			return
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"calc 1.0.0", "calc 1.0.0"},
		{"grüße, 東京, emoji 🎉", "grüße, 東京, emoji 🎉"},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\a`},                               // OSC: set the title
		{"\x1b[2J\x1b[1A\rcall succeeded", `\x1b[2J\x1b[1A\rcall succeeded`}, // clear, up, overwrite
		{"ok\b\b\bno", `ok\b\b\bno`},
		{"a\nb\tc\x00\x7f", `a\nb\tc\x00\x7f`},
		{"\u009b31m", `\u009b31m`},                                 // C1 CSI, one character
		{"abc\u202edcba\u202c", `abc\u202edcba\u202c`},             // right-to-left override
		{"\u2066x\u2069\u200f\u061c", `\u2066x\u2069\u200f\u061c`}, // isolates, marks
		{"in\u200bvisible\u00ad\ufeff", `in\u200bvisible\u00ad\ufeff`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"tag\U000E0041", `tag\U000e0041`}, // invisible tag characters
		{"\ue000", `\ue000`},               // private use
		{"bad \xff\xc3 utf8", `bad \xff\xc3 utf8`},
	} {
		got := text(tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
		assertTerminalSafe(t, got)
		assert.Equal(t, got, text(got), "escaping is idempotent, so escaping twice does no harm")
	}
	assert.Equal(t, "{\n\t\"a\": \"\\x1b\"\n}", textLines("{\n\t\"a\": \"\x1b\"\n}"), "layout is kept")
}

func TestSafeJSON(t *testing.T) {
	raw := "{\"a\":\"x\u202ey\x7f\u009b\U000E0041\xff\",\"b\":[1,\"\\u001b\\\"\u202e\"],\"c\":\"été 🎉\"}"
	got := safeJSON([]byte(raw))
	assert.Equal(t, `{"a":"x\u202ey\u007f\u009b\udb40\udc41\ufffd","b":[1,"\u001b\"\u202e"],"c":"été 🎉"}`, string(got))
	assertTerminalSafe(t, string(got))
	var want, have any
	require.NoError(t, json.Unmarshal([]byte(raw), &want))
	require.NoError(t, json.Unmarshal(got, &have))
	assert.Equal(t, want, have, "the same JSON values")
}

func TestEscapingWriter(t *testing.T) {
	var b bytes.Buffer
	w := &escapingWriter{w: &b}
	in := []byte("é\x1b[2J\n\u202e!\n")
	for i := range in { // one byte at a time: every sequence is split
		n, err := w.Write(in[i : i+1])
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	_, _ = w.Write([]byte("\xe2\x80")) // cut short for good
	require.NoError(t, w.Flush())
	assert.Equal(t, "é\\x1b[2J\n\\u202e!\n\\xe2\\x80", b.String())
}

// hostile is a fake admin API whose plugin controls every string it can.
func hostile() *fakeAdmin {
	const (
		name    = "ev\x1b]0;pwned\x07il"
		version = "1.0\x1b]0;owned\x07\x1b[2J\x1b[1A\rcall succeeded\n"
		fn      = "Add\u202e\u2066"
	)
	return &fakeAdmin{
		plugins: map[string]*envelope.PluginInfo{
			name: {Name: name, Version: version, Functions: map[string]typedesc.Function{
				fn: {Name: fn, Input: &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{
					{Name: "a\bb", Type: "int\x1b[8m", Mandatory: true},
				}}},
			}},
		},
		result: json.RawMessage("{\"s\":\"\\u001b[2J\",\"t\":\"\u202eok\",\"u\":\"\u009b1A\x7f\xff\"}"),
		broadcast: map[string]admin.BroadcastResult{
			name:    {Result: json.RawMessage("\"\u202edone\"")},
			"other": {Error: &admin.ErrorBody{Code: -32000, Message: "boom\x1b[31m\r\ncall succeeded"}},
		},
	}
}

// TestPluginTextIsEscaped feeds the commands what a hostile plugin can
// put in front of them through the admin API, and checks the bytes that
// reach the terminal.
func TestPluginTextIsEscaped(t *testing.T) {
	f := hostile()
	useFake(t, f)
	var name string
	for n := range f.plugins {
		name = n
	}

	code, out, errOut := runCLI(t, "list")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, ""+
		"NAME                VERSION\n"+
		`ev\x1b]0;pwned\ail  1.0\x1b]0;owned\a\x1b[2J\x1b[1A\rcall succeeded\n`+"\n", out)

	code, out, errOut = runCLI(t, "describe", name)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, ""+
		`ev\x1b]0;pwned\ail 1.0\x1b]0;owned\a\x1b[2J\x1b[1A\rcall succeeded\n — 1 function`+"\n\n"+
		"FUNCTION         INPUT              OUTPUT\n"+
		`Add\u202e\u2066  {a\bb int\x1b[8m}  -`+"\n\n"+
		shapeLegend, out)

	code, out, errOut = runCLI(t, "describe", name, "Add\u202e\u2066")
	require.Equal(t, exitOK, code, errOut)
	assert.True(t, strings.HasPrefix(out, `ev\x1b]0;pwned\ail 1.0\x1b]0;owned\a\x1b[2J\x1b[1A\rcall succeeded\n: Add\u202e\u2066`+"\n"+
		`  input  {a\bb int\x1b[8m}`+"\n"), out)

	code, out, errOut = runCLI(t, "call", name, "Add\u202e\u2066", "{}")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "{\n  \"s\": \"\\u001b[2J\",\n  \"t\": \"\\u202eok\",\n  \"u\": \"\\u009b1A\\x7f\\xff\"\n}\n", out)

	code, out, errOut = runCLI(t, "call", "--json", name, "Add", "{}")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, `{"s":"\u001b[2J","t":"\u202eok","u":"\u009b1A\u007f\ufffd"}`+"\n", out)
	var got map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, map[string]string{"s": "\x1b[2J", "t": "\u202eok", "u": "\u009b1A\x7f\ufffd"}, got, "--json holds the same values")

	code, out, errOut = runCLI(t, "broadcast", "Add")
	require.Equal(t, exitFail, code)
	assert.Equal(t, ""+
		"PLUGIN              RESULT\n"+
		`ev\x1b]0;pwned\ail  "\u202edone"`+"\n"+
		`other               error: boom\x1b[31m call succeeded (code -32000, method error)`+"\n", out)
	assert.Equal(t, "plugsock broadcast: 1 of 2 plugins failed\n", errOut)

	for _, args := range [][]string{{"list", "--json"}, {"describe", name, "--json"}, {"broadcast", "Add", "--json"}} {
		_, out, _ = runCLI(t, args...)
		assertTerminalSafe(t, out, args)
		var v any
		require.NoError(t, json.Unmarshal([]byte(out), &v), args)
	}
	code, out, _ = runCLI(t, "describe", name, "--json")
	require.Equal(t, exitOK, code)
	var info envelope.PluginInfo
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	assert.Equal(t, f.plugins[name], &info, "--json describes exactly what was sent")

	// A plugin's error message, and anything else the API answers, is on
	// one line and escaped.
	useFake(t, &fakeAdmin{err: &admin.APIError{Status: http.StatusUnprocessableEntity, Code: -32000,
		Message: "no\x1b[1A\x1b[2K\rplugsock call: call succeeded\u202e"}})
	code, out, errOut = runCLI(t, "call", "calc", "Div", "{}")
	assert.Equal(t, exitFail, code)
	assert.Empty(t, out)
	assert.Equal(t, `plugsock call: no\x1b[1A\x1b[2K plugsock call: call succeeded\u202e (code -32000, method error)`+"\n", errOut)
	useFake(t, &fakeAdmin{err: &admin.APIError{Status: http.StatusNotFound, Message: "no plugin named \"\x9b\" \xc2\x9b"}})
	_, _, errOut = runCLI(t, "unplug", "x\x1b")
	assert.Equal(t, `plugsock unplug: no plugin named "\x9b" \u009b`+"\n", errOut)
	useFake(t, &fakeAdmin{})
	_, out, _ = runCLI(t, "unplug", "x\x1b")
	assert.Equal(t, `Unplugged x\x1b.`+"\n", out)
}

// TestCheckEscapesPluginOutput runs check on a "plugin" that writes
// terminal escapes on its stderr, which the report quotes.
func TestCheckEscapesPluginOutput(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	var out, errOut bytes.Buffer
	code := runCheck(t.Context(), []string{"--", "sh", "-c", `printf 'evil\033]0;pwned\007\033[2J\342\200\256\n' >&2; exit 3`}, &out, &errOut)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, out.String(), `stderr: evil\x1b]0;pwned\a\x1b[2J\u202e`+"\n")
	assertTerminalSafe(t, out.String())
}

// TestDemoLogEscaped: what a plugin process writes reaches the demo's
// stderr through tidyHandler, escaped.
func TestDemoLogEscaped(t *testing.T) {
	var b strings.Builder
	log := slog.New(&tidyHandler{w: &b})
	log.Info("plugsock: plugin output", "plugin", "calc", "line", "\x1b]0;pwned\x07\u202eok")
	log.Warn("plugsock: odd\r", "why", "\x1b[2J")
	assert.Equal(t, "plugsock demo: calc: \\x1b]0;pwned\\a\\u202eok\n"+
		"plugsock demo: odd\\r why=\\x1b[2J\n", b.String())
}
