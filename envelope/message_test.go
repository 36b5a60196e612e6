package envelope_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

func numID(n uint64) envelope.ID {
	var id envelope.ID
	if err := id.UnmarshalJSON(strconv.AppendUint(nil, n, 10)); err != nil {
		panic(err)
	}
	return id
}

func strID(s string) envelope.ID { return envelope.StringID(s) }

// kind names which of the three message kinds e is, failing if it is not
// exactly one of them.
func kind(t *testing.T, e *envelope.Envelope) string {
	t.Helper()
	var kinds []string
	if e.IsRequest() {
		kinds = append(kinds, "request")
	}
	if e.IsNotification() {
		kinds = append(kinds, "notification")
	}
	if e.IsResponse() {
		kinds = append(kinds, "response")
	}
	require.Len(t, kinds, 1, "a message is exactly one kind: %v", kinds)
	return kinds[0]
}

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		name string
		body string
		kind string
		want envelope.Envelope
	}{
		{
			name: "request with number id, params and trace",
			body: `{"jsonrpc":"2.0","id":7,"method":"Add","params":{"a":1, "b":[2]},"meta":{"trace":"t-1"}}`,
			kind: "request",
			want: envelope.Envelope{JSONRPC: "2.0", ID: numID(7), Method: "Add",
				Params: json.RawMessage(`{"a":1, "b":[2]}`), Meta: &envelope.Meta{Trace: "t-1"}},
		},
		{
			name: "request with string id and no params",
			body: `{"jsonrpc":"2.0","id":"abc","method":"Ping"}`,
			kind: "request",
			want: envelope.Envelope{JSONRPC: "2.0", ID: strID("abc"), Method: "Ping"},
		},
		{
			name: "request with the largest id",
			body: `{"jsonrpc":"2.0","id":18446744073709551615,"method":"m"}`,
			kind: "request",
			want: envelope.Envelope{JSONRPC: "2.0", ID: numID(1<<64 - 1), Method: "m"},
		},
		{
			name: "notification",
			body: `{"jsonrpc":"2.0","method":"$/async","params":[1,"two"]}`,
			kind: "notification",
			want: envelope.Envelope{JSONRPC: "2.0", Method: envelope.MethodAsync, Params: json.RawMessage(`[1,"two"]`)},
		},
		{
			name: "notification with null id",
			body: `{"jsonrpc":"2.0","id":null,"method":"n"}`,
			kind: "notification",
			want: envelope.Envelope{JSONRPC: "2.0", Method: "n"},
		},
		{
			name: "response with result",
			body: `{"jsonrpc":"2.0","id":3,"result":{"x":1}}`,
			kind: "response",
			want: envelope.Envelope{JSONRPC: "2.0", ID: numID(3), Result: json.RawMessage(`{"x":1}`)},
		},
		{
			// A method that returns nothing answers null; that is still
			// an answer, not a missing result.
			name: "response with null result",
			body: `{"jsonrpc":"2.0","id":4,"result":null}`,
			kind: "response",
			want: envelope.Envelope{JSONRPC: "2.0", ID: numID(4), Result: json.RawMessage(`null`)},
		},
		{
			name: "error response",
			body: `{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"method not found: X","data":{"k":"v"}}}`,
			kind: "response",
			want: envelope.Envelope{JSONRPC: "2.0", ID: numID(5),
				Error: &envelope.Error{Code: -32601, Message: "method not found: X", Data: json.RawMessage(`{"k":"v"}`)}},
		},
		{
			// What a peer sends when it could not read our message's id.
			name: "error response with null id",
			body: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`,
			kind: "response",
			want: envelope.Envelope{JSONRPC: "2.0", Error: &envelope.Error{Code: -32700, Message: "parse error"}},
		},
		{
			name: "surrounding whitespace and unknown members",
			body: " \r\n\t{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"extra\":[1,{}]}\n ",
			kind: "notification",
			want: envelope.Envelope{JSONRPC: "2.0", Method: "m"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := envelope.Decode([]byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, tt.want, *e)
			assert.Equal(t, tt.kind, kind(t, e))
		})
	}
}

func TestDecodeDoesNotAliasInput(t *testing.T) {
	// The read loop decodes out of a buffer it reuses for the next frame,
	// so nothing in an Envelope may point into the body.
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"m","params":{"p":1}}`)
	e, err := envelope.Decode(body)
	require.NoError(t, err)
	for i := range body {
		body[i] = 'X'
	}
	assert.Equal(t, `{"p":1}`, string(e.Params))
	assert.Equal(t, "m", e.Method)
}

func TestDecodeProtocolErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`},
		{"empty batch after whitespace", " \n[]"},
		{"missing version", `{"id":1,"method":"a"}`},
		{"version 1.0", `{"jsonrpc":"1.0","id":1,"method":"a"}`},
		{"version as number", `{"jsonrpc":2.0,"id":1,"method":"a"}`},
		{"version with space", `{"jsonrpc":"2.0 ","id":1,"method":"a"}`},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"a","result":1}`},
		{"method and null result", `{"jsonrpc":"2.0","id":1,"method":"a","result":null}`},
		{"method and error", `{"jsonrpc":"2.0","id":1,"method":"a","error":{"code":1,"message":"x"}}`},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}`},
		{"result without id", `{"jsonrpc":"2.0","result":1}`},
		{"neither: version only", `{"jsonrpc":"2.0"}`},
		{"neither: id only", `{"jsonrpc":"2.0","id":1}`},
		{"neither: empty method", `{"jsonrpc":"2.0","id":1,"method":""}`},
		{"neither: params only", `{"jsonrpc":"2.0","params":{}}`},
		{"empty body", ``},
		{"whitespace only", " \r\n"},
		{"truncated", `{"jsonrpc":"2.0","method":"a"`},
		{"trailing garbage", `{"jsonrpc":"2.0","method":"a"} {}`},
		{"not an object", `"2.0"`},
		{"null", `null`},
		{"number", `42`},
		{"garbage", `hello`},
		{"method not a string", `{"jsonrpc":"2.0","method":1}`},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"a"}`},
		{"array id", `{"jsonrpc":"2.0","id":[1],"method":"a"}`},
		{"boolean id", `{"jsonrpc":"2.0","id":false,"method":"a"}`},
		{"meta not an object", `{"jsonrpc":"2.0","method":"a","meta":"t"}`},
		{"error not an object", `{"jsonrpc":"2.0","id":1,"error":"bad"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := envelope.Decode([]byte(tt.body))
			assert.Nil(t, e)
			assert.ErrorIs(t, err, envelope.ErrProtocol)
		})
	}
}

// TestDecodeIDs: every id JSON-RPC 2.0 allows is read, on either decoding
// path, and kept exactly as written; the others are refused with an error
// that says what an id may be.
func TestDecodeIDs(t *testing.T) {
	for _, text := range []string{
		`0`, `7`, `-1`, `-0`, `1.5`, `1e2`, `1E+2`, `-2.5e-3`, `18446744073709551616`,
		`123456789012345678901234567890`, `"x"`, `""`, `"\u0078"`, `"a\"b\\c\n"`, `"Zürich"`, `"<&>"`,
	} {
		for _, body := range []string{
			`{"jsonrpc":"2.0","id":` + text + `,"method":"m"}`,                     // the fast path
			`{"jsonrpc":"2.0","method":"m","id":` + text + `,"Params":1}`,          // encoding/json
			`{"jsonrpc":"2.0","id":` + text + `,"error":{"code":1,"message":"x"}}`, // encoding/json
			`{"jsonrpc":"2.0","id":` + text + `,"result":null}`,                    // the fast path
		} {
			e, err := envelope.Decode([]byte(body))
			require.NoError(t, err, body)
			assert.Equal(t, text, e.ID.String(), body)
			assert.False(t, e.ID.IsZero(), body)
			b, err := json.Marshal(e.ID)
			require.NoError(t, err)
			if !strings.ContainsAny(text, "<&>") { // encoding/json escapes those
				assert.Equal(t, text, string(b))
			}
		}
	}
	for text, got := range map[string]string{
		`true`: "a boolean", `false`: "a boolean", `{}`: "an object", `{"n":1}`: "an object", `[1]`: "an array",
	} {
		for _, body := range []string{
			`{"jsonrpc":"2.0","id":` + text + `,"method":"m"}`,
			`{"jsonrpc":"2.0","id":` + text + `,"result":1}`,
		} {
			_, err := envelope.Decode([]byte(body))
			require.ErrorIs(t, err, envelope.ErrProtocol, body)
			require.ErrorIs(t, err, envelope.ErrBadID, body)
			assert.EqualError(t, err, "protocol violation: invalid request id: an id must be a string, a number or null, got "+got, body)
		}
	}
	// A string id that is not UTF-8 is read as encoding/json reads it.
	e, err := envelope.Decode([]byte("{\"jsonrpc\":\"2.0\",\"id\":\"a\xffb\",\"method\":\"m\"}"))
	require.NoError(t, err)
	assert.Equal(t, envelope.StringID("a\uFFFDb"), e.ID)

	// null is no id: with a method, a notification.
	e, err = envelope.Decode([]byte(`{"jsonrpc":"2.0","id":null,"method":"m"}`))
	require.NoError(t, err)
	assert.True(t, e.IsNotification())
	assert.Equal(t, envelope.ID{}, e.ID)
}

func TestIDConstructors(t *testing.T) {
	assert.Equal(t, "-42", envelope.NumberID(-42).String())
	assert.Equal(t, `"a\"b"`, envelope.StringID(`a"b`).String())
	assert.Equal(t, "null", envelope.ID{}.String())
	assert.True(t, envelope.ID{}.IsZero())
	assert.False(t, envelope.StringID("").IsZero(), `"" is an id`)
	assert.NotEqual(t, envelope.NumberID(1), envelope.StringID("1"))

	var id envelope.ID
	require.NoError(t, json.Unmarshal([]byte(` 12 `), &id))
	assert.Equal(t, envelope.NumberID(12), id)
	require.NoError(t, json.Unmarshal([]byte(`null`), &id))
	assert.True(t, id.IsZero())
	b, err := json.Marshal(struct {
		ID envelope.ID `json:"id"`
	}{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":null}`, string(b))

	// Usable as a map key: the ids in flight.
	m := map[envelope.ID]int{envelope.NumberID(1): 1, envelope.StringID("1"): 2}
	assert.Equal(t, 2, m[envelope.StringID("1")])
}

func TestDecodeParams(t *testing.T) {
	type in struct {
		A int    `json:"a"`
		B string `json:"b"`
	}
	e, err := envelope.Decode([]byte(`{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":3,"b":"x"}}`))
	require.NoError(t, err)
	var v in
	require.NoError(t, envelope.DecodeParams(e, &v))
	assert.Equal(t, in{A: 3, B: "x"}, v)

	// Absent and null params both leave the target alone, so a method's
	// defaults survive a caller that sends nothing.
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":null}`,
	} {
		e, err := envelope.Decode([]byte(body))
		require.NoError(t, err)
		v := in{A: 9, B: "keep"}
		require.NoError(t, envelope.DecodeParams(e, &v))
		assert.Equal(t, in{A: 9, B: "keep"}, v, body)
	}

	e, err = envelope.Decode([]byte(`{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}`))
	require.NoError(t, err)
	assert.Error(t, envelope.DecodeParams(e, &v))
}

func TestEnvelopeTrace(t *testing.T) {
	assert.Equal(t, "", (&envelope.Envelope{}).Trace())
	assert.Equal(t, "abc", (&envelope.Envelope{Meta: &envelope.Meta{Trace: "abc"}}).Trace())
}

func TestErrorIs(t *testing.T) {
	sentinels := map[int64]error{
		envelope.CodeMethodNotFound:   envelope.ErrMethodNotFound,
		envelope.CodeInvalidParams:    envelope.ErrInvalidParams,
		envelope.CodeShuttingDown:     envelope.ErrShutdown,
		envelope.CodeNameTaken:        envelope.ErrNameTaken,
		envelope.CodeUnauthorized:     envelope.ErrUnauthorized,
		envelope.CodeRequestCancelled: envelope.ErrCancelled,
	}
	all := []error{
		envelope.ErrShutdown, envelope.ErrMethodNotFound, envelope.ErrInvalidParams,
		envelope.ErrNameTaken, envelope.ErrUnauthorized, envelope.ErrCancelled,
		envelope.ErrFrameTooLarge, envelope.ErrProtocol,
	}
	codes := []int64{
		envelope.CodeParseError, envelope.CodeInvalidRequest, envelope.CodeMethodNotFound,
		envelope.CodeInvalidParams, envelope.CodeInternalError, envelope.CodeMethodError,
		envelope.CodeNameTaken, envelope.CodeUnauthorized, envelope.CodeShuttingDown,
		envelope.CodeRequestCancelled, 0, 42,
	}
	for _, code := range codes {
		e := envelope.Errorf(code, "code %d", code)
		// Wrapping must not hide the mapping: callers see errors that
		// other layers have annotated.
		wrapped := fmt.Errorf("calling plugin: %w", e)
		for _, target := range all {
			want := sentinels[code] == target
			assert.Equal(t, want, errors.Is(e, target), "code %d, target %q", code, target)
			assert.Equal(t, want, errors.Is(wrapped, target), "wrapped code %d, target %q", code, target)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	// These numbers are the wire contract; other languages hard-code them.
	assert.EqualValues(t, -32700, envelope.CodeParseError)
	assert.EqualValues(t, -32600, envelope.CodeInvalidRequest)
	assert.EqualValues(t, -32601, envelope.CodeMethodNotFound)
	assert.EqualValues(t, -32602, envelope.CodeInvalidParams)
	assert.EqualValues(t, -32603, envelope.CodeInternalError)
	assert.EqualValues(t, -32000, envelope.CodeMethodError)
	assert.EqualValues(t, -32001, envelope.CodeNameTaken)
	assert.EqualValues(t, -32002, envelope.CodeUnauthorized)
	assert.EqualValues(t, -32003, envelope.CodeShuttingDown)
	assert.EqualValues(t, -32800, envelope.CodeRequestCancelled)

	assert.Equal(t, "$/handshake", envelope.MethodHandshake)
	assert.Equal(t, "$/async", envelope.MethodAsync)
	assert.Equal(t, "$/shutdown", envelope.MethodShutdown)
	assert.Equal(t, "$/cancelRequest", envelope.MethodCancel)
}

func TestErrorMessageUnchanged(t *testing.T) {
	msg := "disk full: /var/lib/x (errno 28) \"quoted\" \n second line"
	e := &envelope.Error{Code: envelope.CodeMethodError, Message: msg}
	assert.Equal(t, msg, e.Error())
	assert.Equal(t, "n=3 s=x", envelope.Errorf(1, "n=%d s=%s", 3, "x").Error())
	assert.EqualValues(t, 1, envelope.Errorf(1, "x").Code)
}

func TestTrace(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, "", envelope.TraceFrom(ctx))
	a := envelope.WithTrace(ctx, "a")
	assert.Equal(t, "a", envelope.TraceFrom(a))
	b := envelope.WithTrace(a, "b")
	assert.Equal(t, "b", envelope.TraceFrom(b))
	assert.Equal(t, "a", envelope.TraceFrom(a), "a derived context must not change its parent")
	// Only WithTrace sets it: a string stored under another key is not a trace.
	type otherKey struct{}
	assert.Equal(t, "", envelope.TraceFrom(context.WithValue(ctx, otherKey{}, "x")))
}

func TestPluginInfoDeepCopy(t *testing.T) {
	assert.Nil(t, (*envelope.PluginInfo)(nil).DeepCopy(true))

	orig := &envelope.PluginInfo{
		Name:    "calc",
		Version: "1.2.3",
		Functions: map[string]typedesc.Function{
			"Add": {
				Name:   "Add",
				Input:  &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{{Name: "a", Type: "int", Mandatory: true}}},
				Output: &typedesc.Entity{Type: "int"},
			},
		},
	}
	short := orig.DeepCopy(false)
	assert.Equal(t, &envelope.PluginInfo{Name: "calc", Version: "1.2.3"}, short)

	full := orig.DeepCopy(true)
	require.Equal(t, orig, full)
	full.Functions["Add"].Input.Fields[0].Name = "changed"
	full.Functions["Sub"] = typedesc.Function{Name: "Sub"}
	assert.Equal(t, "a", orig.Functions["Add"].Input.Fields[0].Name)
	assert.NotContains(t, orig.Functions, "Sub")
}
