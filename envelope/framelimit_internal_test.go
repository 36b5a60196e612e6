package envelope

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scanChunks scans body fed chunk bytes at a time.
func scanChunks(body []byte, chunk int) found {
	var s bodyScan
	for len(body) > 0 {
		n := min(chunk, len(body))
		s.feed(body[:n])
		body = body[n:]
	}
	return s.result()
}

func TestBodyScan(t *testing.T) {
	deep := `{"params":` + strings.Repeat(`[{"id":1,"a":`, 20000) + `0` + strings.Repeat(`}]`, 20000) + `,"id":3,"method":"deep"}`
	longKey := `{"` + strings.Repeat("a", 300) + `":1,"id":2,"result":0}`
	longID := `{"id":"` + strings.Repeat("x", 300) + `","method":"m"}`
	longMethod := `{"id":4,"method":"` + strings.Repeat("m", 300) + `"}`
	tests := []struct {
		name   string
		body   string
		object bool
		id     string // the id's JSON text; "" for none
		call   bool
		method string
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"a","params":{}}`, true, "1", true, "a"},
		{"id last", `{"jsonrpc":"2.0","method":"a","params":{"id":9,"x":[1,2]},"id":"abc"}`, true, `"abc"`, true, "a"},
		{"id only inside params", `{"jsonrpc":"2.0","method":"a","params":{"id":9,"b":[{"id":3}]}}`, true, "", true, "a"},
		{"id inside an array", `{"jsonrpc":"2.0","result":[{"id":9}],"x":["id",1]}`, true, "", false, ""},
		{"escaped quotes in a string", `{"method":"a","params":"\"id\":4, \\\"id\\\":5","id":7}`, true, "7", true, "a"},
		{"backslash before the closing quote", `{"params":"a\\","id":3,"result":null}`, true, "3", false, ""},
		{"string value that looks like a key", `{"x":"id","id":8,"result":1}`, true, "8", false, ""},
		{"escaped key", `{"\u0069d":5,"m\u0065thod":"m"}`, true, "5", true, "m"},
		{"null id", `{"id":null,"method":"n"}`, true, "", true, "n"},
		{"number forms", `{"id":-1.5e3,"result":1}`, true, "-1.5e3", false, ""},
		{"spaces everywhere", " \r\n{ \"id\" : 12 ,\t\"result\" : [ ] } \n", true, "12", false, ""},
		{"string id with escapes", `{"id":"a\"b\\c\u00e9","error":{"code":1}}`, true, `"a\"b\\c\u00e9"`, false, ""},
		{"duplicate id: the last", `{"id":1,"id":2,"result":0}`, true, "2", false, ""},
		{"id an object", `{"id":{"a":1},"method":"m"}`, true, "", true, "m"},
		{"id an array", `{"id":[1],"result":0}`, true, "", false, ""},
		{"id a boolean", `{"id":true,"method":"m"}`, true, "", true, "m"},
		{"method not a string", `{"id":1,"method":7}`, true, "1", true, ""},
		{"method an object", `{"id":1,"method":{"id":2}}`, true, "1", true, ""},
		{"deep nesting", deep, true, "3", true, "deep"},
		{"long key", longKey, true, "2", false, ""},
		{"id too long to keep", longID, true, "", true, "m"},
		{"method too long to keep", longMethod, true, "4", true, strings.Repeat("m", scanValueMax-1)},
		{"truncated", `{"id":1,"method":"a","params":{"x":`, false, "", false, ""},
		{"truncated in a string", `{"id":1,"method":"a","params":"abc`, false, "", false, ""},
		{"empty", ``, false, "", false, ""},
		{"an array", `[{"id":1,"method":"a"}]`, false, "", false, ""},
		{"a string", `"{\"id\":1}"`, false, "", false, ""},
		{"garbage", `hello`, false, "", false, ""},
		{"trailing data", `{"id":1,"method":"a"}x`, false, "", false, ""},
		{"two objects", `{"id":1,"method":"a"}{"id":2}`, false, "", false, ""},
		{"number key", `{1:2,"id":3,"method":"a"}`, true, "3", true, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{1, 2, 3, 7, 64, 4096, len(tt.body) + 1} {
				f := scanChunks([]byte(tt.body), chunk)
				assert.Equal(t, tt.object, f.object, "object, chunks of %d", chunk)
				want := ID{}
				if tt.id != "" {
					require.NoError(t, want.UnmarshalJSON([]byte(tt.id)))
				}
				assert.Equal(t, want, f.id, "id, chunks of %d", chunk)
				assert.Equal(t, tt.call, f.call, "call, chunks of %d", chunk)
				assert.Equal(t, tt.method, f.method, "method, chunks of %d", chunk)
			}
		})
	}
}

// TestBodyScanAllocs: the scan keeps nothing of the body, however long.
func TestBodyScanAllocs(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","method":"echo","params":{"data":"` + strings.Repeat("QUJD", 1<<16) + `","n":[1,{"id":2}]},"id":77}`)
	allocs := testing.AllocsPerRun(20, func() {
		var s bodyScan
		for b := body; len(b) > 0; {
			n := min(4096, len(b))
			s.feed(b[:n])
			b = b[n:]
		}
		if s.idLen == 0 {
			t.Fatal("no id")
		}
	})
	assert.Zero(t, allocs)
}

// FuzzBodyScan checks the scan against encoding/json: fed in any chunks,
// it finds in a valid object the top-level id encoding/json reads, and it
// never takes what is not one object for one.
func FuzzBodyScan(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"a"}`,
		`{"method":"a","params":{"id":9},"id":"x"}`,
		`{"params":"\"id\":4","id":7}`,
		`{"\u0069d":5}`,
		`{"id":null}`,
		`[{"id":1}]`,
		`{"a":[{"b":"}"}],"id":-0.5e-3}`,
		`{"id":1`,
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, body []byte, chunk uint8) {
		got := scanChunks(body, int(chunk)+1)
		assert.Equal(t, scanChunks(body, len(body)+1), got, "the chunking changed the result")
		var members map[string]json.RawMessage
		isObject := json.Valid(body) && bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{"))
		if !isObject {
			if json.Valid(body) {
				assert.False(t, got.object, "a valid non-object")
			}
			return
		}
		require.NoError(t, json.Unmarshal(body, &members))
		assert.True(t, got.object, "a valid object")
		var want ID
		if raw, ok := members["id"]; ok && len(bytes.TrimSpace(raw)) <= scanValueMax {
			if want.UnmarshalJSON(raw) != nil {
				want = ID{}
			}
		}
		if got.id != want {
			// encoding/json keeps the last of duplicate keys too, but
			// folds invalid UTF-8 in a key to U+FFFD; the scan does not.
			if bytes.ContainsRune(body, '\uFFFD') || !json.Valid(body) {
				return
			}
		}
		assert.Equal(t, want, got.id)
		_, hasMethod := members["method"]
		assert.Equal(t, hasMethod, got.call)
	})
}
