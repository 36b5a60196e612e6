package plugintest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/plugsock/plugsock/typedesc"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugintest"
	"github.com/plugsock/plugsock/socket"
)

// protocol2Checks are the checks of what protocol 2 adds.
var protocol2Checks = []string{"meta", "strict", "host services", "progress"}

// assertProtocol checks what the report says of the protocol the plugin
// speaks, whichever it is: the handshake line and the summary name it,
// and the protocol 2 checks are skipped, saying why, in protocol 1.
func assertProtocol(t *testing.T, out string, r plugintest.Report) {
	t.Helper()
	require.Contains(t, []int{envelope.Protocol1, envelope.Protocol2}, r.Protocol)
	res := results(r)
	assert.Contains(t, res["handshake"].Detail, fmt.Sprintf(", protocol %d", r.Protocol))
	assert.Regexp(t, fmt.Sprintf(`\nprotocol %d: \d+ passed, \d+ failed, \d+ skipped`, r.Protocol), out)
	for _, name := range protocol2Checks {
		if r.Protocol == envelope.Protocol1 {
			assert.Equal(t, plugintest.Result{Check: name, Status: plugintest.Skip, Detail: "protocol 2 only; the plugin speaks protocol 1"}, res[name])
		} else {
			assert.NotEqual(t, plugintest.Fail, res[name].Status, "%s: %s", name, res[name].Detail)
		}
	}
}

func python3(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	return py
}

// checkPython2 runs the battery on testdata/python2 with env added to its
// environment.
func checkPython2(t *testing.T, env ...string) (plugintest.Report, string) {
	t.Helper()
	cmd := exec.Command(python3(t), "testdata/python2/plugin.py")
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), cmd, &out, plugintest.CheckConfig{CallTimeout: 2 * time.Second})
	require.NoError(t, err)
	assertLines(t, out.String(), report)
	return report, out.String()
}

func TestCheckPassesAProtocol2Plugin(t *testing.T) {
	report, out := checkPython2(t)
	require.True(t, report.Passed(), "%s", out)
	assert.Equal(t, envelope.Protocol2, report.Protocol)
	assertProtocol(t, out, report)
	assert.Contains(t, out, "\nprotocol 2: 25 passed, 0 failed, 0 skipped\n")

	res := results(report)
	for name, want := range map[string]string{
		"handshake": `name "py2calc", version "0.2.0", protocol 2, 4 functions; launch id sent back`,
		"meta":      `Add with input {"a":0,"b":0} answered alike with _meta, without it and by position: result 0`,
		"strict":    "messages after the handshake, each with JSON-RPC 2.0's members only and params an object or none",
		// HostEcho calls Check.Echo once; the cancel and shutdown checks
		// call the fastest function, which may be HostEcho, again.
		"host services":  " to Check.Echo, well-formed; it called No.Such, which the battery does not offer, and got -32601",
		"progress":       "1 $/progress notification, each for a call in flight",
		"bad params Add": `a string where "struct" belongs (by position) was refused with -32602`,
		"call HostEcho":  `params "": result "" fits its description`,
	} {
		assert.Equal(t, plugintest.Pass, res[name].Status, "%s: %s", name, res[name].Detail)
		assert.Contains(t, res[name].Detail, want, name)
	}
}

// Each way of breaking protocol 2 fails the check that looks for it, and
// only that one, with a line that says what was sent.
func TestCheckFailsABrokenProtocol2Plugin(t *testing.T) {
	for mode, fails := range map[string]map[string]string{
		"meta": {
			"strict": `a top-level meta (protocol 2 carries metadata in params._meta): {"jsonrpc":"2.0","id":1,"result":null,"meta":{"trace":"py2calc"}}`,
		},
		"scalar": {
			"strict":        `the first: $/async params are a string, not an object: {"jsonrpc":"2.0","method":"$/async","params":"ready"}`,
			"host services": `Check.Echo request 2: params are a string, not an object; an input that is not an object goes as {"value": input}: {"jsonrpc":"2.0","id":2,"method":"Check.Echo","params":""}`,
		},
		"leak": {
			"meta": `Add with input {"a":0,"b":0} answered error -32602 "invalid params for Add: unknown member _meta" with _meta, but result 0 without: _meta must not reach the input`,
		},
		"progress": {
			"progress": `$/progress progressToken "no-such-token" names no call in flight (the battery's tokens are its calls' ids): {"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":"no-such-token","progress":1,"total":1}}`,
		},
	} {
		t.Run(mode, func(t *testing.T) {
			report, out := checkPython2(t, "PLUGINTEST_BREAK="+mode)
			assert.Equal(t, envelope.Protocol2, report.Protocol)
			res := results(report)
			var failed []string
			for _, f := range report.Failures() {
				failed = append(failed, f.Check)
			}
			assert.ElementsMatch(t, failed, mapKeys(fails), "%s", out)
			for name, why := range fails {
				assert.Contains(t, res[name].Detail, why, name)
				assert.Contains(t, out, "FAIL  "+name)
			}
		})
	}
}

func mapKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// The battery settles the protocol as the host does: the lower of the
// plugin's and its own, 1 when the plugin names none, and a handshake
// refused, naming what is wrong, for a protocol or capabilities it cannot
// read.
func TestCheckNegotiatesTheProtocol(t *testing.T) {
	for _, tc := range []struct {
		env     string
		proto   int
		handOut string // the handshake check's detail, or what it contains
	}{
		{"PLUGINTEST_PROTOCOL=none", 1, `version "0.2.0", protocol 1, 4 functions`},
		{"PLUGINTEST_PROTOCOL=1", 1, `version "0.2.0", protocol 1, 4 functions`},
		{"PLUGINTEST_PROTOCOL=null", 1, `version "0.2.0", protocol 1, 4 functions`},
		{"PLUGINTEST_PROTOCOL=3", 2, `version "0.2.0", protocol 2 (it offered 3), 4 functions`},
		{"PLUGINTEST_PROTOCOL=12345678901234567890", 2, `protocol 2 (it offered 12345678901234567890)`},
		{"PLUGINTEST_CAPABILITIES={\"x\":1}", 2, `version "0.2.0", protocol 2, 4 functions`},
		{"PLUGINTEST_CAPABILITIES=null", 2, `version "0.2.0", protocol 2, 4 functions`},
		{"PLUGINTEST_PROTOCOL=2.5", 0, "protocol: want a positive integer, got 2.5"},
		{"PLUGINTEST_PROTOCOL=2.0", 0, "protocol: want a positive integer, got 2.0"},
		{"PLUGINTEST_PROTOCOL=0", 0, "protocol: want a positive integer, got 0"},
		{"PLUGINTEST_PROTOCOL=-1", 0, "protocol: want a positive integer, got -1"},
		{`PLUGINTEST_PROTOCOL="2"`, 0, `protocol: want a positive integer, got "2"`},
		{"PLUGINTEST_CAPABILITIES=[]", 0, "capabilities: want an object, got []"},
		{`PLUGINTEST_CAPABILITIES="all"`, 0, `capabilities: want an object, got "all"`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			report, out := checkPython2(t, tc.env)
			hs := results(report)["handshake"]
			assert.Equal(t, tc.proto, report.Protocol)
			if tc.proto == 0 {
				assert.Equal(t, plugintest.Result{Check: "handshake", Status: plugintest.Fail, Detail: tc.handOut}, hs)
				assert.Nil(t, report.Plugin)
				assert.NotContains(t, out, "\nprotocol ", "no protocol was settled")
				return
			}
			assert.True(t, report.Passed(), "%s", out)
			assert.Contains(t, hs.Detail, tc.handOut)
			assertProtocol(t, out, report)
		})
	}
}

// The Go plugins speak the protocol package plugin speaks; whichever it
// is, the report says so and its checks agree.
func TestCheckSaysWhichProtocolTheStrictPluginSpeaks(t *testing.T) {
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), exec.Command(bin(t, "strict")), &out, plugintest.CheckConfig{CallTimeout: time.Second})
	require.NoError(t, err)
	assertStrictPasses(t, report, out.String())
	assertProtocol(t, out.String(), report)
	if report.Protocol == envelope.Protocol2 {
		res := results(report)
		assert.Equal(t, plugintest.Pass, res["meta"].Status, "%s", res["meta"].Detail)
		assert.Equal(t, plugintest.Pass, res["strict"].Status, "%s", res["strict"].Detail)
		assert.Equal(t, plugintest.Result{Check: "host services", Status: plugintest.Skip, Detail: "the plugin called no host service"}, res["host services"])
		assert.Equal(t, plugintest.Result{Check: "progress", Status: plugintest.Skip, Detail: "the plugin sent no $/progress (it need not)"}, res["progress"])
	}
}

// Check is the battery's host service, as a host registers it.
type Check struct{}

// Echo answers its input.
func (Check) Echo(_ context.Context, in any) (any, error) { return in, nil }

// hostFrames records the frames testdata/python2 reads from a real
// Socket, offered protocol offer: the host calls each of its functions as
// the battery does (with a progress token, so asking for progress), and
// pings it.
func hostFrames(t *testing.T, offer string) []recorded {
	t.Helper()
	dir := t.TempDir()
	s := new(socket.Socket)
	require.NoError(t, s.Register(Check{}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet(), HeartbeatInterval: 20 * time.Millisecond, HeartbeatMisses: 250})
	defer func() { _ = s.Shutdown("") }()
	cmd := exec.Command(python3(t), "testdata/python2/plugin.py")
	cmd.Env = append(os.Environ(), "PLUGINTEST_RECORD="+dir, "PLUGINTEST_PROTOCOL="+offer)
	name, err := s.Launch(t.Context(), cmd)
	require.NoError(t, err)
	ctx := envelope.WithTrace(t.Context(), "host-trace")
	ctx = socket.WithProgress(ctx, func(float64, float64, string) {})
	var sum, n int
	var echo string
	require.NoError(t, s.CallContext(ctx, name, "Add", map[string]int{"a": 0, "b": 0}, &sum))
	require.NoError(t, s.CallContext(ctx, name, "Echo", "", &echo))
	require.NoError(t, s.CallContext(ctx, name, "Count", 0, &n))
	if offer != "none" {
		require.NoError(t, s.CallContext(ctx, name, "HostEcho", "", &echo))
	}
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "frames-*"))
		for _, f := range files {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(`"method":"$/ping"`)) {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the plugin to read a host ping")
	s.Unplug("host-unplug", name)
	require.NoError(t, s.Shutdown(""))
	return readRecords(t, dir)
}

// In either protocol the battery sends what the host sends: every kind of
// frame the host sent the Python plugin is among the battery's, once ids,
// trace ids, deadlines and the session are set aside. In protocol 1 that
// is what it always sent; in protocol 2 no frame has a top-level meta.
func TestCheckSendsTheFramesTheHostSendsInEitherProtocol(t *testing.T) {
	for _, tc := range []struct {
		offer string
		want  []string
	}{
		{"none", []string{
			`{"jsonrpc":"2.0","id":0,"result":{"name":"py2calc","session":"S"}}`,
			`{"jsonrpc":"2.0","id":0,"method":"$/ping"}`,
			`{"jsonrpc":"2.0","id":0,"method":"Add","params":{"a":0,"b":0},"meta":{"trace":"T"}}`,
			`{"jsonrpc":"2.0","id":0,"method":"Echo","params":"","meta":{"trace":"T"}}`,
			`{"jsonrpc":"2.0","id":0,"method":"Count","params":0,"meta":{"trace":"T"}}`,
			`{"jsonrpc":"2.0","id":0,"method":"$/shutdown","meta":{"trace":"T"}}`,
		}},
		{"2", []string{
			`{"jsonrpc":"2.0","id":0,"result":{"name":"py2calc","session":"S","protocol":2,"services":{"Check.Echo":{"name":"Check.Echo","input":{"type":"any"},"output":{"type":"any"},"inputSchema":` + anySchema(t, typedesc.InputSchema) + `,"outputSchema":` + anySchema(t, typedesc.OutputSchema) + `}}}}`,
			`{"jsonrpc":"2.0","id":0,"method":"$/ping"}`,
			`{"jsonrpc":"2.0","id":0,"method":"Add","params":{"a":0,"b":0,"_meta":{"trace":"T","deadline":"2026-12-01T21:50:00.123Z","progressToken":0}}}`,
			`{"jsonrpc":"2.0","id":0,"method":"Echo","params":{"value":"","_meta":{"trace":"T","deadline":"2026-12-01T21:50:00.123Z","progressToken":0}}}`,
			`{"jsonrpc":"2.0","id":0,"method":"Count","params":{"value":0,"_meta":{"trace":"T","deadline":"2026-12-01T21:50:00.123Z","progressToken":0}}}`,
			`{"jsonrpc":"2.0","id":0,"result":""}`,
			`{"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"method not found: No.Such"}}`,
			`{"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"method not found: $/nosuch"}}`,
			`{"jsonrpc":"2.0","id":0,"method":"$/shutdown"}`,
		}},
	} {
		t.Run("protocol="+tc.offer, func(t *testing.T) {
			host := hostFrames(t, tc.offer)

			dir := t.TempDir()
			report, out := checkPython2(t, "PLUGINTEST_RECORD="+dir, "PLUGINTEST_PROTOCOL="+tc.offer)
			require.True(t, report.Passed(), "%s", out)
			sent := make(map[string]bool)
			for _, f := range readRecords(t, dir) {
				if strings.Contains(f.header, "Content-Type") {
					continue // the extra headers check's probes
				}
				assert.Equal(t, fmt.Sprintf("Content-Length: %d\r\n\r\n", len(f.body)), f.header, "the battery's header for %s", f.body)
				sent[shape(f.body)] = true
				if tc.offer != "none" {
					var members map[string]json.RawMessage
					require.NoError(t, json.Unmarshal([]byte(f.body), &members))
					assert.NotContains(t, members, "meta", "protocol 2 has no top-level meta: %s", f.body)
				}
			}
			kinds := make(map[string]bool)
			for _, f := range host {
				kinds[shape(f.body)] = true
				assert.True(t, sent[shape(f.body)], "the host sent\n\t%s\nand the battery nothing of that shape", f.body)
			}
			for _, want := range tc.want {
				assert.True(t, kinds[shape(want)], "the host sent no %s", want)
				assert.True(t, sent[shape(want)], "the battery sent no %s", want)
			}
		})
	}
}

// anySchema is schema's JSON Schema of a Go any, as a Go host describes
// its services with it.
func anySchema(t *testing.T, schema func(reflect.Type) (json.RawMessage, error)) string {
	t.Helper()
	raw, err := schema(reflect.TypeFor[any]())
	require.NoError(t, err)
	return string(raw)
}
