package socket_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

// Tests of what a handshake may cost the host (issue 9, A1 to A3, and the
// name rules of B13), each sending what an attacker sent.

const frameLimit = envelope.DefaultMaxFrameSize

// maxFields is how many fields the one function of a handshake may have at
// most with the default frame limit: "functions" may count 65,536, each
// JSON object one and each function two, and the functions object, the
// function and its input count four.
const maxFields = frameLimit/64 - 4

// handshakeFrame is a $/handshake request whose params hold the given
// members, written as raw JSON in that order.
func handshakeFrame(members ...string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{` + strings.Join(members, ",") + `}}`)
}

// settled pings the host over c and waits for the answer: by then the
// host has finished with every earlier message, so nothing it held only
// to read the handshake is counted as the plugin's.
func settled(t *testing.T, c *rawConn) {
	t.Helper()
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":"settled","method":"$/ping"}`)))
	for {
		if m := c.mustRead(t); string(m.ID) == `"settled"` {
			return
		}
	}
}

// refusedWith sends frame as the first message of a new connection and
// checks the host answers with an error of the given code, then closes.
func refusedWith(t *testing.T, addr string, frame []byte, code int64) *rawError {
	t.Helper()
	c := rawDial(t, addr)
	require.NoError(t, c.writeFrame(frame))
	m := c.mustRead(t)
	require.NotNil(t, m.Error, "the handshake was accepted")
	assert.EqualValues(t, code, m.Error.Code, m.Error.Message)
	c.expectClosed(t)
	return m.Error
}

// stillServes checks that the host goes on serving: a new plugin connects
// and is called.
func stillServes(t *testing.T, s *socket.Socket, addr, name string) {
	t.Helper()
	p := rawStart(t, addr, name)
	require.True(t, s.WaitFor(name, rawWait))
	out, err := s.Call("", name, "Add", map[string]int{"a": 40, "b": 2})
	require.NoError(t, err)
	assert.Equal(t, float64(42), out)
	rawRecv(t, p.calls, "the Add call")
}

// A1: a type two million levels deep fitted into one 4 MiB frame. The
// handshake is refused with a message that says what is wrong, and the
// host lives on; before, a later OpenRPC request overflowed its stack.
func TestHandshakeRefusesDeepDescriptions(t *testing.T) {
	s, addr, gone := rawSocket(t)
	deepType := strings.Repeat("[]", 2_000_000) + "int"
	deepFields := strings.Repeat(`{"name":"f","type":"struct","fields":[`, 4000) + `{"name":"x","type":"int"}` + strings.Repeat("]}", 4000)
	for _, tc := range []struct {
		name, functions, want string
	}{
		{"type string", `{"Deep":{"name":"Deep","input":{"type":"` + deepType + `"}}}`,
			`malformed handshake: function "Deep" input: type nests deeper than 64 levels`},
		{"nested fields", `{"Ok":{"input":{"type":"int"}},"Deep":{"output":` + deepFields + `}}`,
			`malformed handshake: function "Deep" output: type nests deeper than 64 levels at field "` +
				strings.TrimSuffix(strings.Repeat("f.", 64), ".") + `"`},
		{"one level too many", `{"F":{"input":{"type":"` + strings.Repeat("[]", 65) + `int"}}}`,
			`malformed handshake: function "F" input: type nests deeper than 64 levels`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := handshakeFrame(`"name":"deep"`, `"functions":`+tc.functions)
			require.LessOrEqual(t, len(frame), frameLimit)
			e := refusedWith(t, addr, frame, envelope.CodeInvalidParams)
			assert.Equal(t, tc.want, e.Message)
			assert.Nil(t, s.PluginInfo("deep"))
		})
	}

	// The deepest description allowed is accepted, and every walk over it
	// works.
	limit := `{"F":{"name":"F","input":{"type":"` + strings.Repeat("[]", typedesc.MaxDepth) + `int"}}}`
	c := rawDial(t, addr)
	require.NoError(t, c.writeFrame(handshakeFrame(`"name":"limit"`, `"functions":`+limit)))
	m := c.mustRead(t)
	require.Nil(t, m.Error)
	info := s.PluginInfo("limit")
	require.NotNil(t, info)
	in := info.Functions["F"].Input
	require.NoError(t, in.Check())
	_, err := json.Marshal(in.JSONSchema())
	require.NoError(t, err)
	require.NoError(t, c.nc.Close())
	assert.Equal(t, "limit", rawRecv(t, gone, "the callback for limit").Name)

	stillServes(t, s, addr, "survivor")
}

// B13: names that cannot be one URL path segment are refused at the
// handshake, with the rule's own message.
func TestHandshakeRefusesDotNames(t *testing.T) {
	s, addr, _ := rawSocket(t)
	for _, name := range []string{".", ".."} {
		e := refusedWith(t, addr, handshakeFrame(`"name":"`+name+`"`), envelope.CodeInvalidParams)
		assert.Equal(t, fmt.Sprintf("malformed handshake: plugin name %q is a dot-segment, which cannot be a URL path segment", name), e.Message)
	}
	// Dots elsewhere are fine.
	for _, name := range []string{"...", ".calc", "geo.lookup"} {
		c := rawDial(t, addr)
		require.NoError(t, c.writeFrame(handshakeFrame(`"name":"`+name+`"`)))
		m := c.mustRead(t)
		require.Nil(t, m.Error, name)
		require.True(t, s.WaitFor(name, rawWait))
	}
}

// paddedHandshake is a handshake of about size bytes whose functions are
// cheap to send and costly to decode: one function with fields that are
// empty objects, three bytes each, which decoded to 64-byte Entities.
func paddedHandshake(size int, members ...string) []byte {
	head := `"functions":{"F":{"input":{"type":"struct","fields":[`
	tail := `{}]}}}`
	frame := handshakeFrame(members...)
	n := (size - len(frame) - len(head) - len(tail) - 1) / 3
	return handshakeFrame(append(members, head+strings.Repeat("{},", n)+tail)...)
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// A2: with a token required, strangers each sending a 4 MiB handshake
// without it took the host from 10 MiB to 1.9 GiB. The token is now
// checked before anything else is decoded, so what they make the host
// allocate stays a small multiple of what they sent.
func TestHandshakeChecksTheTokenFirst(t *testing.T) {
	const token = "s3cret-T0KEN-value"
	const strangers = 8
	s, addr, _ := rawSocket(t, socket.Config{Token: token})

	// Framed in advance and written as they are, so that the test's own
	// allocations stay out of the measurement.
	frames := make([][]byte, strangers)
	sent := 0
	for i := range frames {
		var members []string
		switch i % 3 {
		case 0:
			members = []string{`"name":"stranger"`}
		case 1:
			members = []string{`"name":"stranger"`, `"token":"guess"`}
		case 2:
			members = []string{`"name":"stranger"`, `"token":"` + strings.Repeat("x", 1<<20) + `"`}
		}
		body := paddedHandshake(frameLimit-64, members...)
		require.LessOrEqual(t, len(body), frameLimit)
		frames[i] = append(fmt.Appendf(nil, "Content-Length: %d\r\n\r\n", len(body)), body...)
		sent += len(frames[i])
	}
	conns := make([]*rawConn, strangers)
	for i := range conns {
		conns[i] = rawDial(t, addr)
	}

	runtime.GC()
	before := totalAlloc()
	var wg sync.WaitGroup
	answers := make([]rawMsg, strangers)
	errs := make([]error, strangers)
	for i, c := range conns {
		wg.Go(func() {
			_ = c.nc.SetWriteDeadline(time.Now().Add(rawWait))
			if _, errs[i] = c.nc.Write(frames[i]); errs[i] != nil {
				return
			}
			// 32 MiB at once through the race detector on two cores
			// takes its time.
			_ = c.nc.SetReadDeadline(time.Now().Add(6 * rawWait))
			answers[i], errs[i] = c.read()
		})
	}
	wg.Wait()
	grew := totalAlloc() - before

	for i, m := range answers {
		require.NoError(t, errs[i], "stranger %d", i)
		require.NotNil(t, m.Error, "stranger %d was let in", i)
		assert.EqualValues(t, envelope.CodeUnauthorized, m.Error.Code)
		want := "unauthorised: wrong token"
		if i%3 == 0 {
			want = "unauthorised: missing token"
		}
		assert.Equal(t, want, m.Error.Message)
		conns[i].expectClosed(t)
	}
	ratio := float64(grew) / float64(sent)
	t.Logf("%d strangers sent %d bytes; the host allocated %d bytes, %.2f times as much", strangers, sent, grew, ratio)
	assert.LessOrEqual(t, ratio, 3.0, "bytes allocated per byte a stranger sent")
	assert.Empty(t, s.Connected(false))

	// With the token the same handshake is refused for its size instead,
	// before it is decoded.
	e := refusedWith(t, addr, paddedHandshake(frameLimit-64, `"name":"member"`, `"token":"`+token+`"`), envelope.CodeInvalidParams)
	assert.Regexp(t, `^malformed handshake: functions are too large: they count \d+ \(each JSON object or null one, each function two\); at most 65536 allowed with a 4194304-byte frame limit$`, e.Message)
}

// heapInUse returns HeapAlloc after the garbage collector has run, and
// run again for what the first run's cleanups let go.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// richHandshake is a handshake of about size bytes that describes as much
// as the limits allow: the most objects a handshake may hold, with
// distinct names as long as the frame leaves room for.
func richHandshake(size int, name string) []byte {
	frame := handshakeFrame(`"name":"` + name + `"`)
	per := (size-len(frame)-100)/maxFields - len(`{"name":""},`)
	var b strings.Builder
	b.WriteString(`"functions":{"F":{"input":{"type":"struct","fields":[`)
	for i := range maxFields {
		if i > 0 {
			b.WriteByte(',')
		}
		id := fmt.Sprintf("%08d", i)
		fmt.Fprintf(&b, `{"name":"%s%s"}`, id, strings.Repeat("n", per-len(id)))
	}
	b.WriteString(`]}}}`)
	return handshakeFrame(`"name":"`+name+`"`, b.String())
}

// A3: a 4 MiB handshake pinned 85 MiB for the plugin's lifetime. Now a
// description costs at most twice the frame limit, and plugins that
// describe the same functions share one copy.
func TestDescriptionMemoryIsBounded(t *testing.T) {
	s, addr, gone := rawSocket(t)
	connect := func(frame []byte) *rawConn {
		t.Helper()
		c := rawDial(t, addr)
		require.NoError(t, c.writeFrame(frame))
		m := c.mustRead(t)
		require.Nil(t, m.Error)
		settled(t, c)
		return c
	}

	frame := richHandshake(frameLimit-256, "rich")
	require.LessOrEqual(t, len(frame), frameLimit)
	require.Greater(t, len(frame), frameLimit*15/16)

	first := connect(frame)
	withOne := heapInUse()

	const n = 8
	others := make([]*rawConn, 0, n-1)
	for i := range n - 1 {
		// The same description under another plugin name.
		others = append(others, connect(handshakeFrame(`"name":"rich-`+fmt.Sprint(i)+`"`, string(frame[strings.Index(string(frame), `"functions"`):len(frame)-2]))))
	}
	withAll := heapInUse()

	// The API still hands out copies, and changing one changes nothing.
	info := s.PluginInfo("rich")
	require.Len(t, info.Functions["F"].Input.Fields, maxFields)
	info.Functions["F"].Input.Fields[0].Name = "changed"
	delete(info.Functions, "F")
	for _, name := range []string{"rich", "rich-0"} {
		again := s.PluginInfo(name)
		require.Contains(t, again.Functions, "F")
		assert.Equal(t, "00000000", again.Functions["F"].Input.Fields[0].Name[:8])
	}
	for name, i := range s.Connected(true) {
		assert.Equal(t, "00000000", i.Functions["F"].Input.Fields[0].Name[:8], name)
	}
	info = nil

	// The shared copy goes with the last plugin that used it. What is
	// measured is against the same socket once they are gone, so that
	// what earlier tests leave behind does not count.
	for _, c := range append(others, first) {
		require.NoError(t, c.nc.Close())
		rawRecv(t, gone, "a callback")
	}
	var base int64
	require.Eventually(t, func() bool { base = heapInUse(); return withOne-base > frameLimit }, 6*rawWait, 10*time.Millisecond,
		"the description is freed once its plugins are gone")
	// The test's own copy of the frame is live at all three measurements.
	runtime.KeepAlive(frame)
	one, all := withOne-base, withAll-base
	t.Logf("a plugin with a %d-byte handshake: %d bytes of heap, %.2f times the %d-byte frame limit",
		len(frame), one, float64(one)/frameLimit, frameLimit)
	assert.LessOrEqual(t, one, int64(2*frameLimit), "heap per plugin")
	t.Logf("%d plugins with that description: %d bytes of heap, %.2f times one", n, all, float64(all)/float64(one))
	assert.Less(t, all, one+int64(n)*(64<<10), "plugins with one description share it")
}

// A3, the shape the issue measured: a handshake of empty objects, three
// bytes each on the wire and 64 once decoded, is refused for its size.
// The largest ones allowed, of empty fields or of empty functions, stay
// within the bound.
func TestDescriptionOfEmptyObjects(t *testing.T) {
	s, addr, gone := rawSocket(t)
	e := refusedWith(t, addr, paddedHandshake(frameLimit-64, `"name":"empty"`), envelope.CodeInvalidParams)
	assert.Contains(t, e.Message, "at most 65536 allowed")

	var functions strings.Builder
	for i := range (frameLimit/64 - 1) / 2 {
		if i > 0 {
			functions.WriteByte(',')
		}
		fmt.Fprintf(&functions, `"f%05d%s":{}`, i, strings.Repeat("n", 114))
	}
	for _, tc := range []struct{ name, functions string }{
		{"fields", `{"F":{"input":{"type":"struct","fields":[` + strings.Repeat(`{},`, maxFields-1) + `{}]}}}`},
		{"functions", `{` + functions.String() + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := handshakeFrame(`"name":"empty"`, `"functions":`+tc.functions)
			c := rawDial(t, addr)
			require.NoError(t, c.writeFrame(frame))
			require.Nil(t, c.mustRead(t).Error)
			settled(t, c)
			require.NotEmpty(t, s.PluginInfo("empty").Functions)
			with := heapInUse()
			require.NoError(t, c.nc.Close())
			rawRecv(t, gone, "the callback for empty")
			var base int64
			require.Eventually(t, func() bool { base = heapInUse(); return with-base > frameLimit/2 }, 6*rawWait, 10*time.Millisecond,
				"the description is freed once its plugin is gone")
			runtime.KeepAlive(frame)
			grew := with - base
			t.Logf("empty %s (%d bytes sent): %d bytes of heap, %.2f times the frame limit", tc.name, len(frame), grew, float64(grew)/frameLimit)
			// Each function is a map entry of a typedesc.Function, whose
			// two schemas make it 88 bytes, in a table rounded up to a
			// power of two.
			assert.LessOrEqual(t, grew, int64(3*frameLimit))
		})
	}
}

// How the token is found before anything else is read: by its exact name,
// once, escapes decoded; and a handshake that is not UTF-8 is refused
// before it is looked at.
func TestHandshakeTokenIsReadByItsExactName(t *testing.T) {
	const token = "s3cret"
	s, addr, _ := rawSocket(t, socket.Config{Token: token})
	for _, tc := range []struct {
		name    string
		members []string
		code    int64
		message string
	}{
		{"capitalised", []string{`"Token":"s3cret"`}, envelope.CodeUnauthorized, "unauthorised: missing token"},
		{"null", []string{`"token":null`}, envelope.CodeUnauthorized, "unauthorised: missing token"},
		{"too long to be it", []string{`"token":"` + strings.Repeat("s", 64<<10) + `"`}, envelope.CodeUnauthorized, "unauthorised: wrong token"},
		{"twice", []string{`"token":"s3cret"`, `"token":"s3cret"`}, envelope.CodeInvalidParams, `malformed handshake: member "token" appears twice`},
		{"not a string", []string{`"token":7`}, envelope.CodeInvalidParams, `malformed handshake: member "token" is not a string`},
		{"not UTF-8", []string{`"token":"s3cret"`, "\"version\":\"\xff\xfe\""}, envelope.CodeInvalidParams, "malformed handshake: params are not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := refusedWith(t, addr, handshakeFrame(append([]string{`"name":"p"`}, tc.members...)...), tc.code)
			assert.Equal(t, tc.message, e.Message)
		})
	}
	// Escapes are decoded before the comparison.
	c := rawDial(t, addr)
	require.NoError(t, c.writeFrame(handshakeFrame(`"name":"escaped"`, `"token":"s3cr\u0065t"`, `"launch":"`+strings.Repeat("l", 300)+`"`)))
	require.Nil(t, c.mustRead(t).Error)
	require.True(t, s.WaitFor("escaped", rawWait))
}

// A null in a list of fields decodes to a whole Entity, as {} does, so it
// counts against the same limit: 838,820 nulls once fitted in a 4 MiB
// frame and held 47 MiB for the plugin's life.
func TestHandshakeCountsNullFields(t *testing.T) {
	s, addr, _ := rawSocket(t)
	nulls := `{"F":{"input":{"type":"struct","fields":[` + strings.Repeat(`null,`, maxFields) + `null]}}}`
	e := refusedWith(t, addr, handshakeFrame(`"name":"nulls"`, `"functions":`+nulls), envelope.CodeInvalidParams)
	assert.Regexp(t, `^malformed handshake: functions are too large: they count \d+ \(each JSON object or null one, each function two\); at most 65536 allowed`, e.Message)
	stillServes(t, s, addr, "after-nulls")
}
