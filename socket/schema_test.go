package socket_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

// schemaPlugin is a plugin written by hand that describes its functions
// with the given "functions" JSON and answers each call to a method with
// answers[method], recording the methods it was called with.
type schemaPlugin struct {
	c      *rawConn
	called chan string
}

// startSchemaPlugin handshakes as name with functions and serves until
// the connection ends.
func startSchemaPlugin(t *testing.T, addr, name, functions string, answers map[string]string) *schemaPlugin {
	t.Helper()
	c := rawDial(t, addr)
	require.NoError(t, c.writeFrame(handshakeFrame(`"name":"`+name+`"`, `"functions":`+functions)))
	hs := c.mustRead(t)
	require.Nil(t, hs.Error, "handshake refused")
	p := &schemaPlugin{c: c, called: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := c.read()
			if err != nil {
				return
			}
			if m.Method == "" || m.ID == nil {
				continue
			}
			answer := json.RawMessage("null")
			switch {
			case strings.HasPrefix(m.Method, "$/"):
			case answers[m.Method] != "":
				p.called <- m.Method
				answer = json.RawMessage(answers[m.Method])
			default:
				p.called <- m.Method
				if m.Params != nil {
					answer = m.Params // an echo
				}
			}
			if c.send(rawMsg{ID: m.ID, Result: answer}) != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.nc.Close()
		<-done
	})
	return p
}

// A function's inputSchema, when it has one, is what a payload is
// checked against; its Entity otherwise.
func TestValidationUsesTheInputSchema(t *testing.T) {
	s, addr, _ := rawSocket(t, socket.Config{Validation: true})
	p := startSchemaPlugin(t, addr, "sch", `{
		"Both": {"input": {"type": "int"}, "inputSchema": {"type": "integer", "minimum": 10}},
		"Entity": {"input": {"type": "int"}},
		"Schema": {"inputSchema": {"type": ["object", "null"], "properties": {"when": {"type": "string", "format": "date-time"}}}}
	}`, nil)

	for _, tc := range []struct {
		method  string
		payload any
		want    string
	}{
		{"Both", 5, "at least 10"},
		{"Entity", "five", `expected int, got string`},
		{"Schema", map[string]any{"when": "yesterday"}, "/when"},
		{"Schema", json.RawMessage(`{"when": 7}`), "/when"},
		{"Schema", "not an object", "object"},
	} {
		_, err := s.Call("", "sch", tc.method, tc.payload)
		require.Error(t, err, "%s %v", tc.method, tc.payload)
		assert.ErrorIs(t, err, envelope.ErrInvalidParams)
		assert.ErrorIs(t, err, typedesc.ErrInvalid)
		assert.ErrorContains(t, err, "plugsock: call sch."+tc.method+": invalid params: ")
		assert.ErrorContains(t, err, tc.want)
	}
	assert.Empty(t, p.called, "a refused payload reached the plugin")

	for _, tc := range []struct {
		method  string
		payload any
	}{
		{"Both", 12},
		{"Entity", 5},
		{"Schema", map[string]any{"when": "2026-12-01T10:00:00Z"}},
		{"Schema", nil},
	} {
		got, err := s.Call("", "sch", tc.method, tc.payload)
		require.NoError(t, err, "%s %v", tc.method, tc.payload)
		assert.EqualValues(t, mustRoundTrip(t, tc.payload), got)
		assert.Equal(t, tc.method, rawRecv(t, p.called, "the call"))
	}
}

// mustRoundTrip is v as Call returns it back from an echo.
func mustRoundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// With ValidateOutput, a result outside its outputSchema is logged,
// counted and returned; without it nothing is checked.
func TestValidateOutput(t *testing.T) {
	const functions = `{
		"Good": {"outputSchema": {"type": "integer"}},
		"Bad": {"outputSchema": {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}},
		"Loose": {"output": {"type": "int"}}
	}`
	answers := map[string]string{"Good": `7`, "Bad": `{"at": "noon"}`, "Loose": `"seven"`}

	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			logs := new(logBuffer)
			s, addr, _ := rawSocket(t, socket.Config{Logger: logs.logger(), ValidateOutput: on})
			startSchemaPlugin(t, addr, "out", functions, answers)

			var n int
			require.NoError(t, s.CallContext(context.Background(), "out", "Good", nil, &n))
			assert.Equal(t, 7, n)
			var bad struct{ At string }
			ctx := envelope.WithTrace(context.Background(), "trace-bad")
			require.NoError(t, s.CallContext(ctx, "out", "Bad", nil, &bad), "the answer is returned all the same")
			assert.Equal(t, "noon", bad.At)
			got, err := s.Call("", "out", "Loose", nil)
			require.NoError(t, err, "an Entity is not checked against")
			assert.Equal(t, "seven", got)
			require.NoError(t, s.CallContext(ctx, "out", "Bad", nil, nil), "nor is a result nobody decodes refused")

			warned := logs.lines("level=WARN", "outputSchema", "plugin=out", "method=Bad", "trace=trace-bad", "/at")
			if !on {
				assert.Empty(t, warned)
				assert.Zero(t, s.Stats().OutputInvalid)
				return
			}
			assert.Len(t, warned, 2, logs.String())
			assert.EqualValues(t, 2, s.Stats().OutputInvalid)
			assert.Empty(t, logs.lines("method=Good"), "a result that fits is not logged")

			// A result that does not decode into the caller's value still
			// fails as it would have.
			var wrong int
			err = s.CallContext(context.Background(), "out", "Bad", nil, &wrong)
			assert.ErrorContains(t, err, "decoding result: ")
			assert.EqualValues(t, 3, s.Stats().OutputInvalid)
		})
	}
}

// The schemas a plugin sends are kept, compacted, and handed out as
// sent; the handshake refuses those it cannot compile or that are beyond
// the limits, naming the function.
func TestHandshakeSchemas(t *testing.T) {
	s, addr, _ := rawSocket(t)
	startSchemaPlugin(t, addr, "kept", `{
		"F": {"inputSchema": {
			"type" : "object",
			"properties" : {"a b": {"type": "string", "pattern": "^ x $"}}
		}, "outputSchema": null},
		"G": {"inputSchema": {"type":"object","properties":{"a b":{"type":"string","pattern":"^ x $"}}}, "outputSchema": true}
	}`, nil)
	info := s.PluginInfo("kept")
	require.NotNil(t, info)
	const compacted = `{"type":"object","properties":{"a b":{"type":"string","pattern":"^ x $"}}}`
	assert.Equal(t, compacted, string(info.Functions["F"].InputSchema))
	assert.Nil(t, info.Functions["F"].OutputSchema, "null is no schema")
	assert.Equal(t, compacted, string(info.Functions["G"].InputSchema))
	assert.Equal(t, "true", string(info.Functions["G"].OutputSchema))

	deep := strings.Repeat(`{"items":`, 128) + `{}` + strings.Repeat(`}`, 128)
	for _, tc := range []struct {
		name, functions, want string
	}{
		{"not a schema", `{"F":{"inputSchema":{"type":7}}}`, `malformed handshake: function "F" inputSchema: invalid JSON Schema`},
		{"a number", `{"F":{"outputSchema":5}}`, `malformed handshake: function "F" outputSchema: invalid JSON Schema`},
		{"a bad pattern", `{"A":{},"F":{"inputSchema":{"pattern":"("}}}`, `malformed handshake: function "F" inputSchema: invalid JSON Schema`},
		{"refers outside", `{"F":{"inputSchema":{"$ref":"https://schemas.example/x.json"}}}`, `malformed handshake: function "F" inputSchema: invalid JSON Schema`},
		{"the first in order", `{"Z":{"inputSchema":{"type":7}},"B":{"inputSchema":{"type":7}}}`, `function "B" inputSchema`},
		{"too many objects", `{"F":{"inputSchema":{"anyOf":[` + strings.Repeat(`{},`, 4096) + `{}]}}}`,
			`malformed handshake: function "F" inputSchema: 4098 JSON objects; at most 4096 allowed in one schema`},
		{"too deep", `{"F":{"outputSchema":` + deep + `}}`, `malformed handshake: function "F" outputSchema: nests 129 levels deep; at most 128 allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := refusedWith(t, addr, handshakeFrame(`"name":"refused"`, `"functions":`+tc.functions), envelope.CodeInvalidParams)
			assert.Contains(t, e.Message, tc.want)
		})
	}
	assert.NotNil(t, s.PluginInfo("kept"), "the plugin that described itself well is still served")
}

// A description's schemas together are bounded by the frame limit.
func TestHandshakeBoundsAllSchemas(t *testing.T) {
	_, addr, _ := rawSocket(t, socket.Config{MaxFrameSize: 256 << 10})
	var many, long strings.Builder
	many.WriteByte('{')
	for i := range 65 {
		if i > 0 {
			many.WriteByte(',')
		}
		// 5 objects each, 325 in all: the floor of 256 applies.
		fmt.Fprintf(&many, `"F%d":{"inputSchema":{"properties":{"a":{},"b":{}},"not":{"const":%d}}}`, i, i)
	}
	many.WriteByte('}')
	e := refusedWith(t, addr, handshakeFrame(`"name":"many"`, `"functions":`+many.String()), envelope.CodeInvalidParams)
	assert.Equal(t, "malformed handshake: functions: their schemas hold 325 JSON objects; at most 256 allowed with a 262144-byte frame limit", e.Message)

	long.WriteByte('{')
	for i := range 9 {
		if i > 0 {
			long.WriteByte(',')
		}
		// Each different: a schema sent twice is kept, and counted, once.
		fmt.Fprintf(&long, `"F%d":{"inputSchema":{"description":"%d%s"}}`, i, i, strings.Repeat("x", 8<<10))
	}
	long.WriteByte('}')
	e = refusedWith(t, addr, handshakeFrame(`"name":"long"`, `"functions":`+long.String()), envelope.CodeInvalidParams)
	assert.Regexp(t, `^malformed handshake: functions: their schemas are \d+ bytes long; at most 65536 allowed with a 262144-byte frame limit$`, e.Message)
}

// TestPythonPluginWithSchemas runs a Python plugin that describes its
// functions with JSON Schema alone (testdata/pyschema/plugin.py): with
// Validation on, a payload outside a schema is refused before it reaches
// the plugin, with an error naming the JSON pointer of what is wrong, and
// one that fits reaches it; with ValidateOutput, its answer outside its
// own outputSchema is counted and passed on.
func TestPythonPluginWithSchemas(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	logs := new(logBuffer)
	s := new(socket.Socket)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(ln, socket.Config{Logger: logs.logger(), Validation: true, ValidateOutput: true})
	t.Cleanup(func() { _ = s.Shutdown("") })
	name, err := s.Launch(context.Background(), exec.Command(py, "testdata/pyschema/plugin.py"))
	require.NoError(t, err, logs.String())
	require.Equal(t, "pyschema", name)

	info := s.PluginInfo("pyschema")
	require.NotNil(t, info)
	book := info.Functions["Book"]
	assert.Nil(t, book.Input, "no Entity was sent")
	assert.NotContains(t, string(book.InputSchema), "\n", "kept compacted")
	assert.Contains(t, string(book.InputSchema), `"format":"date-time"`)

	good := map[string]any{"title": "Go", "when": "2026-12-01T10:00:00Z", "seats": 2, "kind": "talk"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		method  string
		payload any
		want    string
	}{
		{"Book", with("when", "yesterday"), "/when"},
		{"Book", with("when", "2026-12-01 10:00"), "/when"},
		{"Book", with("seats", 11), "/seats"},
		{"Book", with("seats", 2.5), "/seats"},
		{"Book", with("kind", "party"), "/kind"},
		{"Book", with("title", ""), "/title"},
		{"Book", with("title", nil), "title"},
		{"Book", nil, "object"},
		{"Count", []any{"a", 1}, "/1"},
	} {
		_, err := s.Call("", "pyschema", tc.method, tc.payload)
		require.Error(t, err, "%v", tc.payload)
		assert.ErrorIs(t, err, envelope.ErrInvalidParams)
		assert.ErrorIs(t, err, typedesc.ErrInvalid)
		assert.ErrorContains(t, err, tc.want, "%v", tc.payload)
	}
	seen, err := s.Call("", "pyschema", "Seen", nil)
	require.NoError(t, err)
	assert.Empty(t, seen, "a refused payload reached the plugin")

	var booked struct {
		ID    int    `json:"id"`
		Title string `json:"title"`
	}
	require.NoError(t, s.CallContext(context.Background(), "pyschema", "Book", good, &booked))
	assert.Equal(t, "Go", booked.Title)
	n, err := s.Call("", "pyschema", "Count", []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, float64(2), n)
	assert.Zero(t, s.Stats().OutputInvalid)

	got, err := s.Call("trace-broken", "pyschema", "Broken", nil)
	require.NoError(t, err)
	assert.Equal(t, "seven", got, "an answer outside the outputSchema is returned")
	assert.EqualValues(t, 1, s.Stats().OutputInvalid)
	assert.Len(t, logs.lines("level=WARN", "plugin=pyschema", "method=Broken", "trace=trace-broken"), 1, logs.String())

	seen, err = s.Call("", "pyschema", "Seen", nil)
	require.NoError(t, err)
	assert.Equal(t, []any{"Book", "Count", "Broken"}, seen)
}

// A schema that would make checking a value take exponential time is
// refused, or, where that depends on the value, the value is, at once.
func TestSchemasOfExponentialCost(t *testing.T) {
	var diamonds strings.Builder
	diamonds.WriteString(`{"$ref":"#/$defs/d0","$defs":{`)
	for i := range 60 {
		fmt.Fprintf(&diamonds, `"d%d":{"allOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]},`, i, i+1, i+1)
	}
	diamonds.WriteString(`"d60":{}}}`)
	logs := new(logBuffer)
	s, addr, _ := rawSocket(t, socket.Config{Logger: logs.logger(), Validation: true, ValidateOutput: true})
	e := refusedWith(t, addr, handshakeFrame(`"name":"diamonds"`, `"functions":{"F":{"inputSchema":`+diamonds.String()+`}}`), envelope.CodeInvalidParams)
	assert.Contains(t, e.Message, `malformed handshake: function "F" inputSchema: invalid JSON Schema: it applies more than 1024 of its subschemas to one value`)

	const twice = `{"$ref":"#/$defs/T","$defs":{"T":{"type":"object","properties":{"a":{"allOf":[{"$ref":"#/$defs/T"},{"$ref":"#/$defs/T"}]}}}}}`
	nested := func(depth int) json.RawMessage {
		return json.RawMessage(strings.Repeat(`{"a":`, depth) + `{}` + strings.Repeat(`}`, depth))
	}
	p := startSchemaPlugin(t, addr, "twice", `{"In":{"inputSchema":`+twice+`},"Out":{"outputSchema":`+twice+`}}`,
		map[string]string{"Out": string(nested(80))})

	got, err := s.Call("", "twice", "In", nested(6))
	require.NoError(t, err)
	assert.NotNil(t, got)
	assert.Equal(t, "In", rawRecv(t, p.called, "the call"))

	start := time.Now()
	_, err = s.Call("", "twice", "In", nested(80))
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.ErrorContains(t, err, "too costly to check")
	var out json.RawMessage
	require.NoError(t, s.CallContext(context.Background(), "twice", "Out", nil, &out), "an answer too costly to check is returned")
	assert.JSONEq(t, string(nested(80)), string(out))
	assert.Less(t, time.Since(start), 5*time.Second, "neither took 2^80 steps")
	assert.EqualValues(t, 1, s.Stats().OutputInvalid)
	assert.Len(t, logs.lines("level=WARN", "method=Out", "too costly to check"), 1)
	assert.Equal(t, "Out", rawRecv(t, p.called, "the call"))
	assert.Empty(t, p.called)
}

// What a plugin's schemas cost the host, compiled, at the limits: as many
// objects as a handshake's schemas may hold, and as many bytes, in
// patterns, which cost the most compiled.
func TestSchemaMemoryIsBounded(t *testing.T) {
	s, addr, gone := rawSocket(t)
	objects := func() string {
		var b strings.Builder
		b.WriteByte('{')
		// 63 functions of 65 objects each, all different: 4,095.
		for f := range 63 {
			if f > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"F%02d":{"inputSchema":{"type":"object","properties":{`, f)
			for i := range 63 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"m%d_%d":{"type":"integer"}`, f, i)
			}
			b.WriteString(`}}}`)
		}
		b.WriteByte('}')
		return b.String()
	}()
	patterns := func() string {
		var b strings.Builder
		b.WriteByte('{')
		// 63 patterns of 4,000 bytes each: just under 256 KiB.
		for f := range 63 {
			if f > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"F%02d":{"inputSchema":{"pattern":"^%02d%s$"}}`, f, f, strings.Repeat("[a-z]", 800))
		}
		b.WriteByte('}')
		return b.String()
	}()
	for _, tc := range []struct{ name, functions string }{{"objects", objects}, {"patterns", patterns}} {
		t.Run(tc.name, func(t *testing.T) {
			before := heapInUse()
			c := rawDial(t, addr)
			frame := handshakeFrame(`"name":"costly"`, `"functions":`+tc.functions)
			require.NoError(t, c.writeFrame(frame))
			m := c.mustRead(t)
			require.Nil(t, m.Error, "%v", m.Error)
			settled(t, c)
			with := heapInUse()
			t.Logf("%s: a %d-byte handshake: %d bytes of heap, %.2f times the %d-byte frame limit",
				tc.name, len(frame), with-before, float64(with-before)/frameLimit, frameLimit)
			assert.LessOrEqual(t, with-before, int64(6*frameLimit))
			require.NoError(t, c.nc.Close())
			rawRecv(t, gone, "the callback for costly")
			require.Eventually(t, func() bool { return s.PluginInfo("costly") == nil }, rawWait, 10*time.Millisecond)
			require.Eventually(t, func() bool { return heapInUse()-before < frameLimit/2 }, 6*rawWait, 10*time.Millisecond,
				"the compiled schemas are freed once the plugin is gone")
		})
	}
}
