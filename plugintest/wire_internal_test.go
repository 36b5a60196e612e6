package plugintest

import (
	"encoding/json"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

// feed writes raw bytes from the plugin's side and returns what the wire
// made of them once the plugin hangs up.
func feed(t *testing.T, raw string) *wire {
	t.Helper()
	host, pl := net.Pipe()
	w := newWire(host)
	go w.readLoop()
	go func() {
		_, _ = pl.Write([]byte(raw))
		_ = pl.Close()
	}()
	<-w.closed
	return w
}

func frame(body string) string { return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body) }

func TestWireReportsFramingProblems(t *testing.T) {
	hs := `{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"x"}}`
	n := fmt.Sprint(len(hs))
	for name, tc := range map[string]struct{ raw, want string }{
		"bare LF":          {"Content-Length: " + n + "\n\n" + hs, `ends in a bare LF`},
		"no length":        {"Content-Type: x\r\n\r\n" + hs, "header without Content-Length"},
		"not name: value":  {"Content-Length " + n + "\r\n\r\n" + hs, `is not Name: value`},
		"short body":       {"Content-Length: 99\r\n\r\n" + hs, "body shorter than its Content-Length"},
		"not JSON":         {"Content-Length: 5\r\n\r\nhello", "not a JSON object"},
		"no jsonrpc":       {frame(`{"id":1,"x":true}`), `without "jsonrpc":"2.0"`},
		"result and error": {frame(`{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1}}`), "exactly one of result and error"},
	} {
		t.Run(name, func(t *testing.T) {
			w := feed(t, tc.raw)
			require.NotEmpty(t, w.problems)
			assert.Contains(t, w.problems[0], tc.want)
		})
	}
	w := feed(t, "Content-Length: "+n+"\r\nX-Other: ignored\r\n\r\n"+hs)
	assert.Empty(t, w.problems)
	require.Len(t, w.hs, 1, "the handshake was routed")
	m := <-w.hs
	assert.Equal(t, "$/handshake", m.Method)
	assert.True(t, m.isRequest())
}

func TestDescriptions(t *testing.T) {
	fns, problems := parseFunctions(json.RawMessage(`{
		"Good": {"name": "Good", "input": {"type": "struct", "fields": [
			{"name": "a", "type": "[]map[string]float64", "mandatory": true},
			{"name": "b", "type": "[]struct", "fields": [{"name": "c", "type": "bool"}]}]},
			"output": {"type": "any"}},
		"Misnamed": {"name": "Other"},
		"$/reserved": {},
		"BadType": {"input": {"type": "complex128"}},
		"BadKey": {"input": {"type": "map[bool]int"}},
		"Dup": {"input": {"type": "struct", "fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]}},
		"Fields": {"output": {"type": "string", "fields": [{"name": "x", "type": "int"}]}}
	}`))
	assert.Len(t, fns, 7)
	assert.ElementsMatch(t, []string{
		`$/reserved: names starting with $/ are reserved`,
		`BadKey.input: type "map[bool]int" is not in the protocol's grammar`,
		`BadType.input: type "complex128" is not in the protocol's grammar`,
		`Dup.input: field "a" appears twice`,
		`Fields.output: type "string" cannot have fields`,
		`Misnamed: its name member says "Other"`,
	}, problems)

	_, problems = parseFunctions(nil)
	assert.Equal(t, []string{"the handshake describes no functions"}, problems)

	good := fns["Good"].Input
	assert.Equal(t, map[string]any{"a": []any{}}, sample(good), "mandatory fields only, empty containers")
	assert.JSONEq(t, `"plugsock check: a string where an object belongs"`, string(contradiction(good)))
	for typ, want := range map[string]string{
		"string": `{"plugsock check":"an object where a string belongs"}`,
		"[]int":  `{"plugsock check":"an object where an array belongs"}`,
		"int64":  `"plugsock check: a string where a int64 belongs"`,
	} {
		e := &typedesc.Entity{Type: typ}
		assert.JSONEq(t, want, string(contradiction(e)), typ)
		assert.Error(t, e.Validate(contradiction(e)), "the contradiction of %s contradicts it", typ)
		b, err := json.Marshal(sample(e))
		require.NoError(t, err)
		assert.NoError(t, e.Validate(b), "the sample of %s fits it", typ)
	}
	assert.Nil(t, contradiction(&typedesc.Entity{Type: "any"}), "nothing contradicts any")
	assert.Nil(t, contradiction(nil))
}
