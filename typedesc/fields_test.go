package typedesc

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFoldKeyIsEqualFold(t *testing.T) {
	var runes []rune
	for r := rune(0); r < 0x3000; r++ {
		if unicode.SimpleFold(r) != r || r < 0x80 {
			runes = append(runes, r)
		}
	}
	runes = append(runes, 0x212A, 0x1E9E, 0xFF21, 0xFF41, 0x10400, 0x10428, unicode.ReplacementChar)
	// Each rune against its neighbours and its own orbit, where any
	// disagreement would be.
	for i, a := range runes {
		others := runes[max(0, i-40):min(len(runes), i+40)]
		for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
			others = append(others[:len(others):len(others)], f)
		}
		for _, b := range others {
			sa, sb := "x"+string(a), "x"+string(b)
			if strings.EqualFold(sa, sb) != (foldKey(sa) == foldKey(sb)) {
				t.Fatalf("%q and %q: EqualFold says %v, foldKey %q and %q", sa, sb, strings.EqualFold(sa, sb), foldKey(sa), foldKey(sb))
			}
		}
	}
	assert.Equal(t, foldKey("NAME"), foldKey("name"))
	assert.Equal(t, foldKey("ſmall"), foldKey("SMALL"))
	assert.Equal(t, "ID_2", foldKey("ID_2"))
}

// wide is a struct of n fields, f0 ... f(n-1), every third one mandatory,
// plus "Dup" and "dup", which differ only in case.
func wide(n int) *Entity {
	e := &Entity{Type: "struct"}
	for i := range n {
		e.Fields = append(e.Fields, Entity{Name: fmt.Sprintf("f%d", i), Type: "int", Mandatory: i%3 == 0})
	}
	e.Fields = append(e.Fields, Entity{Name: "Dup", Type: "string"}, Entity{Name: "dup", Type: "bool"})
	return e
}

func mandatoryOf(n int) string {
	var b strings.Builder
	for i := 0; i < n; i += 3 {
		fmt.Fprintf(&b, `"f%d":1,`, i)
	}
	return b.String()
}

// Long field lists are indexed; they must match keys exactly as short ones
// do, which search.
func TestValidateLongFieldLists(t *testing.T) {
	for _, n := range []int{4, 40} {
		e := wide(n)
		all := mandatoryOf(n)
		for _, tc := range []struct {
			payload, err string
		}{
			{`{` + all + `"x":[1,{"a":2}]}`, ""},
			{`{` + strings.ReplaceAll(all, `"f0"`, `"F0"`) + `"extra":1}`, ""},
			{`{` + all + `"f1":"one"}`, `field "f1": expected int, got string`},
			{`{` + all + `"F1":"one"}`, `field "f1": expected int, got string`},
			{`{` + all + `"Dup":"s","dup":true}`, ""},
			{`{` + all + `"dup":"s"}`, `field "dup": expected bool, got string`},
			{`{` + all + `"DUP":"s"}`, ""}, // the first case-insensitive match: Dup
			{`{` + all + `"DUP":true}`, `field "Dup": expected string, got bool`},
			{`{` + strings.Replace(all, `"f3":1,`, ``, 1) + `"f3x":1}`, `field "f3": mandatory field is missing`},
			{`{` + all + `"f0":1,"f0":2}`, ""},
			{`{}`, `field "f0": mandatory field is missing`},
			{`[{` + all + `},{` + all + `},{` + all[len(`"f0":1,`):] + `}]`, ""},
		} {
			payload := tc.payload
			target := e
			if strings.HasPrefix(payload, "[") {
				target = &Entity{Type: "[]struct", Fields: e.Fields}
				tc.err = `field "[2].f0": mandatory field is missing`
			}
			payload = strings.ReplaceAll(payload, ",}", "}")
			err := target.Validate([]byte(payload))
			if tc.err == "" {
				assert.NoError(t, err, "%d fields: %s", n, payload)
			} else if assert.Error(t, err, "%d fields: %s", n, payload) {
				assert.Equal(t, "payload does not match description: "+tc.err, err.Error(), "%d fields", n)
			}
		}
	}
}

// A struct of many fields and a payload of many objects: before, each
// object cost a flag per field, and the two sizes multiplied.
func TestValidateIsLinearInFieldsAndObjects(t *testing.T) {
	const fields, objects = 50_000, 20_000
	e := wide(fields)
	e.Type = "[]struct"
	for i := range e.Fields {
		e.Fields[i].Mandatory = false
	}
	e.Fields[fields/2].Mandatory = true
	payload := []byte("[" + strings.Repeat(fmt.Sprintf(`{"f%d":1,"F7":2},`, fields/2), objects-1) + fmt.Sprintf(`{"f%d":1}]`, fields/2))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	require.NoError(t, e.Validate(payload))
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d objects against %d fields: %d bytes allocated for a %d-byte payload", objects, fields, grew, len(payload))
	// The index of the fields, and the decoder's tokens: a few hundred
	// bytes per field and per object, where a flag per field per object
	// would be a gigabyte.
	assert.Less(t, grew, uint64(300*(fields+objects)))
}

// Two field lists that share their first field are still two lists.
func TestValidateFieldListsSharingAnArray(t *testing.T) {
	all := wide(40).Fields
	e := &Entity{Type: "struct", Fields: []Entity{
		{Name: "short", Type: "struct", Fields: all[:20]},
		{Name: "long", Type: "struct", Fields: all[:40]},
	}}
	err := e.Validate([]byte(`{"short":{` + mandatoryOf(20) + `"f0":1},"long":{` + mandatoryOf(20) + `"f0":1}}`))
	require.Error(t, err)
	assert.Equal(t, `payload does not match description: field "long.f21": mandatory field is missing`, err.Error())
	assert.NoError(t, e.Validate([]byte(`{"short":{`+mandatoryOf(20)+`"f0":1},"long":{`+mandatoryOf(40)+`"f0":1}}`)))
}
