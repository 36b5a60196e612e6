package typedesc_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

type Shop struct {
	ID     int64             `json:"id"`
	Small  int8              `json:"small,omitempty"`
	Count  uint16            `json:"count,omitempty"`
	Ratio  float32           `json:"ratio,omitempty"`
	Paid   bool              `json:"paid"`
	Items  []Item            `json:"items"`
	Tags   map[string]string `json:"tags,omitempty"`
	ByID   map[int16]*Item   `json:"by_id,omitempty"`
	Extra  any               `json:"extra,omitempty"`
	Raw    json.RawMessage   `json:"raw,omitempty"`
	Matrix [][2]uint8        `json:"matrix,omitempty"`
	Owner  *Item             `json:"owner,omitempty"`
}

func TestValidate(t *testing.T) {
	shop := typedesc.TypeDescription(Shop{})
	require.NotNil(t, shop)
	for _, tc := range []struct {
		name, payload, err string // err "" means valid
	}{
		{"minimal", `{"id":1,"paid":true,"items":[]}`, ""},
		{"full", `{"id":-9223372036854775808,"small":-128,"count":65535,"ratio":1.5e3,"paid":false,
			"items":[{"name":"a","price":1},{"name":"b","price":2.5e-3}],
			"tags":{"k":"v"},"by_id":{"-7":{"name":"c","price":0}},"extra":{"any":[1,"x",null]},
			"raw":[true],"matrix":[[1,2],[3]],"owner":{"name":"o","price":1}}`, ""},
		{"nulls everywhere", `{"id":null,"paid":null,"items":[null],"tags":{"k":null},"owner":null,"small":null}`, ""},
		{"unknown fields", `{"id":1,"paid":true,"items":[],"mystery":{"deep":[1,2,{"x":null}]}}`, ""},
		{"case-insensitive keys", `{"ID":1,"Paid":true,"ITEMS":[{"NAME":"a","Price":1}]}`, ""},
		{"duplicate keys", `{"id":1,"paid":true,"items":[],"id":2}`, ""},
		{"whitespace", " \n\t{\"id\":1,\"paid\":true,\"items\":[]}\r\n ", ""},

		{"empty", ``, `field "id": mandatory field is missing`},
		{"null", `null`, `field "id": mandatory field is missing`},
		{"missing", `{"id":1,"items":[]}`, `field "paid": mandatory field is missing`},
		{"missing nested", `{"id":1,"paid":true,"items":[{"name":"a","price":1},{"name":"b"}]}`,
			`field "items[1].price": mandatory field is missing`},
		{"wrong nested type", `{"id":1,"paid":true,"items":[{"name":"a","price":1},{"name":"a","price":1},{"name":"c","price":"9.99"}]}`,
			`field "items[2].price": expected float64, got string`},
		{"wrong top type", `[1]`, `expected struct, got array`},
		{"string for int", `{"id":"1","paid":true,"items":[]}`, `field "id": expected int64, got string`},
		{"fraction for int", `{"id":1.5,"paid":true,"items":[]}`, `field "id": expected int64, got number 1.5`},
		{"1.0 for int", `{"id":1.0,"paid":true,"items":[]}`, `field "id": expected int64, got number 1.0`},
		{"exponent for int", `{"id":1e3,"paid":true,"items":[]}`, `field "id": expected int64, got number 1e3`},
		{"int8 overflow", `{"id":1,"small":128,"paid":true,"items":[]}`, `field "small": expected int8, got number 128`},
		{"negative uint", `{"id":1,"count":-1,"paid":true,"items":[]}`, `field "count": expected uint16, got number -1`},
		{"float32 overflow", `{"id":1,"ratio":1e39,"paid":true,"items":[]}`, `field "ratio": expected float32, got number 1e39`},
		{"bool as number", `{"id":1,"paid":1,"items":[]}`, `field "paid": expected bool, got number`},
		{"object for slice", `{"id":1,"paid":true,"items":{}}`, `field "items": expected []struct, got object`},
		{"array for map", `{"id":1,"paid":true,"items":[],"tags":[]}`, `field "tags": expected map[string]string, got array`},
		{"map value", `{"id":1,"paid":true,"items":[],"tags":{"a":"b","c":1}}`, `field "tags.c": expected string, got number`},
		{"map key", `{"id":1,"paid":true,"items":[],"by_id":{"x":null}}`, `field "by_id": expected int16 key, got "x"`},
		{"map key range", `{"id":1,"paid":true,"items":[],"by_id":{"40000":null}}`, `field "by_id": expected int16 key, got "40000"`},
		{"array element", `{"id":1,"paid":true,"items":[],"matrix":[[1],[2,256]]}`, `field "matrix[1][1]": expected uint8, got number 256`},
		{"case-insensitive key checked", `{"id":1,"paid":true,"items":[],"OWNER":{"name":true}}`, `field "owner.name": expected string, got bool`},
		{"duplicate key checked", `{"id":1,"paid":true,"items":[],"id":"x"}`, `field "id": expected int64, got string`},
		// encoding/json v2 (GOEXPERIMENT=jsonv2) words it "unexpected end of JSON input".
		{"syntax", `{"id":1,`, `unexpected EOF|unexpected end of JSON input`},
		{"bad token", `{"id":01}`, `invalid character`},
		{"trailing", `{"id":1,"paid":true,"items":[]} {}`, `unexpected data after top-level value`},
		{"trailing garbage", `{"id":1,"paid":true,"items":[]}x`, `unexpected data after top-level value`},
		{"bad unknown value", `{"id":1,"paid":true,"items":[],"x":[1,}`, `invalid character`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := shop.Validate([]byte(tc.payload))
			if tc.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, typedesc.ErrInvalid)
			// Alternatives are separated by "|".
			assert.True(t, slices.ContainsFunc(strings.Split(tc.err, "|"), func(want string) bool {
				return strings.Contains(err.Error(), want)
			}), "%q contains one of %q", err, tc.err)
		})
	}
}

func TestValidateErrorMessage(t *testing.T) {
	err := typedesc.TypeDescription(Shop{}).Validate([]byte(`{"id":1,"paid":true,"items":[{},{},{"name":"x","price":"1"}]}`))
	require.Error(t, err)
	// Mandatory fields of earlier items are reported first, in document order.
	assert.EqualError(t, err, `payload does not match description: field "items[0].name": mandatory field is missing`)

	err = typedesc.TypeDescription([]Item{}).Validate([]byte(`[{"name":"a","price":1},{"name":"b","price":true}]`))
	assert.EqualError(t, err, `payload does not match description: field "[1].price": expected float64, got bool`)
	assert.True(t, errors.Is(err, typedesc.ErrInvalid))
}

func TestValidateNilAndEmpty(t *testing.T) {
	var nilEntity *typedesc.Entity
	for _, p := range []string{"", " ", "null", `{"a":[1,{}]}`, `"s"`, `1e400`} {
		assert.NoError(t, nilEntity.Validate([]byte(p)), p)
	}
	for _, p := range []string{"{", "nul", `"a" "b"`, "\v"} {
		assert.ErrorIs(t, nilEntity.Validate([]byte(p)), typedesc.ErrInvalid, p)
	}
	assert.NoError(t, nilEntity.Validate(nil))

	optional := &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{field("a", "int", false)}}
	assert.NoError(t, optional.Validate(nil))
	assert.NoError(t, optional.Validate([]byte("null")))

	mandatory := &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{field("a", "int", true)}}
	assert.ErrorIs(t, mandatory.Validate(nil), typedesc.ErrInvalid)
	assert.NoError(t, mandatory.Validate([]byte(`{"a":null}`)), "a null field is present")

	list := &typedesc.Entity{Type: "[]struct", Fields: []typedesc.Entity{field("a", "int", true)}}
	assert.NoError(t, list.Validate(nil), "only a struct's own fields are required of an empty payload")
	assert.NoError(t, (&typedesc.Entity{Type: "int"}).Validate(nil))
}

func TestValidateForeignAndTruncatedTypes(t *testing.T) {
	foreign := &typedesc.Entity{Type: "struct", Fields: []typedesc.Entity{
		field("id", "uuid", true),
		field("ids", "[]uuid", true),
		field("opts", "map[string]opt", true),
	}}
	assert.NoError(t, foreign.Validate([]byte(`{"id":{"x":[1]},"ids":[1,"a",{}],"opts":{"a":[true]}}`)))
	assert.ErrorIs(t, foreign.Validate([]byte(`{"id":1,"ids":"a","opts":{}}`)), typedesc.ErrInvalid,
		"a known container of an unknown type is still a container")

	node := typedesc.TypeDescription(Node{})
	assert.NoError(t, node.Validate([]byte(`{"value":1,"next":{"value":"anything goes this deep","x":{}}}`)))
	assert.Error(t, node.Validate([]byte(`{"value":1,"next":"x"}`)))
	assert.Error(t, node.Validate([]byte(`{"value":1,"children":[{"a":1},2]}`)))
}

func TestValidateDepth(t *testing.T) {
	nested := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	for _, e := range []*typedesc.Entity{nil, {Type: "any"}, {Type: "struct", Fields: []typedesc.Entity{field("x", "any", false)}}} {
		for _, n := range []int{9999, 10000, 10001, 100000} {
			payload := nested(n)
			if e != nil && e.Type == "struct" {
				payload = []byte(`{"x":` + string(nested(n-1)) + `}`)
			}
			var v any
			jsonErr := json.Unmarshal(payload, &v)
			err := e.Validate(payload)
			assert.Equal(t, jsonErr == nil, err == nil, "depth %d: json says %v, Validate says %v", n, jsonErr, err)
		}
	}
	deep := &typedesc.Entity{Type: strings.Repeat("[]", 10001) + "int"}
	assert.ErrorIs(t, deep.Validate(nested(10001)), typedesc.ErrInvalid)
	// Such a description is past MaxDepth: payloads that reach beyond it
	// are refused for that, not checked level by level.
	assert.ErrorIs(t, deep.Validate(nested(10000)), typedesc.ErrTooDeep)
	assert.NoError(t, deep.Validate(nested(typedesc.MaxDepth)))
}

func TestValidateAgreesWithUnmarshal(t *testing.T) {
	shop := typedesc.TypeDescription(Shop{})
	for _, p := range []string{
		`{"id":1,"paid":true,"items":[],"small":-129}`,
		`{"id":1,"paid":true,"items":[],"count":1.0}`,
		`{"id":1,"paid":true,"items":[],"by_id":{"+5":null}}`,
		`{"id":1,"paid":true,"items":[],"by_id":{" 5":null}}`,
		`{"id":1,"paid":true,"items":[],"ratio":-0}`,
		`{"id":1,"paid":true,"items":[],"matrix":[[1,2,3]]}`,
		`{"id":1,"paid":true,"items":[],"ſmall":1}`,
		`{"id":1,"paid":true,"items":[],"ſmall":1.5}`,
	} {
		var s Shop
		jsonErr := json.Unmarshal([]byte(p), &s)
		err := shop.Validate([]byte(p))
		assert.Equal(t, jsonErr == nil, err == nil, "%s: json says %v, Validate says %v", p, jsonErr, err)
	}
}

// FuzzValidate checks that Validate never panics, rejects whatever is not
// JSON, and never passes a payload that encoding/json cannot decode into
// the described type.
func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `1`, `{"id":1,"paid":true,"items":[]}`,
		`{"id":1,"paid":true,"items":[{"name":"a","price":1.5}],"tags":{"a":"b"},"by_id":{"1":{"name":"b","price":2}}}`,
		`{"ID":1,"PAID":false,"Items":null,"small":127,"count":0,"ratio":3.4e38,"extra":[{},[]]}`,
		`{"id":1,"id":"x","paid":true,"items":[]}`,
		`{"id":1,"paid":true,"items":[],"matrix":[[255,0],[1]],"raw":{"a":[]},"owner":{"NAME":"o","price":-0}}`,
		`{"id":1e2}`, `{"small":-0}`, `[[[[]]]]`, `{"a":{"b":{"c":[1,2,{"d":null}]}}}`, `{"id":1,}`, `{"id" 1}`,
	} {
		f.Add([]byte(seed))
	}
	shop := typedesc.TypeDescription(Shop{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		var nilEntity *typedesc.Entity
		anyErr := nilEntity.Validate(payload)
		if len(strings.Trim(string(payload), " \t\r\n")) > 0 {
			if json.Valid(payload) {
				require.NoError(t, anyErr)
			} else {
				require.ErrorIs(t, anyErr, typedesc.ErrInvalid)
			}
		}

		err := shop.Validate(payload)
		if err != nil {
			require.ErrorIs(t, err, typedesc.ErrInvalid)
			return
		}
		if len(strings.Trim(string(payload), " \t\r\n")) > 0 {
			var s Shop
			require.NoError(t, json.Unmarshal(payload, &s), "Validate passed %q", payload)
		}
	})
}
