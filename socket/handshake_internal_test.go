package socket

import (
	"crypto/sha256"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

func TestScanHandshake(t *testing.T) {
	for _, tc := range []struct {
		params        string
		token, launch string
		functions     string
		objects       int
		members       int
		tooLong       bool
		err           string
	}{
		{params: ``},
		{params: ` null `},
		{params: `{}`},
		{params: ` { "name" : "x" , "token" : "t0k" } `, token: "t0k"},
		{params: `{"token":"a\"b\u00e9\\c","launch":"L-1"}`, token: `a"bé\c`, launch: "L-1"},
		{params: `{"token":null,"launch":null,"functions":null}`},
		{params: `{"Token":"x","TOKEN":"y","\u0074oken":"z"}`}, // only the exact name counts
		{params: `{"functions":{"F":{"input":{"type":"struct","fields":[{},{"name":"}{"}]}}},"token":"t"}`,
			token: "t", functions: `{"F":{"input":{"type":"struct","fields":[{},{"name":"}{"}]}}}`, objects: 5, members: 1},
		{params: `{"other":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `,"token":"deep"}`, token: "deep"},
		{params: `{"functions":[{},{}]}`, functions: `[{},{}]`, objects: 2},
		{params: `{"functions":{"A":{"input":{"type":"int"}}, "B" : {}, "C:D":null}}`,
			functions: `{"A":{"input":{"type":"int"}}, "B" : {}, "C:D":null}`, objects: 5, members: 3},
		{params: `{"token":"` + strings.Repeat("t", maxToken-2) + `"}`, token: strings.Repeat("t", maxToken-2)},
		{params: `{"token":"` + strings.Repeat("t", maxToken-1) + `","launch":"` + strings.Repeat("l", maxLaunch) + `"}`, tooLong: true},
		{params: `"keeper"`, err: "params are not an object"},
		{params: `[1]`, err: "params are not an object"},
		{params: `{"token":1}`, err: `member "token" is not a string`},
		{params: `{"launch":{}}`, err: `member "launch" is not a string`},
		{params: `{"token":"a","token":"b"}`, err: `member "token" appears twice`},
		{params: `{"functions":{},"functions":{}}`, err: `member "functions" appears twice`},
		{params: `{"token":"a"`, err: "params are not an object"},
		{params: `{"token" "a"}`, err: "params are not an object"},
		{params: `{"token":"a"} x`, err: "params are not an object"},
		{params: `{"a":[}`, err: "params are not an object"},
		{params: `{"a":"`, err: "params are not valid JSON"},
	} {
		sc, err := scanHandshake([]byte(tc.params))
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, tc.params)
			continue
		}
		require.NoError(t, err, tc.params)
		assert.Equal(t, tc.token, sc.token, tc.params)
		assert.Equal(t, tc.launch, sc.launch, tc.params)
		assert.Equal(t, tc.functions, string(sc.functions), tc.params)
		assert.Equal(t, tc.objects, sc.objects, tc.params)
		assert.Equal(t, tc.members, sc.members, tc.params)
		assert.Equal(t, tc.tooLong, sc.tokenTooLong, tc.params)
	}
}

// The scan is what a stranger's handshake costs before the token check:
// nothing, however large or deep the params.
func TestScanHandshakeAllocatesNothing(t *testing.T) {
	params := []byte(`{"name":"stranger","functions":{"F":{"input":{"type":"struct","fields":[` +
		strings.Repeat(`{},`, 1<<20) + `{}]}}},"other":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `,"token":"guess"}`)
	var sc handshakeScan
	allocs := testing.AllocsPerRun(5, func() {
		sc, _ = scanHandshake(params)
	})
	assert.Equal(t, "guess", sc.token)
	assert.Equal(t, 1<<20+4, sc.objects)
	assert.Equal(t, 1, sc.members)
	assert.LessOrEqual(t, allocs, 1.0, "the token's string, at most")
}

// A shared description is decoded once, and leaves the cache when the last
// info that uses it is collected.
func TestSharedFunctionsAreReleased(t *testing.T) {
	raw := `{"F":{"name":"F","input":{"name":"In","type":"struct","fields":[{"name":"a","type":"[]int","mandatory":true}]}}}`
	sc := handshakeScan{functions: []byte(raw), objects: 4, members: 1}
	key := sha256.Sum256(sc.functions)
	cached := func() bool {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		return shared.m[key] != nil
	}

	fns1, _, release1, err := sharedFunctions(sc, 1<<20, farOff)
	require.NoError(t, err)
	fns2, _, release2, err := sharedFunctions(sc, 1<<20, farOff)
	require.NoError(t, err)
	assert.Same(t, fns1["F"].Input, fns2["F"].Input, "one copy for both")
	assert.Equal(t, typedesc.Function{Name: "F", Input: &typedesc.Entity{Name: "In", Type: "struct",
		Fields: []typedesc.Entity{{Name: "a", Type: "[]int", Mandatory: true}}}}, fns1["F"])
	release1()
	assert.True(t, cached())
	release2()
	assert.False(t, cached())

	// Through the cleanup the handshake attaches to each info.
	func() {
		fns, _, release, err := sharedFunctions(sc, 1<<20, farOff)
		require.NoError(t, err)
		info := &struct{ fns map[string]typedesc.Function }{fns}
		runtime.AddCleanup(info, func(release func()) { release() }, release)
		assert.True(t, cached())
		runtime.KeepAlive(info)
	}()
	require.Eventually(t, func() bool { runtime.GC(); return !cached() }, 5*time.Second, time.Millisecond)

	_, _, _, err = sharedFunctions(handshakeScan{functions: []byte(`{"F":"x"}`), objects: 1}, 1<<20, farOff)
	assert.ErrorContains(t, err, "functions: json: cannot unmarshal string")
	_, _, _, err = sharedFunctions(handshakeScan{functions: []byte(raw), objects: 1023, members: 2}, 1024, farOff)
	assert.EqualError(t, err, "functions are too large: they count 1025 (each JSON object or null one, each function two); at most 1024 allowed with a 1024-byte frame limit")
	_, _, release, err := sharedFunctions(handshakeScan{functions: []byte(raw), objects: 4, members: 1}, 1024, farOff)
	require.NoError(t, err, "small frame limits still admit 1024")
	release()
	assert.False(t, cached())
}
