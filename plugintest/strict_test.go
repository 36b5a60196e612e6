package plugintest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/plugsock/plugsock/typedesc"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugintest"
	"github.com/plugsock/plugsock/socket"
)

// conformance are the battery's checks proper, which a plugin that works
// against the host must pass.
var conformance = []string{"handshake", "functions", "ping", "unknown method", "call Add", "call Div",
	"cancel", "shutdown answers", "shutdown in flight", "shutdown refuses calls", "shutdown closes", "exit", "framing"}

// assertStrictPasses checks the report on a plugin whose reader takes the
// length from the first header line only: every conformance check
// passes, and the extra headers check warns, naming the frame it choked on.
func assertStrictPasses(t *testing.T, report plugintest.Report, out string) {
	t.Helper()
	assert.True(t, report.Passed(), "%s", out)
	assert.Empty(t, report.Failures())
	res := results(report)
	for _, name := range conformance {
		assert.Equal(t, plugintest.Pass, res[name].Status, "%s: %s", name, res[name].Detail)
	}
	eh := res["extra headers"]
	assert.Equal(t, plugintest.Warn, eh.Status, "%s", eh.Detail)
	assert.Contains(t, eh.Detail, "a ping with a Content-Type header line before Content-Length got no answer")
	assert.Contains(t, eh.Detail, "no conformance failure")
	assert.Contains(t, out, "WARN  extra headers")
	assert.Contains(t, out, " 0 failed, ")
	assert.Contains(t, out, ", 1 warning\n")
	assertLines(t, out, report)
}

// The battery used to send its ping with Content-Type before
// Content-Length: a reader that looks for the length on the first line
// only (python3-pylsp-jsonrpc's) then reads to the end of the stream, and
// every check after it failed, though the plugin works against the host.
func TestCheckPassesAPluginThatReadsOnlyTheFirstHeaderLine(t *testing.T) {
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), exec.Command(bin(t, "strict")), &out, plugintest.CheckConfig{CallTimeout: time.Second})
	require.NoError(t, err)
	assertStrictPasses(t, report, out.String())
}

// pylspPython returns a python3 that has Debian's python3-pylsp-jsonrpc,
// or skips the test.
func pylspPython(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"} // where Debian's package installs
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import pylsp_jsonrpc.endpoint, pylsp_jsonrpc.streams").Run() == nil {
			return py
		}
	}
	t.Skip("python3-pylsp-jsonrpc is not installed: apt-get install python3-pylsp-jsonrpc (it installs for /usr/bin/python3)")
	return ""
}

func TestCheckPassesAPylspJsonrpcPlugin(t *testing.T) {
	py := pylspPython(t)
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), exec.Command(py, "testdata/pylsp/plugin.py"), &out, plugintest.CheckConfig{CallTimeout: time.Second})
	require.NoError(t, err)
	assertStrictPasses(t, report, out.String())
	assert.Equal(t, "pylsp", report.Plugin.Name)
	res := results(report)
	assert.Contains(t, res["call Div"].Detail, `-32000 (method error) "division by zero"`)
	assert.Contains(t, res["unknown method"].Detail, "-32601")
}

// What the battery is checked against: the plugin serves the real host.
func TestThePylspJsonrpcPluginWorksWithTheHost(t *testing.T) {
	py := pylspPython(t)
	s := new(socket.Socket)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet()})
	defer func() { _ = s.Shutdown("") }()
	name, err := s.Launch(t.Context(), exec.Command(py, "testdata/pylsp/plugin.py"))
	require.NoError(t, err)
	var sum int
	require.NoError(t, s.CallContext(t.Context(), name, "Add", map[string]int{"a": 2, "b": 40}, &sum))
	assert.Equal(t, 42, sum)
	var e *envelope.Error
	require.ErrorAs(t, s.CallContext(t.Context(), name, "Div", map[string]int{"a": 1, "b": 0}, nil), &e)
	assert.Equal(t, "division by zero", e.Message)
}

// recorded is one frame a plugin read: its header as sent, and its body.
type recorded struct{ header, body string }

// readRecords reads the frames the strict plugin recorded, every process's.
func readRecords(t *testing.T, dir string) (frames []recorded) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "frames-*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		br := bufio.NewReader(bytes.NewReader(raw))
		for {
			var header strings.Builder
			length := -1
			line, err := br.ReadString('\n')
			if err == io.EOF && line == "" {
				break
			}
			for ; ; line, err = br.ReadString('\n') {
				require.NoError(t, err, "%s: %q", f, header.String())
				header.WriteString(line)
				if line == "\r\n" {
					break
				}
				if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
					length, err = strconv.Atoi(strings.TrimSpace(v))
					require.NoError(t, err)
				}
			}
			require.GreaterOrEqual(t, length, 0, "%q", header.String())
			body := make([]byte, length)
			_, err = io.ReadFull(br, body)
			require.NoError(t, err)
			frames = append(frames, recorded{header.String(), string(body)})
		}
	}
	return frames
}

// quiet is a logger for sockets whose logs the tests do not read.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

var (
	sessionRE = regexp.MustCompile(`"session":"[^"]*"`)
	traceRE   = regexp.MustCompile(`"trace":"[^"]*"`)
	numberRE  = regexp.MustCompile(`[0-9]+`)
)

// shape is a body with what differs from one connection to the next
// (ids, trace ids, the session, numbers in params) made the same.
func shape(body string) string {
	body = sessionRE.ReplaceAllString(body, `"session":"S"`)
	body = traceRE.ReplaceAllString(body, `"trace":"T"`)
	return numberRE.ReplaceAllString(body, "0")
}

// The battery must send what the host sends, byte for byte: the same
// single header line, the same members in the same order. The strict
// plugin records every frame it reads, once served by a real Socket and
// once checked by the battery; every kind of frame the host sent must be
// among the battery's, exactly, once ids, trace ids and the session are
// set aside.
func TestCheckSendsTheFramesTheHostSends(t *testing.T) {
	strict := bin(t, "strict")
	env := func(dir, heartbeat string) []string {
		return append(os.Environ(), "PLUGINTEST_RECORD="+dir, "PLUGINTEST_HEARTBEAT="+heartbeat)
	}
	// A connection's idle side is pinged by one side only: the host when
	// it pings (it does every 20ms here), else the plugin. So the host's
	// pings are recorded on a host that pings a plugin that does not ask
	// to, and its answers to the plugin's pings on a host that does not
	// ping at all, whose plugin pings every 20ms; its Add waits for the
	// first answer.
	hostDir := t.TempDir()
	serve := func(heartbeat time.Duration, pluginHeartbeat string) (*socket.Socket, string) {
		s := new(socket.Socket)
		// The battery offers its host service, and asks every call for
		// progress; so does this host.
		require.NoError(t, s.Register(Check{}))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s.Serve(l, socket.Config{Logger: quiet(), HeartbeatInterval: heartbeat, HeartbeatMisses: 250})
		cmd := exec.Command(strict)
		cmd.Env = env(hostDir, pluginHeartbeat)
		name, err := s.Launch(t.Context(), cmd)
		require.NoError(t, err)
		return s, name
	}
	read := func(kind string) bool {
		files, _ := filepath.Glob(filepath.Join(hostDir, "frames-*"))
		for _, f := range files {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(kind)) {
				return true
			}
		}
		return false
	}

	s, name := serve(20*time.Millisecond, "")
	ctx := envelope.WithTrace(t.Context(), "host-trace")
	ctx = socket.WithProgress(ctx, func(float64, float64, string) {})
	require.NoError(t, s.CallContext(ctx, name, "Add", map[string]int{"a": 0, "b": 0}, nil))
	// Cancelled rather than timed out: in protocol 2 a deadline reaches
	// the plugin, which may give up first, and then nothing is cancelled.
	short, cancel := context.WithCancel(ctx)
	stop := time.AfterFunc(50*time.Millisecond, cancel)
	assert.ErrorIs(t, s.CallContext(short, name, "Sleep", 10000, nil), context.Canceled)
	stop.Stop()
	cancel()
	require.Eventually(t, func() bool {
		return read(`"method":"$/ping"`) && read(`"method":"$/cancelRequest"`)
	}, 10*time.Second, 10*time.Millisecond, "the plugin to read a host ping and a cancel")
	s.Unplug("host-unplug", name)
	require.NoError(t, s.Shutdown(""))

	s, name = serve(-1, "20ms")
	require.NoError(t, s.CallContext(ctx, name, "Add", map[string]int{"a": 0, "b": 0}, nil))
	require.Eventually(t, func() bool { return read(`"result":null}`) }, 10*time.Second, 10*time.Millisecond,
		"the plugin to read a host answer to its ping")
	s.Unplug("host-unplug", name)
	require.NoError(t, s.Shutdown(""))

	batteryDir := t.TempDir()
	cmd := exec.Command(strict)
	cmd.Env = env(batteryDir, "1ms")
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), cmd, &out, plugintest.CheckConfig{CallTimeout: time.Second})
	require.NoError(t, err)
	require.True(t, report.Passed(), "%s", &out)

	host := readRecords(t, hostDir)
	battery := readRecords(t, batteryDir)
	sent := make(map[string]bool)
	probes := 0
	for _, f := range battery {
		if strings.Contains(f.header, "Content-Type") {
			probes++ // the extra headers check; only the first is readable here
			assert.Equal(t, fmt.Sprintf("Content-Length: %d\r\n%s\r\n\r\n", len(f.body),
				"Content-Type: application/vscode-jsonrpc; charset=utf-8"), f.header)
			continue
		}
		assert.Equal(t, fmt.Sprintf("Content-Length: %d\r\n\r\n", len(f.body)), f.header,
			"the battery's header for %s", f.body)
		sent[shape(f.body)] = true
	}
	assert.Equal(t, 1, probes, "the plugin reads the extra headers check's first ping, and hangs on the second")

	kinds := make(map[string]bool)
	for _, f := range host {
		assert.Equal(t, fmt.Sprintf("Content-Length: %d\r\n\r\n", len(f.body)), f.header,
			"the host's header for %s", f.body)
		kinds[shape(f.body)] = true
		assert.True(t, sent[shape(f.body)], "the host sent\n\t%s\nand the battery nothing of that shape", f.body)
	}
	var anySchemas [2]string
	for i, schema := range []func(reflect.Type) (json.RawMessage, error){typedesc.InputSchema, typedesc.OutputSchema} {
		raw, err := schema(reflect.TypeFor[any]())
		require.NoError(t, err)
		anySchemas[i] = string(raw)
	}
	wants := map[int][]string{
		envelope.Protocol1: {
			`{"jsonrpc":"2.0","id":0,"result":{"name":"strict","session":"S"}}`,
			`{"jsonrpc":"2.0","id":0,"method":"$/ping"}`,
			`{"jsonrpc":"2.0","id":0,"result":null}`,
			`{"jsonrpc":"2.0","id":0,"method":"Add","params":{"a":0,"b":0},"meta":{"trace":"T"}}`,
			`{"jsonrpc":"2.0","id":0,"method":"Sleep","params":0,"meta":{"trace":"T"}}`,
			`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":0}}`,
			`{"jsonrpc":"2.0","id":0,"method":"$/shutdown","meta":{"trace":"T"}}`,
		},
		envelope.Protocol2: {
			`{"jsonrpc":"2.0","id":0,"result":{"name":"strict","session":"S","protocol":2,"services":{"Check.Echo":{"name":"Check.Echo","input":{"type":"any"},"output":{"type":"any"},"inputSchema":` + anySchemas[0] + `,"outputSchema":` + anySchemas[1] + `}}}}`,
			`{"jsonrpc":"2.0","id":0,"method":"$/ping"}`,
			`{"jsonrpc":"2.0","id":0,"result":null}`,
			`{"jsonrpc":"2.0","id":0,"method":"Add","params":{"a":0,"b":0,"_meta":{"trace":"T","deadline":"2026-12-01T21:50:00.123Z","progressToken":0}}}`,
			`{"jsonrpc":"2.0","id":0,"method":"Sleep","params":{"value":0,"_meta":{"trace":"T","deadline":"2026-12-01T21:50:00.123Z","progressToken":0}}}`,
			`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":0}}`,
			`{"jsonrpc":"2.0","id":0,"method":"$/shutdown"}`,
		},
	}
	require.Contains(t, wants, report.Protocol)
	for _, want := range wants[report.Protocol] {
		assert.True(t, kinds[shape(want)], "the host sent no %s", want)
		assert.True(t, sent[shape(want)], "the battery sent no %s", want)
	}
}
