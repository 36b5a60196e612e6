package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/internal/jsonscan"
)

// member is a Member as text: its key as written, quotes included, and
// its value.
type member struct{ key, val string }

// members lists what Members reports for the object at p[i:].
func members(p []byte, i int) (got []member, end int, ok bool) {
	end, ok = jsonscan.Members(p, i, func(m jsonscan.Member) bool {
		got = append(got, member{string(p[m.Key:m.KeyEnd]), string(p[m.Val:m.End])})
		return true
	})
	return got, end, ok
}

// decoded lists the members of the object s as encoding/json reads them,
// in order: keys decoded, values compacted.
func decoded(t *testing.T, s string) []member {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
		out = append(out, member{tok.(string), compact(t, v)})
	}
	return out
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b))
	return buf.String()
}

func TestMembers(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []member
	}{
		{"empty", `{}`, nil},
		{"empty with space", " {  \n\t} ", nil},
		{"one", `{"a":1}`, []member{{`"a"`, `1`}}},
		{"in order, duplicates kept", `{"b":1,"a":2,"b":3}`, []member{{`"b"`, `1`}, {`"a"`, `2`}, {`"b"`, `3`}}},
		{"every kind of value", `{"s":"x","n":-1.5e+3,"t":true,"f":false,"z":null,"o":{"a":[1,{}]},"l":[]}`, []member{
			{`"s"`, `"x"`}, {`"n"`, `-1.5e+3`}, {`"t"`, `true`}, {`"f"`, `false`}, {`"z"`, `null`},
			{`"o"`, `{"a":[1,{}]}`}, {`"l"`, `[]`},
		}},
		{"space everywhere", "{ \"a\" :\t1 ,\r\n \"b\" : [ 1 , 2 ] , \"c\" : { } }", []member{{`"a"`, `1`}, {`"b"`, `[ 1 , 2 ]`}, {`"c"`, `{ }`}}},
		{"strings with brackets and escapes", `{"k\"}":"}\"{","e":"\\","u":"\u007d]","{":"["}`, []member{
			{`"k\"}"`, `"}\"{"`}, {`"e"`, `"\\"`}, {`"u"`, `"\u007d]"`}, {`"{"`, `"["`},
		}},
		{"escaped key", `{"\u005fmeta":{"trace":"x"}}`, []member{{`"\u005fmeta"`, `{"trace":"x"}`}}},
		{"empty key", `{"":0}`, []member{{`""`, `0`}}},
		{"deep", `{"d":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `,"e":1}`, []member{
			{`"d"`, strings.Repeat("[", 5000) + strings.Repeat("]", 5000)}, {`"e"`, `1`},
		}},
	}
	for _, tt := range tests {
		p := []byte(tt.json)
		got, end, ok := members(p, 0)
		require.True(t, ok, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
		assert.Equal(t, len(strings.TrimRight(tt.json, " \t\r\n")), end, "%s: the end of the object", tt.name)

		// The same members as encoding/json reads, in the same order.
		want := decoded(t, tt.json)
		require.Len(t, got, len(want), tt.name)
		for i, m := range got {
			var key string
			require.NoError(t, json.Unmarshal([]byte(m.key), &key), tt.name)
			assert.Equal(t, want[i].key, key, tt.name)
			assert.Equal(t, want[i].val, compact(t, []byte(m.val)), tt.name)
		}
	}
}

// The object may start anywhere in p, after white space, and end before
// p does.
func TestMembersOffset(t *testing.T) {
	p := []byte(`[1, {"a":{"b":2}} ,3]`)
	got, end, ok := members(p, 3)
	require.True(t, ok)
	assert.Equal(t, []member{{`"a"`, `{"b":2}`}}, got)
	assert.Equal(t, 17, end)
	assert.Equal(t, byte('}'), p[end-1])

	got, end, ok = members([]byte(`{"a":1}{"b":2}`), 7)
	require.True(t, ok)
	assert.Equal(t, []member{{`"b"`, `2`}}, got)
	assert.Equal(t, 14, end)
}

// fn returning false stops the walk at that member, whose value's end is
// returned.
func TestMembersStop(t *testing.T) {
	p := []byte(`{"a":1, "b":[2] ,"c":3}`)
	var keys []string
	end, ok := jsonscan.Members(p, 0, func(m jsonscan.Member) bool {
		keys = append(keys, string(p[m.Key:m.KeyEnd]))
		return len(keys) < 2
	})
	require.True(t, ok)
	assert.Equal(t, []string{`"a"`, `"b"`}, keys)
	assert.Equal(t, strings.Index(string(p), "]")+1, end)

	// Stopped at the first, the rest is not looked at, valid or not.
	calls := 0
	end, ok = jsonscan.Members([]byte(`{"a":1,garbage`), 0, func(jsonscan.Member) bool { calls++; return false })
	assert.True(t, ok)
	assert.Equal(t, 1, calls)
	assert.Equal(t, 6, end)
}

// What is not an object, or not a whole one, is reported as such, never
// with a panic; fn is not called for what follows the break.
func TestMembersNotAnObject(t *testing.T) {
	for _, s := range []string{
		``, ` `, `[]`, `[{"a":1}]`, `"{}"`, `1`, `null`, `true`, `}`,
		`{`, ` {  `, `{"a"`, `{"a":`, `{"a" `, `{"a":1`, `{"a":1 `, `{"a":1,`, `{"a":1,}`, `{,}`, `{,"a":1}`,
		`{"a" 1}`, `{a:1}`, `{'a':1}`, `{"a":1 "b":2}`, `{"a":}`, `{"a":,"b":1}`,
		`{"a":"unterminated}`, `{"a":"x\"}`, `{"a\":1}`, `{"a":"\`, `{"a":{"b":1}`, `{"a":[1,2}`,
		`{"a":[`, `{"a":1]`,
	} {
		calls := 0
		var seen []string
		end, ok := jsonscan.Members([]byte(s), 0, func(m jsonscan.Member) bool {
			calls++
			seen = append(seen, s[m.Key:m.End])
			return true
		})
		assert.False(t, ok, "%q: %v", s, seen)
		assert.Zero(t, end, s)
		assert.LessOrEqual(t, calls, strings.Count(s, ":"), s)
	}
	// Past the end of p.
	_, ok := jsonscan.Members([]byte(`{}`), 5, func(jsonscan.Member) bool { return true })
	assert.False(t, ok)
}

// Members walks any depth without recursion and allocates nothing.
func TestMembersAllocs(t *testing.T) {
	p := []byte(`{"a":1,"b":{"c":[1,2,{"d":"e"}]},"f":"g"}`)
	n := 0
	fn := func(jsonscan.Member) bool { n++; return true }
	allocs := testing.AllocsPerRun(100, func() { jsonscan.Members(p, 0, fn) })
	assert.Zero(t, allocs)
	assert.Equal(t, 3*101, n)

	deep := []byte(`{"a":` + strings.Repeat(`{"a":`, 1_000_000) + `1` + strings.Repeat(`}`, 1_000_001))
	got, end, ok := members(deep, 0)
	require.True(t, ok)
	assert.Len(t, got, 1)
	assert.Equal(t, len(deep), end)
}
