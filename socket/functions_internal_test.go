package socket

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/calc/calc"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/typedesc"
)

// viaEncodingJSON is how the host stored a description before
// decodeFunctions: encoding/json, the check, then compact.
func viaEncodingJSON(raw []byte) (map[string]typedesc.Function, error) {
	var fns map[string]typedesc.Function
	if err := json.Unmarshal(raw, &fns); err != nil {
		return nil, fmt.Errorf("functions: %w", err)
	}
	dropNullSchemas(fns)
	if err := checkFunctions(fns); err != nil {
		return nil, err
	}
	return compact(fns, len(raw)), nil
}

// sameAsEncodingJSON checks that the host stores raw as it did with
// encoding/json alone, or refuses it with the same error, and reports
// whether the fast path read it.
func sameAsEncodingJSON(t *testing.T, raw []byte) (fast bool) {
	t.Helper()
	units := 0
	if end, objects, members, ok := skipValue(raw, skipSpace(raw, 0)); ok && skipSpace(raw, end) == len(raw) {
		units = objects + members
	}
	want, wantErr := viaEncodingJSON(raw)
	got, err := decodeCompact(raw, units, farOff)
	if wantErr != nil {
		require.Error(t, err, "encoding/json refused it: %v", wantErr)
		assert.Equal(t, wantErr.Error(), err.Error())
	} else {
		require.NoError(t, err)
		assert.True(t, reflect.DeepEqual(want, got), "stored differently:\nwant %s\ngot  %s", mustJSON(t, want), mustJSON(t, got))
		assert.Equal(t, mustJSON(t, want), mustJSON(t, got))
	}
	_, fast = decodeFunctions(raw, units)
	return fast
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// The fast path stores what encoding/json did, and leaves to it all it
// does not read the same way.
func TestDecodeFunctionsMatchesEncodingJSON(t *testing.T) {
	deepFields := strings.Repeat(`{"name":"f","type":"struct","fields":[`, 4000) + `{"name":"x","type":"int"}` + strings.Repeat("]}", 4000)
	atLimit := strings.Repeat(`{"name":"f","fields":[`, typedesc.MaxDepth) + `{"name":"x","type":"int"}` + strings.Repeat("]}", typedesc.MaxDepth)
	overLimit := strings.Repeat(`{"name":"f","fields":[`, typedesc.MaxDepth+1) + `{"name":"x","type":"int"}` + strings.Repeat("]}", typedesc.MaxDepth+1)
	var fieldsOfEmpty, manyFunctions strings.Builder
	fieldsOfEmpty.WriteString(`{"F":{"input":{"type":"struct","fields":[`)
	for i := range 5000 {
		if i > 0 {
			fieldsOfEmpty.WriteByte(',')
			manyFunctions.WriteByte(',')
		}
		fieldsOfEmpty.WriteString(`{}`)
		fmt.Fprintf(&manyFunctions, `"f%05d":{"name":"f%05d","input":{"name":"n%d","type":"int"}}`, i, i%7, i%5000)
	}
	fieldsOfEmpty.WriteString(`]}}}`)
	for _, tc := range []struct {
		name, raw string
		fast      bool
	}{
		{"empty", `{}`, true},
		{"empty function", `{"F":{}}`, true},
		{"plain", `{"Add":{"name":"Add","input":{"name":"Args","type":"struct","fields":[{"name":"a","type":"int","mandatory":true},{"name":"b","type":"int","mandatory":false}]},"output":{"type":"int"}}}`, true},
		{"white space", " {\n\t\"Add\" : { \"input\" : { \"type\" : \"struct\" , \"fields\" : [ { \"name\" : \"a\" } , { } ] } } \r\n} ", true},
		{"empty fields", `{"F":{"input":{"type":"struct","fields":[]}}}`, true},
		{"name unlike the key", `{"F":{"name":"G"},"G":{"name":"F"}}`, true},
		{"shared strings", `{"A":{"input":{"name":"A","type":"A"},"output":{"name":"A","type":"string"}},"B":{"name":"A","input":{"type":"string"}}}`, true},
		{"nested", `{"F":{"input":{"type":"[]struct","fields":[{"name":"a","fields":[{"name":"b","type":"map[string]int"},{"name":"c","fields":[{}]}]},{"name":"d"}]}}}`, true},
		{"unknown members", `{"F":{"doc":{"x":[1,"]}",{"name":"y"}]},"input":{"type":"int","schema":{"type":"object"},"n":-1.5e3,"ok":true,"nil":null}}}`, true},
		{"UTF-8", `{"Größe":{"name":"Größe","input":{"name":"ß","type":"string"}}}`, true},
		{"many functions", `{` + manyFunctions.String() + `}`, true},
		{"many empty fields", fieldsOfEmpty.String(), true},
		{"at the depth limit", `{"F":{"input":` + atLimit + `}}`, true},
		{"over the depth limit", `{"F":{"input":` + overLimit + `}}`, true},
		{"far over the depth limit", `{"Ok":{"input":{"type":"int"}},"Deep":{"output":` + deepFields + `}}`, true},
		{"type too deep", `{"F":{"input":{"type":"` + strings.Repeat("[]", 200) + `int"}}}`, true},
		{"fields too deep", `{"F":{"input":{"type":"[]struct","fields":[{"name":"a","type":"` + strings.Repeat("[]", 63) + `int"}]}}}`, true},

		{"escaped string", `{"F":{"input":{"type":"\u0069nt","name":"a\"\\\/\b\f\n\r\t\u00e9\u20AC"}}}`, true},
		{"escaped key", `{"\u0046":{},"\ud83d\ude00":{"name":"\ud83d\ude00"}}`, true},
		{"escaped member", `{"F":{"\u0069nput":{"typ\u0065":"int"}}}`, true},
		{"escaped member case", `{"F":{"\u0049nput":{"type":"int"}}}`, false},
		{"lone surrogates", `{"F":{"input":{"name":"\ud800","type":"\udc00x\ud800\u0041\ud83d\ud83d\ude00"}}}`, true},
		{"nulls", `{"F":null,"G":{"name":null,"input":null,"output":{"name":null,"type":null,"mandatory":null,"fields":[null,{"fields":null},{}]}}}`, true},
		{"null function", `{"F":null}`, true},
		{"null input", `{"F":{"input":null}}`, true},
		{"null name", `{"F":{"input":{"name":null}}}`, true},
		{"null fields", `{"F":{"input":{"fields":null}}}`, true},
		{"null field", `{"F":{"input":{"fields":[null]}}}`, true},
		{"null mandatory", `{"F":{"input":{"mandatory":null}}}`, true},
		{"escapes shared", `{"A":{"name":"\u0041"},"B":{"name":"A"},"\u0041\u0041":{"name":"AA"}}`, true},
		{"schemas", `{"F":{"name":"F","input":{"type":"int"},"inputSchema":{"type":"integer","minimum":0},"outputSchema":{"type":["string","null"]}}}`, true},
		{"schemas spaced", "{\"F\":{\"inputSchema\" : {\n  \"type\" : \"object\",\n  \"properties\": { \"a b\" : {\"pattern\": \" \\\" \"} }\n} }}", true},
		{"schemas shared", `{"F":{"inputSchema":{"type":"string"},"outputSchema":{"type":"string"}},"G":{"outputSchema":{ "type":"string"}}}`, true},
		{"boolean schemas", `{"F":{"inputSchema":true,"outputSchema":false}}`, true},
		{"a schema that is an array", `{"F":{"outputSchema":[1,"x"]}}`, true},
		{"a schema that is a number", `{"G":{"inputSchema":-1.5e3}}`, true},
		{"null schemas", `{"F":{"inputSchema":null,"outputSchema":null}}`, true},
		{"escaped schema member", `{"F":{"\u0069nputSchema":{"type":"\u0069nteger"}}}`, true},

		// encoding/json decides these.
		{"schema member case", `{"F":{"inputschema":{}}}`, false},
		{"schema twice", `{"F":{"inputSchema":{},"inputSchema":{"type":"string"}}}`, false},

		// encoding/json decides these.
		{"member case", `{"F":{"Input":{"type":"int"}}}`, false},
		{"member case inside", `{"F":{"input":{"TYPE":"int"}}}`, false},
		{"member folds", "{\"F\":{\"input\":{\"field\u017f\":[{}]}}}", false}, // ſ folds to s
		{"Kelvin", "{\"F\":{\"input\":{\"\u212aey\":1,\"type\":\"int\"}}}", false},
		{"member twice", `{"F":{"input":{"type":"int","type":"string"}}}`, false},
		{"fields twice", `{"F":{"input":{"fields":[{},{}],"fields":[{"name":"a"}]}}}`, false},
		{"function twice", `{"F":{"name":"1"},"F":{"name":"2"}}`, false},
		{"wrong type", `{"F":{"input":{"type":7}}}`, false},
		{"wrong mandatory", `{"F":{"input":{"mandatory":"yes"}}}`, false},
		{"wrong fields", `{"F":{"input":{"fields":{}}}}`, false},
		{"wrong field", `{"F":{"input":{"fields":["a"]}}}`, false},
		{"wrong function", `{"F":[]}`, false},
		{"not an object", `[{"name":"F"}]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.fast, sameAsEncodingJSON(t, []byte(tc.raw)), "read by the fast path")
		})
	}
}

// The descriptions the example plugins really send are stored as before,
// and read by the fast path.
func TestDecodeFunctionsOfTheExamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
	}{
		{calc.Name, new(calc.Calc)},
		{kv.Name, new(kv.Store)},
		{"testplugins", testplugins.NewCalc()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := sentFunctions(t, tc.v, &envelope.PluginInfo{Name: tc.name})
			assert.True(t, sameAsEncodingJSON(t, raw), "read by the fast path: %s", raw)
		})
	}
	t.Run("python", func(t *testing.T) {
		py, err := exec.LookPath("python3")
		if err != nil {
			t.Skip("no python3")
		}
		// The description as plugin.py builds it, written by Python's
		// json module: spaces after separators, non-ASCII escaped.
		out, err := exec.Command(py, "-c", `import json, sys; sys.path.insert(0, "../examples/python"); import plugin
print(json.dumps({n: fn.describe(n) for n, fn in plugin.FUNCTIONS.items() if "stream" not in fn.describe(n)}))`).Output()
		require.NoError(t, err)
		raw := bytes.TrimSpace(out)
		require.Contains(t, string(raw), `"WordCount"`)
		assert.True(t, sameAsEncodingJSON(t, raw), "read by the fast path: %s", raw)
	})
}

// sentFunctions returns the "functions" member of the handshake a Go
// plugin serving v sends, as it sends it.
func sentFunctions(t *testing.T, v any, info *envelope.PluginInfo) []byte {
	t.Helper()
	conn, hostEnd := net.Pipe()
	params := make(chan []byte, 1)
	host := envelope.NewConn(hostEnd, envelope.ConnOptions{Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		if m.Method == envelope.MethodHandshake {
			params <- bytes.Clone(m.Params)
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeUnauthorized, "only looking"))
		}
	}})
	host.Start()
	defer host.Close()
	stopped := make(chan error, 1)
	go func() { stopped <- new(plugin.Plugin).Start(v, info, conn, nil) }()
	var p []byte
	select {
	case p = <-params:
	case <-time.After(5 * time.Second):
		t.Fatal("no handshake from the plugin")
	}
	select {
	case err := <-stopped:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin did not stop when refused")
	}
	sc, err := scanHandshake(p)
	require.NoError(t, err)
	require.NotEmpty(t, sc.functions)
	return sc.functions
}

// FuzzDecodeFunctions holds the fast path to encoding/json's: whatever
// valid UTF-8 JSON it is given, both store the same functions or both
// refuse them.
func FuzzDecodeFunctions(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"F":{}}`, `{"F":{"name":"G","input":{"type":"int","mandatory":true},"output":{"fields":[{},{"name":"a"}]}}}`,
		`{"F":{"x":[1,{"y":"}"}],"input":{"Type":"int"}}}`, `{"F":{"input":{"fields":[{"fields":[{"type":"[][]int"}]}]}}}`,
		`{"F":{"input":{"type":"int","type":"string"}},"G":null}`, `{"a":{"input":{"name":"ß","type":"\u0041"}}}`,
		`{"\ud800\udc00":{"name":"\ud800\u0041\uDFFF\n\\\/"}}`,
		`{"F":null,"G":{"name":null,"output":{"type":null,"mandatory":null,"fields":[null,{"fields":null}]}}}`,
		`{"F":{"inputSchema":{"type": "object", "properties":{"a":{}}},"outputSchema":null},"G":{"outputSchema":{"type":"object","properties":{"a":{}}}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) || !utf8.Valid(raw) {
			return
		}
		end, objects, members, ok := skipValue(raw, skipSpace(raw, 0))
		if !ok || skipSpace(raw, end) != len(raw) {
			return
		}
		want, wantErr := viaEncodingJSON(raw)
		got, err := decodeCompact(raw, objects+members, farOff)
		// With two functions refused the error names either; only
		// whether it is refused is compared.
		require.Equal(t, wantErr != nil, err != nil, "encoding/json: %v; fast path: %v", wantErr, err)
		if err == nil {
			require.True(t, reflect.DeepEqual(want, got), "want %s\ngot  %s", mustJSON(t, want), mustJSON(t, got))
		}
	})
}

// Descriptions left to encoding/json are decoded one at a time, and the
// others never wait for them.
func TestOddDescriptionsTakeTurns(t *testing.T) {
	odd := []byte(`{"F":{"Input":{"type":"int"}}}`)
	plain := []byte(`{"F":{"input":{"type":"int"}}}`)
	slowDecodes <- struct{}{} // one is being decoded
	oddDone := make(chan error, 1)
	go func() {
		_, err := decodeCompact(odd, 3, farOff)
		oddDone <- err
	}()
	fns, err := decodeCompact(plain, 3, farOff)
	require.NoError(t, err)
	assert.Equal(t, "int", fns["F"].Input.Type)
	assert.Never(t, func() bool { return len(oddDone) > 0 }, 100*time.Millisecond, 5*time.Millisecond,
		"decoded while another was")
	<-slowDecodes
	select {
	case err := <-oddDone:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("not decoded once its turn came")
	}
	assert.Empty(t, slowDecodes, "the turn is given back")
}

// farOff is a handshake deadline no test reaches.
var farOff = time.Now().Add(time.Hour)

// A description waiting for its turn gives up at the handshake's
// deadline: by then the handshake timer has closed its connection, which
// must not go on holding its frame in the queue.
func TestOddDescriptionsWaitNoLongerThanTheHandshake(t *testing.T) {
	odd := []byte(`{"F":{"Input":{"type":"int"}}}`)
	slowDecodes <- struct{}{} // one is being decoded, for ever
	defer func() { <-slowDecodes }()
	start := time.Now()
	_, err := decodeCompact(odd, 3, start.Add(100*time.Millisecond))
	require.ErrorContains(t, err, "the handshake deadline passed while waiting to decode them")
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	assert.Less(t, time.Since(start), 5*time.Second)
}
