package envelope

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quoteCases are strings that stress a JSON string encoder: every ASCII
// control character, the two characters JSON must escape, characters some
// encoders escape and others do not, and invalid UTF-8 of every shape.
func quoteCases() []string {
	cases := []string{
		"", "plain", `"`, `\`, `\"`, `"\"`, `a"b\c`, "/", "</script>", "<>&",
		"\x7f", "\u2028\u2029", "é", "日本語", "😀", "\U0010FFFF", "\uFFFD", "\ufeff",
		"\xff", "a\xffb", "\xc3", "\xc3(", "\xe2\x82", "\xed\xa0\x80", "\xc0\x80",
		"\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\x80\x80\x80", "ok\xe2\x82\xacok\xe2\x82",
		strings.Repeat(`\"`, 100), strings.Repeat("x", 10000),
	}
	var all []byte
	for c := range byte(0x20) {
		cases = append(cases, string([]byte{c}), "a"+string([]byte{c})+"b")
		all = append(all, c)
	}
	cases = append(cases, string(all))

	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			// Bias towards the interesting bytes: controls, quote,
			// backslash and non-ASCII.
			switch r.IntN(4) {
			case 0:
				b[i] = byte(r.IntN(0x20))
			case 1:
				b[i] = `"\`[r.IntN(2)]
			case 2:
				b[i] = byte(0x80 + r.IntN(0x80))
			default:
				b[i] = byte(r.IntN(256))
			}
		}
		cases = append(cases, string(b))
	}
	return cases
}

func TestAppendQuoteMatchesEncodingJSON(t *testing.T) {
	for _, s := range quoteCases() {
		got := appendQuote(nil, s)
		require.True(t, json.Valid(got), "invalid JSON for %q: %s", s, got)

		var fromUs, fromStd string
		require.NoError(t, json.Unmarshal(got, &fromUs))
		std, err := json.Marshal(s)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(std, &fromStd))
		assert.Equal(t, fromStd, fromUs, "input %q: ours %s, encoding/json %s", s, got, std)

		// Each invalid byte becomes one U+FFFD, which is exactly what
		// converting through []rune does.
		assert.Equal(t, string([]rune(s)), fromUs, "input %q", s)
		if utf8.ValidString(s) {
			assert.Equal(t, s, fromUs, "valid input must survive unchanged")
		}
	}
}

func TestAppendQuoteExact(t *testing.T) {
	tests := map[string]string{
		"":                 `""`,
		"abc":              `"abc"`,
		"a\"b\\c":          `"a\"b\\c"`,
		"\n\r\t":           `"\n\r\t"`,
		"\x00\x01\x1f":     `"\u0000\u0001\u001f"`,
		"\b\f":             `"\u0008\u000c"`,
		"<&>":              `"<&>"`,
		"héllo 世界":         `"héllo 世界"`,
		"bad\xffutf8\xc3":  `"bad\ufffdutf8\ufffd"`,
		"\x7f is not ctrl": "\"\x7f is not ctrl\"",
	}
	for in, want := range tests {
		assert.Equal(t, want, string(appendQuote(nil, in)), "input %q", in)
	}
	// It appends: what is already in the buffer stays.
	assert.Equal(t, `prefix:"x"`, string(appendQuote([]byte("prefix:"), "x")))
}

func TestPutHeaderMatchesAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 99, 100, 12345, 1 << 20} {
		body := bytes.Repeat([]byte("b"), n)
		b := append(make([]byte, headroom), body...)
		assert.Equal(t, AppendFrame(nil, body), putHeader(b), "body of %d bytes", n)
	}
}

// frameOf finishes m and reads the frame back the way a peer would.
func frameOf(t *testing.T, m *msg) *Envelope {
	t.Helper()
	frame := m.frame()
	fr := NewFrameReader(bytes.NewReader(frame), 0)
	body, err := fr.ReadFrame()
	require.NoError(t, err)
	_, err = fr.ReadFrame()
	require.ErrorIs(t, err, io.EOF, "exactly one frame")
	require.True(t, json.Valid(body), "body %s", body)
	e, err := Decode(body)
	require.NoError(t, err, "body %s", body)
	return e
}

func TestMsgRequest(t *testing.T) {
	m := newMsg()
	defer m.free()
	id := NumberID(42)
	require.NoError(t, m.request(id, "Add", struct {
		A int    `json:"a"`
		S string `json:"s"`
	}{1, "<x>"}, "trace\"1"))
	e := frameOf(t, m)
	assert.True(t, e.IsRequest())
	assert.Equal(t, id, e.ID)
	assert.Equal(t, "Add", e.Method)
	// HTML is not escaped: the payload is for a program, not a browser.
	assert.Equal(t, `{"a":1,"s":"<x>"}`, string(e.Params))
	assert.Equal(t, "trace\"1", e.Trace())

	m = newMsg()
	defer m.free()
	sid := StringID("id\n\"x\"")
	require.NoError(t, m.request(sid, "m\x01", nil, ""))
	e = frameOf(t, m)
	assert.Equal(t, sid, e.ID)
	assert.Equal(t, "m\x01", e.Method)
	assert.Nil(t, e.Params, "nil params are left out")
	assert.Nil(t, e.Meta, "an empty trace is left out")
}

func TestMsgNotification(t *testing.T) {
	m := newMsg()
	defer m.free()
	require.NoError(t, m.request(ID{}, MethodCancel, CancelParams{ID: NumberID(9)}, ""))
	e := frameOf(t, m)
	assert.True(t, e.IsNotification())
	assert.JSONEq(t, `{"id":9}`, string(e.Params))
}

func TestMsgRawParams(t *testing.T) {
	m := newMsg()
	defer m.free()
	require.NoError(t, m.request(ID{}, "m", json.RawMessage(" { \"a\" : [ 1 , 2 ] } "), ""))
	assert.Equal(t, `{"a":[1,2]}`, string(frameOf(t, m).Params))

	// A malformed RawMessage must be refused here: sent as is it would
	// make the peer drop the whole connection.
	m2 := newMsg()
	defer m2.free()
	assert.Error(t, m2.request(ID{}, "m", json.RawMessage(`{"a":`), ""))
}

func TestMsgResult(t *testing.T) {
	m := newMsg()
	defer m.free()
	id := NumberID(3)
	require.NoError(t, m.result(id, map[string]int{"x": 1}))
	e := frameOf(t, m)
	assert.True(t, e.IsResponse())
	assert.Equal(t, `{"x":1}`, string(e.Result))

	m = newMsg()
	defer m.free()
	require.NoError(t, m.result(id, nil))
	e = frameOf(t, m)
	assert.Equal(t, "null", string(e.Result))
	assert.True(t, e.IsResponse())

	m = newMsg()
	defer m.free()
	before := len(m.b)
	err := m.result(id, make(chan int))
	require.Error(t, err)
	assert.NotContains(t, string(m.b[before:]), "chan", "a failed value leaves nothing of itself behind")
}

func TestMsgError(t *testing.T) {
	id := NumberID(8)
	m := newMsg()
	defer m.free()
	m.error(id, &Error{Code: CodeMethodError, Message: "bad \"thing\"\n\xff", Data: json.RawMessage(`{"d":1}`)})
	e := frameOf(t, m)
	require.NotNil(t, e.Error)
	assert.EqualValues(t, CodeMethodError, e.Error.Code)
	assert.Equal(t, "bad \"thing\"\n\uFFFD", e.Error.Message)
	assert.Equal(t, `{"d":1}`, string(e.Error.Data))

	// Invalid data is dropped rather than corrupting the frame.
	m = newMsg()
	defer m.free()
	m.error(ID{}, &Error{Code: CodeParseError, Message: "x", Data: json.RawMessage(`{oops`)})
	e = frameOf(t, m)
	assert.True(t, e.ID.IsZero())
	assert.Nil(t, e.Error.Data)
}

func TestFrameReaderHeaderLineLimit(t *testing.T) {
	ok := strings.Repeat("X: y\r\n", maxHeaderLines-2) + "Content-Length: 2\r\n\r\n{}"
	body, err := NewFrameReader(strings.NewReader(ok), 0).ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, "{}", string(body))

	tooMany := strings.Repeat("X: y\r\n", maxHeaderLines-1) + "Content-Length: 2\r\n\r\n{}"
	_, err = NewFrameReader(strings.NewReader(tooMany), 0).ReadFrame()
	assert.ErrorIs(t, err, ErrProtocol)
}

func TestFrameReaderDoesNotKeepLargeBuffers(t *testing.T) {
	var stream []byte
	stream = AppendFrame(stream, bytes.Repeat([]byte("L"), 1<<20))
	stream = AppendFrame(stream, []byte("{}"))
	fr := NewFrameReader(bytes.NewReader(stream), 0)
	body, err := fr.ReadFrame()
	require.NoError(t, err)
	require.Len(t, body, 1<<20)
	_, err = fr.ReadFrame()
	require.NoError(t, err)
	assert.LessOrEqual(t, cap(fr.buf), eagerBodySize)
}

func TestFrameReaderDeclaredSizeCostsNothing(t *testing.T) {
	// A peer that declares a large frame and then sends nothing must not
	// make us allocate what it declared.
	const declared = 4 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewFrameReader(strings.NewReader("Content-Length: 4194304\r\n\r\n"), declared).ReadFrame()
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(declared/4))
}
