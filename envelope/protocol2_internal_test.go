package envelope

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nopStream is a stream nothing is read from or written to: RequestContext
// needs a Conn, not a connection.
type nopStream struct{}

func (nopStream) Read([]byte) (int, error)  { return 0, errors.New("nothing to read") }
func (nopStream) Write([]byte) (int, error) { return 0, errors.New("nowhere to write") }
func (nopStream) Close() error              { return nil }

func newProtocol2Conn() *Conn {
	c := NewConn(nopStream{}, ConnOptions{})
	c.SetProtocol(Protocol2)
	return c
}

func request2Of(params []byte) *Envelope {
	return &Envelope{JSONRPC: "2.0", ID: NumberID(1), Method: "M", Params: params}
}

func isObjectText(raw []byte) bool {
	i := firstNonSpace(raw)
	return i >= 0 && raw[i] == '{'
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b))
	return buf.String()
}

// countKey counts the members of the JSON object raw whose keys decode to
// name, as encoding/json decodes keys.
func countKey(raw []byte, name string) (n int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, false
		}
		if tok.(string) == name {
			n++
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return 0, false
		}
	}
	return n, true
}

// Reading a request's metadata twice reads it once: the second time finds
// it already moved out, and the same deadline.
func TestRequestContextTwice(t *testing.T) {
	c := newProtocol2Conn()
	m := request2Of([]byte(`{"a":1,"_meta":{"trace":"x","deadline":"2099-01-02T03:04:05.123Z"}}`))
	want := time.Date(2099, 1, 2, 3, 4, 5, 123_000_000, time.UTC)
	for range 2 {
		ctx, cancel, err := c.RequestContext(context.Background(), m)
		require.NoError(t, err)
		d, ok := ctx.Deadline()
		cancel()
		assert.True(t, ok)
		assert.True(t, d.Equal(want), "%v", d)
		assert.Equal(t, `{"a":1}`, string(m.Params))
		assert.Equal(t, "x", m.Trace())
	}
}

// The protocol's own notifications and requests go through Call and
// Notify without metadata; everything else carries it.
func TestCarriesMeta(t *testing.T) {
	for method, want := range map[string]bool{
		"Add": true, "Clock.Now": true, MethodCall: true, "$": true, "$x": true, "": true,
		MethodPing: false, MethodShutdown: false, MethodCancel: false, MethodProgress: false,
		MethodAsync: false, MethodHandshake: false, "$/future": false,
	} {
		assert.Equal(t, want, carriesMeta(method), method)
	}
}

func TestParseDeadline(t *testing.T) {
	for _, s := range []string{"2026-12-01T21:50:00.123Z", "2026-12-01t21:50:00z", "2026-12-01T21:50:00+01:00", "2026-12-01T21:50:00.123456789-07:30"} {
		_, err := parseDeadline(s)
		assert.NoError(t, err, s)
	}
	for _, s := range []string{"", "tomorrow", "2026-12-01", "2026-12-01T21:50:00", "2026-12-01 21:50:00Z", "2026-12-01T25:50:00Z", "2026-12-01T21:50:00zz", "2026-12-01ẗ21:50:00Z"} {
		_, err := parseDeadline(s)
		assert.Error(t, err, s)
	}
}

// FuzzTakeMeta holds takeMeta, through RequestContext, to what encoding/json
// makes of the same params: the input that is left is the params without
// their _meta members, still valid JSON, and nothing else changes.
func FuzzTakeMeta(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":2,"_meta":{"trace":"t","deadline":"2026-12-01T21:50:00.123Z"}}`,
		`{"value":5,"_meta":{"trace":"t-1","progressToken":1}}`,
		`{"_meta":{"trace":"x"},"a":1,"b":2}`,
		`{"a":1,"_meta":{"trace":"x"},"b":2}`,
		`{"_meta":{"trace":"x"}}`,
		`{"_meta":null}`,
		`{"_meta":{}}`,
		` { "a" : 1 , "_meta" : { "traceparent" : "00-x-y-01" , "tracestate" : "k=v" } , "b" : [ 2 ] } `,
		"{\n\t\"a\": 1,\n\t\"_meta\": {\"deadline\": \"2026-12-01t21:50:00z\"}\r\n}",
		`{"\u005fmeta":{"trace":"x"},"a":1}`,
		`{"\u005f\u006d\u0065\u0074\u0061":{}}`,
		`{"a":1,"_meta":{},"a":2}`,
		`{"_meta":{},"_meta":{}}`,
		`{"_meta":{},"\u005fmeta":null}`,
		`{"_meta":"x"}`,
		`{"_meta":5,"a":1}`,
		`{"_meta":[]}`,
		`{"_meta":{"deadline":"tomorrow"}}`,
		`{"_meta":{"deadline":5}}`,
		`{"_meta":{"trace":5}}`,
		`{"_meta":{"progressToken":{}}}`,
		`{"_meta":{"progressToken":"tok"}}`,
		`{"_meta":{"Trace":"x","DEADLINE":"2026-12-01T21:50:00Z"}}`,
		`{"a":{"_meta":{"trace":"no"}},"_meta":{"trace":"x"}}`,
		`{"a":"\"_meta\":{}","_meta":{},"b":"\\"}`,
		`{"_Meta":1,"meta":2}`,
		`{"a":"\ud800","\ud800":1,"_meta":{}}`,
		`{}`,
		`{ }`,
		`[{"_meta":{}}]`,
		`[1,2]`,
		`5`,
		`"_meta"`,
		`null`,
		``,
		`{`,
		`{"_meta":`,
		`{"_meta":{}`,
		`{"a":1,"_meta":{}}}`,
		`{"a":1,,"_meta":{}}`,
		`{"_meta"::{}}`,
		`{"a":1 "_meta":{}}`,
		`{"a":]`,
		`{"_meta":{"x":"\`,
		strings.Repeat(`{"a":`, 50) + `1` + strings.Repeat(`}`, 50),
	} {
		f.Add([]byte(s))
	}
	c := newProtocol2Conn()
	f.Fuzz(func(t *testing.T, params []byte) {
		orig := bytes.Clone(params)
		m := request2Of(params)
		ctx, cancel, err := c.RequestContext(context.Background(), m)
		_, hasDeadline := ctx.Deadline()
		cancel()
		if err != nil && !errors.Is(err, ErrInvalidParams) {
			t.Fatalf("error %v does not wrap ErrInvalidParams", err)
		}
		// Input must not panic, whatever the params were.
		objIn, objErr := m.Input(true)
		valIn, valErr := m.Input(false)
		if !json.Valid(orig) {
			return // decode never hands such params over
		}
		if !isObjectText(orig) {
			if err != nil || hasDeadline || !bytes.Equal(m.Params, orig) {
				t.Fatalf("params that are not an object: err %v, deadline %v, params %q", err, hasDeadline, m.Params)
			}
			return
		}
		metas, ok := countKey(orig, metaMember)
		if !ok {
			t.Fatalf("valid object %q not read by encoding/json", orig)
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(orig, &want); err != nil {
			t.Fatalf("valid object %q: %v", orig, err)
		}
		meta, hasMeta := want[metaMember]
		delete(want, metaMember)
		switch {
		case metas >= 2:
			if err == nil {
				t.Fatalf("%d _meta members taken: %q", metas, orig)
			}
			return
		case metas == 0:
			if err != nil || hasDeadline || !bytes.Equal(m.Params, orig) {
				t.Fatalf("params without _meta changed: err %v, deadline %v, %q to %q", err, hasDeadline, orig, m.Params)
			}
		case string(meta) == "null" || compactJSON(t, meta) == "{}":
			if err != nil {
				t.Fatalf("a _meta of %s refused: %v", meta, err)
			}
		case !hasMeta || meta[0] != '{':
			if err == nil {
				t.Fatalf("a _meta of %s taken", meta)
			}
		}
		if err != nil {
			return
		}
		if !json.Valid(m.Params) {
			t.Fatalf("params %q left as %q, not valid JSON", orig, m.Params)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(m.Params, &got); err != nil {
			t.Fatalf("params %q left as %q: %v", orig, m.Params, err)
		}
		if len(got) != len(want) {
			t.Fatalf("params %q left as %q: %d members, want %d", orig, m.Params, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("params %q left as %q: member %q is %s, want %s", orig, m.Params, k, got[k], v)
			}
		}
		if objErr != nil || !bytes.Equal(objIn, m.Params) {
			t.Fatalf("object input of %q: %q, %v", m.Params, objIn, objErr)
		}
		if valErr != nil || !bytes.Equal(valIn, want["value"]) {
			t.Fatalf("value input of %q: %q, %v; want %q", m.Params, valIn, valErr, want["value"])
		}
	})
}

// A progress token is a string or an integer: a number with a fraction
// or an exponent is neither, whatever its sign.
func TestProgressTokenNotAnInteger(t *testing.T) {
	for _, tok := range []string{"-1.5", "-1e3", "-0.5E2", "1.5", "true"} {
		m := &Envelope{Params: []byte(`{"a":1,"_meta":{"progressToken":` + tok + `}}`)}
		_, err := m.takeMeta()
		require.ErrorIs(t, err, ErrInvalidParams, "progressToken %s", tok)
		require.ErrorContains(t, err, "_meta.progressToken: want a string or an integer", "progressToken %s", tok)
	}
	for _, tok := range []string{"-1", "7", `"t"`} {
		m := &Envelope{Params: []byte(`{"a":1,"_meta":{"progressToken":` + tok + `}}`)}
		md, err := m.takeMeta()
		require.NoError(t, err, "progressToken %s", tok)
		require.Equal(t, tok, md.ProgressToken.String())
	}
}

// TestAppendDeadlineIsTheLayout: the hand-written deadline is byte for
// byte what time.AppendFormat writes with deadlineLayout, truncated, for
// times across the years, in any zone, and at the edges of a second.
func TestAppendDeadlineIsTheLayout(t *testing.T) {
	east := time.FixedZone("east", 5*3600+1800)
	times := []time.Time{
		time.Date(2026, 12, 1, 21, 50, 0, 123_456_789, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2027, 1, 1, 3, 29, 59, 999_000_000, east),
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(r.Int64N(1<<35)-1<<34, r.Int64N(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().Truncate(time.Millisecond).AppendFormat([]byte("x"), deadlineLayout)
		require.Equal(t, string(want), string(appendDeadline([]byte("x"), tm)), "%v", tm)
	}
}
