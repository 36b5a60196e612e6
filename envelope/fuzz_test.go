package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// fuzzMaxFrame is small so that the fuzzer reaches ErrFrameTooLarge.
const fuzzMaxFrame = 1024

// readFrames reads frames until an error or the frame cap (a guard against
// a reader that never ends, not a limit the data can hit).
func readFrames(r io.Reader) ([][]byte, error) {
	fr := NewFrameReader(r, fuzzMaxFrame)
	var out [][]byte
	for range 10000 {
		b, err := fr.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(b))
	}
	return out, errors.New("too many frames")
}

// frameErrClass names the documented class of a ReadFrame error, "" for
// an error outside the contract.
func frameErrClass(err error) string {
	switch {
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "UnexpectedEOF"
	case errors.Is(err, ErrFrameTooLarge):
		return "TooLarge"
	case errors.Is(err, ErrProtocol):
		return "Protocol"
	}
	return ""
}

func FuzzReadFrame(f *testing.F) {
	seeds := []string{
		"",
		"Content-Length: 2\r\n\r\n{}",
		"Content-Length: 0\r\n\r\n",
		"Content-Length: 2\r\n\r\n{}Content-Length: 3\r\n\r\n[1]",
		"content-length:2\r\n\r\n{}",
		"CONTENT-LENGTH :  2 \r\n\r\n{}",
		"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
		"Content-Length: 2\n\n{}",
		"\r\n\r\nContent-Length: 1\r\n\r\nx\r\n",
		"Content-Length: 5\r\nContent-Length: 1\r\n\r\nx",
		"Content-Length: -1\r\n\r\n",
		"Content-Length: +1\r\n\r\nx",
		"Content-Length: 1e3\r\n\r\n",
		"Content-Length: 0x10\r\n\r\n",
		"Content-Length: 99999999999999999999\r\n\r\n",
		"Content-Length: 1025\r\n\r\n",
		"Content-Length: 1024\r\n\r\n" + strings.Repeat("a", 1024),
		"Content-Length: 10\r\n\r\nshort",
		"Content-Length: 10\r\n",
		"Content-Len",
		"no colon\r\n\r\n",
		"X: y\r\n\r\n{}",
		strings.Repeat("X: y\r\n", 40) + "Content-Length: 0\r\n\r\n",
		"X: " + strings.Repeat("a", 5000) + "\r\n",
		"Content-Length: 2\r\r\n\r\n{}",
		"Content-Length:\x002\r\n\r\n{}",
		"\x00\xff\xfe garbage",
		`{"jsonrpc":"2.0","method":"a"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := readFrames(bytes.NewReader(data))
		class := frameErrClass(err)
		if class == "" {
			t.Fatalf("error outside the contract: %v", err)
		}
		total := 0
		for _, b := range frames {
			if len(b) > fuzzMaxFrame {
				t.Fatalf("frame of %d bytes passed a limit of %d", len(b), fuzzMaxFrame)
			}
			total += len(b)
			// What was read must frame back to itself.
			again, err := readFrames(bytes.NewReader(AppendFrame(nil, b)))
			if err != io.EOF || len(again) != 1 || !bytes.Equal(again[0], b) {
				t.Fatalf("reframing %q: got %q, %v", b, again, err)
			}
		}
		if total > len(data) {
			t.Fatalf("%d body bytes out of %d input bytes", total, len(data))
		}
		// How the bytes are split into reads must not matter.
		frames1, err1 := readFrames(iotest.OneByteReader(bytes.NewReader(data)))
		if !reflect.DeepEqual(frames, frames1) || frameErrClass(err1) != class {
			t.Fatalf("one byte at a time: %q, %v; whole: %q, %v", frames1, err1, frames, err)
		}
	})
}

// compactRaw returns raw compacted, or "" for absent.
func compactRaw(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if raw == nil {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("decoded raw value is not JSON: %q: %v", raw, err)
	}
	return b.String()
}

// sameJSON compares two raw values by meaning, numbers by their text.
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	decode := func(raw json.RawMessage) any {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decoding %q: %v", raw, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"jsonrpc":"2.0","id":1,"method":"Add","params":{"a":1,"b":2},"meta":{"trace":"t"}}`,
		`{"jsonrpc":"2.0","id":"s-1","method":"m","params":[1,"x",null]}`,
		`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":3}}`,
		`{"jsonrpc":"2.0","id":null,"method":"n"}`,
		`{"jsonrpc":"2.0","id":2,"result":{"sum":3}}`,
		`{"jsonrpc":"2.0","id":2,"result":null}`,
		`{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"method not found","data":[1]}}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`,
		`{"jsonrpc":"2.0","id":2,"result":1,"error":{"code":1,"message":"x"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","result":1}`,
		`{"jsonrpc":"2.0","result":1}`,
		`{"jsonrpc":"2.0","id":1}`,
		`{"jsonrpc":"1.0","id":1,"method":"m"}`,
		`{"id":1,"method":"m"}`,
		`[{"jsonrpc":"2.0","method":"m"}]`,
		` []`,
		`{"JSONRPC":"2.0","METHOD":"m","Params":{}}`,
		`{"jsonrpc":"2.0","method":"m","params":"<\u2028>\ud800","meta":{}}`,
		"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\",\"params\":\"\xfe\"}",
		`{"jsonrpc":"2.0","id":18446744073709551616,"method":"m"}`,
		`{"jsonrpc":"2.0","id":-1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1e2,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"m"}`,
		`{"jsonrpc":"2.0","id":-0.0e-0,"result":null}`,
		`{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"m"}`,
		`{"jsonrpc":"2.0","id":"<&\u2028>","method":"m"}`,
		"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"m\"}",
		`{"jsonrpc":"2.0","id":true,"method":"m"}`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"m"}`,
		`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":-1.5e3}}`,
		`{"jsonrpc":"2.0","method":"m","params":{"deep":[[[[[[[[[[1]]]]]]]]]]}}`,
		`{"jsonrpc":"2.0","method":"m"} trailing`,
		`{"jsonrpc":"2.0","method":`,
		`null`, `""`, `0`, ``, `{`, "\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error does not wrap ErrProtocol: %v", err)
			}
			if e != nil {
				t.Fatal("an error with a message")
			}
			return
		}
		checkInvariants(t, e)

		// Re-encode the way Conn would send it and read it back through a
		// frame: what Decode accepts, plugsock must be able to forward.
		m := newMsg()
		defer m.free()
		switch {
		case e.Method != "":
			var params any
			if e.Params != nil {
				params = e.Params
			}
			if err := m.request(e.ID, e.Method, params, e.Trace()); err != nil {
				t.Fatalf("re-encoding request: %v", err)
			}
		case e.Error != nil:
			m.error(e.ID, e.Error)
		default:
			if err := m.result(e.ID, e.Result); err != nil {
				t.Fatalf("re-encoding result: %v", err)
			}
		}
		fr := NewFrameReader(bytes.NewReader(m.frame()), 0)
		again, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading our own frame: %v", err)
		}
		e2, err := Decode(again)
		if err != nil {
			t.Fatalf("decoding our own encoding %q of %q: %v", again, body, err)
		}
		checkInvariants(t, e2)
		if !reflect.DeepEqual(e.ID, e2.ID) || e.Method != e2.Method || e.Trace() != e2.Trace() {
			t.Fatalf("header changed: %+v -> %+v", e, e2)
		}
		if compactRaw(t, e.Params) != compactRaw(t, e2.Params) || compactRaw(t, e.Result) != compactRaw(t, e2.Result) {
			t.Fatalf("payload changed: %q/%q -> %q/%q", e.Params, e.Result, e2.Params, e2.Result)
		}
		if (e.Error == nil) != (e2.Error == nil) ||
			e.Error != nil && (e.Error.Code != e2.Error.Code || e.Error.Message != e2.Error.Message ||
				compactRaw(t, e.Error.Data) != compactRaw(t, e2.Error.Data)) {
			t.Fatalf("error changed: %+v -> %+v", e.Error, e2.Error)
		}

		// encoding/json's own encoding of the Envelope must mean the same.
		std, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		e3, err := Decode(std)
		if err != nil {
			t.Fatalf("decoding json.Marshal's %s: %v", std, err)
		}
		// encoding/json escapes <, > and & even in what MarshalJSON
		// returns, so the id is the same by meaning, not by text.
		if !sameJSON(t, json.RawMessage(e.ID.String()), json.RawMessage(e3.ID.String())) ||
			e.Method != e3.Method || e.Trace() != e3.Trace() ||
			!sameJSON(t, e.Params, e3.Params) || !sameJSON(t, e.Result, e3.Result) {
			t.Fatalf("json.Marshal round trip changed %+v into %+v", e, e3)
		}
	})
}

func checkInvariants(t *testing.T, e *Envelope) {
	t.Helper()
	if e.JSONRPC != "2.0" {
		t.Fatalf("accepted version %q", e.JSONRPC)
	}
	kinds := 0
	for _, k := range []bool{e.IsRequest(), e.IsNotification(), e.IsResponse()} {
		if k {
			kinds++
		}
	}
	if kinds != 1 {
		t.Fatalf("message is %d kinds at once: %+v", kinds, e)
	}
	if e.IsResponse() {
		if (e.Result == nil) == (e.Error == nil) {
			t.Fatalf("response needs exactly one of result and error: %+v", e)
		}
		if e.Result != nil && e.ID.IsZero() {
			t.Fatalf("result without id: %+v", e)
		}
	} else if e.Result != nil || e.Error != nil {
		t.Fatalf("request or notification carries a result or error: %+v", e)
	}
	if !e.ID.IsZero() {
		// An id is a string or a number, in valid UTF-8, and reads back
		// as itself.
		text := e.ID.String()
		if c := text[0]; c != '"' && c != '-' && (c < '0' || c > '9') {
			t.Fatalf("id %s is neither a string nor a number", text)
		}
		var again ID
		if err := json.Unmarshal([]byte(text), &again); err != nil || again != e.ID || !utf8.ValidString(text) {
			t.Fatalf("id %q reads back as %q, %v", text, again, err)
		}
	}
}
