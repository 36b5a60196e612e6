package plugintest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugintest"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

// streamChecks are the lines of the stream checks on testdata/streams,
// in order.
var streamChecks = []string{"streams", "stream Scale", "stream call Scale", "stream Store", "stream call Store",
	"stream Ticks", "stream call Ticks", "stream without credit"}

// checkStreams runs the battery on testdata/streams with env added to
// its environment.
func checkStreams(t *testing.T, env ...string) (plugintest.Report, string) {
	t.Helper()
	cmd := exec.Command(bin(t, "streams"))
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), cmd, &out, plugintest.CheckConfig{CallTimeout: 2 * time.Second})
	require.NoError(t, err)
	assertLines(t, out.String(), report)
	return report, out.String()
}

// checkBrokenStreams runs the battery on testdata/brokenstreams, broken
// in the way mode names.
func checkBrokenStreams(t *testing.T, mode string) (plugintest.Report, string) {
	t.Helper()
	cmd := exec.Command(bin(t, "brokenstreams"))
	cmd.Env = append(os.Environ(), "BROKEN_STREAMS="+mode)
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), cmd, &out, plugintest.CheckConfig{CallTimeout: time.Second})
	require.NoError(t, err)
	assertLines(t, out.String(), report)
	return report, out.String()
}

// lineIndex returns the index of check name among the report's results,
// or -1.
func lineIndex(r plugintest.Report, name string) int {
	for i, res := range r.Results {
		if res.Check == name {
			return i
		}
	}
	return -1
}

// A Go plugin with a stream of each shape passes: each is opened and
// served as its shape asks, never called as a plain function, and the
// stream checks come after the calls' and before the shutdown's.
func TestCheckPassesAStreamPlugin(t *testing.T) {
	report, out := checkStreams(t)
	require.True(t, report.Passed(), "%s", out)
	assert.Equal(t, envelope.Protocol2, report.Protocol)
	assertProtocol(t, out, report)
	assert.Contains(t, out, "\nprotocol 2: 25 passed, 0 failed, 3 skipped\n", "no warning either")
	assert.Equal(t, map[string]string{"Scale": typedesc.ShapeProcessor, "Store": typedesc.ShapeSink, "Ticks": typedesc.ShapeSource}, report.Streams)
	require.NotNil(t, report.Plugin)
	assert.Equal(t, typedesc.ShapeProcessor, report.Plugin.Functions["Scale"].Stream.Shape())
	assert.Nil(t, report.Plugin.Functions["Add"].Stream)

	res := results(report)
	prev := lineIndex(report, "cancel")
	for _, name := range streamChecks {
		assert.Equal(t, plugintest.Pass, res[name].Status, "%s: %s", name, res[name].Detail)
		i := lineIndex(report, name)
		assert.Greater(t, i, prev, "%s comes in order", name)
		prev = i
	}
	assert.Less(t, prev, lineIndex(report, "shutdown answers"))
	for _, fn := range []string{"Scale", "Store", "Ticks"} {
		assert.NotContains(t, res, "call "+fn, "a stream is not called as a plain function")
		assert.NotContains(t, res, "bad params "+fn)
		assert.Equal(t, `called without _meta.stream: answered -32602 "invalid params for `+fn+`: `+fn+` is a stream; open it with params._meta.stream"`,
			res["stream call "+fn].Detail)
	}
	assert.Contains(t, res["meta"].Detail, "Add", "the meta and cancel checks call a plain function")
	assert.Contains(t, res["shutdown in flight"].Detail, "Add")

	assert.Equal(t, "3 stream functions: Scale (processor), Store (sink), Ticks (source); item schemas compile, and none has an output", res["streams"].Detail)
	assert.Equal(t, `processor: opened with params {"factor":0} and a window of 4; granted 128 credit; 6 items sent, 6 acknowledged; `+
		`6 items received, in order and within the credit, more once the battery settled the first 4; the battery closed its half: answered null`,
		res["stream Scale"].Detail)
	assert.Equal(t, "sink: opened with params (none) and a window of 4; granted 128 credit; 3 items sent, 3 acknowledged; the battery closed its half: answered null",
		res["stream Store"].Detail)
	assert.Regexp(t, `^source: opened with params \{"from":0\} and a window of 4; \d+ items received, in order and within the credit, more once the battery settled the first 4; `+
		`cancelled by the battery: answered error -32000 "stream cancelled by the peer: plugsock check: the battery has read enough"$`, res["stream Ticks"].Detail)
	assert.Equal(t, `Ticks (source): item 129, sent with 128 credit, made it fail the stream: $/stream/cancel with error -32600 "$/stream/item: item 129 sent without credit: 128 granted"`,
		res["stream without credit"].Detail)
	assert.Equal(t, plugintest.Pass, res["stream messages"].Status, "%s", res["stream messages"].Detail)
	assert.Regexp(t, `^\d+ stream messages, each a notification about a stream open$`, res["stream messages"].Detail)
	assert.Greater(t, lineIndex(report, "stream messages"), lineIndex(report, "progress"), "judged with the findings")
}

func TestCheckWarnsOfASinkThatRejectsEveryItem(t *testing.T) {
	report, out := checkStreams(t, "STREAMS_MODE=reject")
	require.True(t, report.Passed(), "a warning is no failure: %s", out)
	res := results(report)
	assert.Equal(t, plugintest.Warn, res["stream Store"].Status)
	assert.Equal(t, `sink: it rejected every item the battery sent, made from the in description ("read-only store"); `+
		`opened with params (none) and a window of 4; granted 128 credit; 3 items sent, 0 acknowledged, 3 rejected ("read-only store"); `+
		`the battery closed its half: answered null`, res["stream Store"].Detail)
	assert.Contains(t, out, "WARN  stream Store")
	assert.Contains(t, out, ", 1 warning\n")
}

// A plugin written on the raw wire that keeps section 19's rules passes;
// each way of breaking one fails (or warns in) the check that looks for
// it, and only that one, saying what the plugin did.
func TestCheckStreamRules(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		fails map[string]string
		warns map[string]string
		skips map[string]string
	}{
		{mode: ""},
		{mode: "overrun", fails: map[string]string{
			"stream Feed": "source: $/stream/item: sent item 5 with 4 credit (the battery failed the stream, as the host does); " +
				"opened with params (none) and a window of 4; 4 items received; failed by the battery: answered error -32800 \"request cancelled\"",
		}, skips: map[string]string{
			"stream without credit": "Feed (source): the plugin broke the stream's rules first: $/stream/item: sent item 2 with 1 credit",
		}},
		{mode: "gaps", fails: map[string]string{
			"stream Feed": "source: $/stream/item: item 4 out of order: want 3 (seq counts 1, 2, 3, ... without gaps) (the battery failed the stream, as the host does)",
			"stream Echo": "processor: $/stream/item: item 4 out of order: want 3",
		}},
		{mode: "nosettle", fails: map[string]string{
			"stream Save": "sink: answered null with items 1, 2 and 3 unsettled: a receiver settles every item it received, or the host must deliver it again; " +
				"opened with params (none) and a window of 4; granted 8 credit; 3 items sent, 0 acknowledged; the battery closed its half: answered null",
		}},
		{mode: "nogrant", fails: map[string]string{
			"stream Save": "sink: granted no credit within 1s: a sink grants its window ($/stream/credit) once it accepts the stream, or the host can send it nothing; " +
				"opened with params (none) and a window of 4; granted 0 credit; cancelled by the battery: answered error -32800 \"request cancelled\"",
			"stream Echo": "processor: granted no credit within 1s: a processor grants its window",
		}},
		{mode: "lenient", warns: map[string]string{
			"stream without credit": "Feed (source): it did not fail the stream within 1s of item 9, sent with 8 credit (section 19, Breaking the rules: " +
				"the side that sees an item sent without credit fails the stream with a $/stream/cancel carrying an error)",
		}},
		{mode: "call", fails: map[string]string{
			"stream call Echo": "called without _meta.stream, with params (none): answered result null; want error -32602 (invalid params): a stream is opened with params._meta.stream",
			"stream call Feed": "answered result null; want error -32602",
			"stream call Save": "answered result null; want error -32602",
		}},
		{mode: "stray", fails: map[string]string{
			"stream messages": `$/stream/credit names stream 999999, which the battery never opened (a stream is named by its request's id, written as the request wrote it): ` +
				`{"jsonrpc":"2.0","method":"$/stream/credit","params":{"credit":1,"stream":999999}}; $/stream/ack sent as a request (stream messages are notifications)`,
		}},
		{mode: "descriptions", fails: map[string]string{
			"streams": "Bad: its stream describes neither in nor out (a source has out, a sink in, a processor both); " +
				"Bad: a stream has no output or outputSchema; its items are what it returns; Save.stream.inSchema: invalid JSON Schema",
		}},
	} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			report, out := checkBrokenStreams(t, tc.mode)
			require.Equal(t, envelope.Protocol2, report.Protocol)
			res := results(report)
			var failed, warned []string
			for _, r := range report.Results {
				switch r.Status {
				case plugintest.Fail:
					failed = append(failed, r.Check)
				case plugintest.Warn:
					warned = append(warned, r.Check)
				}
			}
			assert.ElementsMatch(t, mapKeys(tc.fails), failed, "%s", out)
			assert.ElementsMatch(t, mapKeys(tc.warns), warned, "%s", out)
			for _, want := range []map[string]string{tc.fails, tc.warns, tc.skips} {
				for name, why := range want {
					assert.Contains(t, res[name].Detail, why, name)
				}
			}
			for name := range tc.skips {
				assert.Equal(t, plugintest.Skip, res[name].Status, name)
			}
			for _, name := range []string{"stream Echo", "stream Feed", "stream Save", "stream without credit"} {
				assert.Contains(t, res, name)
			}
			// Whatever the streams did, each was ended and its request
			// answered, so the plugin shuts down in good order.
			assert.Equal(t, plugintest.Pass, res["shutdown answers"].Status, "%s", out)
			assert.Equal(t, plugintest.Pass, res["exit"].Status, "%s", out)
		})
	}
}

// In protocol 1 there are no streams: the stream checks are one line,
// skipped, and the stream functions are not called.
func TestCheckSkipsStreamsInProtocol1(t *testing.T) {
	report, out := checkBrokenStreams(t, "protocol1")
	require.True(t, report.Passed(), "%s", out)
	assert.Equal(t, envelope.Protocol1, report.Protocol)
	res := results(report)
	assert.Equal(t, plugintest.Result{Check: "streams", Status: plugintest.Skip,
		Detail: "protocol 2 only; the plugin speaks protocol 1; it declares 3 stream functions"}, res["streams"])
	for name := range res {
		if name != "streams" {
			assert.NotContains(t, name, "stream", "no other stream check in protocol 1")
		}
	}
	assert.Equal(t, plugintest.Result{Check: "calls", Status: plugintest.Skip, Detail: "no function to call"}, res["calls"])
	assert.Equal(t, map[string]string{"Echo": "processor", "Feed": "source", "Save": "sink"}, report.Streams)
}

// A plugin without streams gets no stream check at all, and SkipFunctions
// leaves a stream unopened.
func TestCheckStreamChecksOnlyForStreams(t *testing.T) {
	var out bytes.Buffer
	report, err := plugintest.Check(t.Context(), exec.Command(bin(t, "goplugin")), &out)
	require.NoError(t, err)
	assert.Nil(t, report.Streams)
	assert.NotContains(t, out.String(), "stream")

	cmd := exec.Command(bin(t, "streams"))
	out.Reset()
	report, err = plugintest.Check(t.Context(), cmd, &out, plugintest.CheckConfig{CallTimeout: 2 * time.Second, SkipFunctions: []string{"Ticks"}})
	require.NoError(t, err)
	require.True(t, report.Passed(), "%s", &out)
	res := results(report)
	assert.NotContains(t, res, "stream Ticks")
	assert.NotContains(t, res, "stream call Ticks")
	assert.Contains(t, res["streams"].Detail, "Ticks (source)", "its description is still checked")
	assert.Contains(t, res["stream without credit"].Detail, "Scale (processor): item ", "a processor when no source is left")
}

var (
	reasonRE = regexp.MustCompile(`"reason":"[^"]*"`)
	itemRE   = regexp.MustCompile(`"item":\{[^{}]*\}`)
)

// streamShape is a stream frame's body with what differs from one session
// to the next made the same: as shape does, and the reasons, and the items
// (the application's values). One difference is set aside: the host opens
// a stream without input with params {"value":null}, where the battery,
// as docs/protocol.md section 19 has it, opens it with {}.
func streamShape(body string) string {
	body = strings.Replace(body, `"params":{"value":null,"_meta":`, `"params":{"_meta":`, 1)
	body = itemRE.ReplaceAllString(body, `"item":I`)
	return shape(reasonRE.ReplaceAllString(body, `"reason":"R"`))
}

// The battery's part in a stream is the host's, frame for frame: every
// kind of frame it sent the stream plugin, the requests that open streams
// and each stream message, is one a real Socket sends it, once ids,
// numbers, trace ids and reasons are set aside.
func TestCheckSendsTheStreamFramesTheHostSends(t *testing.T) {
	streams := bin(t, "streams")

	hostDir := t.TempDir()
	s := new(socket.Socket)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Serve(l, socket.Config{Logger: quiet(), StreamWindow: 4})
	defer func() { _ = s.Shutdown("") }()
	cmd := exec.Command(streams)
	cmd.Env = append(os.Environ(), "PLUGINTEST_RECORD="+hostDir)
	name, err := s.Launch(t.Context(), cmd)
	require.NoError(t, err)
	// No deadline: the host then sends none, as the battery.
	ctx := t.Context()
	type point struct {
		Name  string  `json:"name"`
		Value float64 `json:"value"`
	}
	type record struct {
		Key     string `json:"key"`
		Payload string `json:"payload"`
	}

	// A processor: items both ways, acknowledged through the last.
	st, err := s.OpenStream(ctx, name, "Scale", map[string]float64{"factor": 0})
	require.NoError(t, err)
	for range 2 {
		_, err := st.Send(ctx, point{})
		require.NoError(t, err)
	}
	require.NoError(t, st.CloseSend())
	var last uint64
	for {
		it, err := st.Recv(ctx)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.NoError(t, st.AckThrough(it.Seq))
		last = it.Seq
	}
	assert.Equal(t, uint64(2), last)
	require.NoError(t, st.Err())

	// A sink.
	st, err = s.OpenStream(ctx, name, "Store", nil)
	require.NoError(t, err)
	_, err = st.Send(ctx, record{})
	require.NoError(t, err)
	require.NoError(t, st.CloseSend())
	require.NoError(t, st.Drain(ctx))
	<-st.Done()
	require.NoError(t, st.Err())

	// A source, read, acknowledged and cancelled.
	st, err = s.OpenStream(ctx, name, "Ticks", map[string]int{"from": 0})
	require.NoError(t, err)
	it, err := st.Recv(ctx)
	require.NoError(t, err)
	require.NoError(t, st.AckThrough(it.Seq))
	st.Cancel("enough")
	s.Unplug("", name)
	host := readRecords(t, hostDir)

	checkDir := t.TempDir()
	report, out := checkStreams(t, "PLUGINTEST_RECORD="+checkDir)
	require.True(t, report.Passed(), "%s", out)
	sent := readRecords(t, checkDir)

	isStream := func(body string) bool {
		return strings.Contains(body, `"method":"$/stream/`) || strings.Contains(body, `"stream":{"window":`)
	}
	kinds := make(map[string]bool)
	for _, f := range host {
		if isStream(f.body) {
			kinds[streamShape(f.body)] = true
		}
	}
	seen := make(map[string]bool)
	for _, f := range sent {
		if !isStream(f.body) {
			continue
		}
		assert.Equal(t, fmt.Sprintf("Content-Length: %d\r\n\r\n", len(f.body)), f.header, "the battery's header for %s", f.body)
		k := streamShape(f.body)
		seen[k] = true
		assert.True(t, kinds[k], "the battery sent\n\t%s\nand the host nothing of that shape; the host's:\n\t%s", f.body, strings.Join(mapKeys(kinds), "\n\t"))
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(f.body), &m))
		assert.NotContains(t, m, "meta")
		if strings.Contains(f.body, `"method":"$/stream/`) {
			assert.NotContains(t, m, "id", "stream messages are notifications: %s", f.body)
		}
	}
	for _, want := range []string{
		`{"jsonrpc":"2.0","id":0,"method":"Scale","params":{"factor":0,"_meta":{"trace":"T","stream":{"window":0}}}}`,
		`{"jsonrpc":"2.0","id":0,"method":"Store","params":{"_meta":{"trace":"T","stream":{"window":0}}}}`,
		`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":0,"item":I,"seq":0}}`,
		`{"jsonrpc":"2.0","method":"$/stream/ack","params":{"stream":0,"through":0}}`,
		`{"jsonrpc":"2.0","method":"$/stream/credit","params":{"stream":0,"credit":0}}`,
		`{"jsonrpc":"2.0","method":"$/stream/close","params":{"stream":0}}`,
		`{"jsonrpc":"2.0","method":"$/stream/cancel","params":{"stream":0,"reason":"R"}}`,
	} {
		assert.True(t, kinds[streamShape(want)], "the host sent no %s", want)
		assert.True(t, seen[streamShape(want)], "the battery sent no %s", want)
	}
}
