package typedesc_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/plugsock/plugsock/typedesc"
)

type Reading struct {
	Sensor string    `json:"sensor"`
	At     time.Time `json:"at"`
	Values []Sample  `json:"values"`
	Note   string    `json:"note,omitempty"`
}

type Sample struct {
	Celsius float64 `json:"celsius"`
	Quality uint8   `json:"quality,omitempty"`
}

func ExampleTypeDescription() {
	e := typedesc.TypeDescription(Reading{})
	b, _ := json.MarshalIndent(e, "", "  ")
	fmt.Println(string(b))
	// Output:
	// {
	//   "name": "Reading",
	//   "type": "struct",
	//   "fields": [
	//     {
	//       "name": "sensor",
	//       "type": "string",
	//       "mandatory": true
	//     },
	//     {
	//       "name": "at",
	//       "type": "string",
	//       "mandatory": true
	//     },
	//     {
	//       "name": "values",
	//       "type": "[]struct",
	//       "mandatory": true,
	//       "fields": [
	//         {
	//           "name": "celsius",
	//           "type": "float64",
	//           "mandatory": true
	//         },
	//         {
	//           "name": "quality",
	//           "type": "uint8"
	//         }
	//       ]
	//     },
	//     {
	//       "name": "note",
	//       "type": "string"
	//     }
	//   ]
	// }
}

func ExampleEntity_JSONSchema() {
	e := typedesc.TypeDescription(Sample{})
	b, _ := json.Marshal(e.JSONSchema()) // maps marshal with sorted keys
	fmt.Println(string(b))
	// Output:
	// {"properties":{"celsius":{"type":"number"},"quality":{"maximum":255,"minimum":0,"type":"integer"}},"required":["celsius"],"type":"object"}
}

func ExampleEntity_Validate() {
	e := typedesc.TypeDescription(Reading{})
	for _, payload := range []string{
		`{"sensor":"s1","at":"2025-01-02T03:04:05Z","values":[{"celsius":21.5}]}`,
		`{"sensor":"s1","at":"2025-01-02T03:04:05Z"}`,
		`{"sensor":"s1","at":"2025-01-02T03:04:05Z","values":[{"celsius":21.5},{"celsius":"hot"}]}`,
		`{"sensor":"s1","at":"2025-01-02T03:04:05Z","values":[{"celsius":21.5,"quality":300}]}`,
	} {
		err := e.Validate([]byte(payload))
		fmt.Println(errors.Is(err, typedesc.ErrInvalid), err)
	}
	// Output:
	// false <nil>
	// true payload does not match description: field "values": mandatory field is missing
	// true payload does not match description: field "values[1].celsius": expected float64, got string
	// true payload does not match description: field "values[0].quality": expected uint8, got number 300
}

func ExampleRefine() {
	reflected := typedesc.TypeDescription(Sample{})
	// The author knows quality is required even though it is omitempty.
	refined := &typedesc.Entity{Fields: []typedesc.Entity{{Name: "quality", Mandatory: true}}}
	got, err := typedesc.Refine(reflected, refined)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range got.Fields {
		fmt.Println(f.Name, f.Mandatory)
	}
	// Output:
	// celsius true
	// quality true
}

type Status string

// Enum lists a Status's values, which the schemas give as "enum".
func (Status) Enum() []Status { return []Status{"draft", "live", "retired"} }

type Product struct {
	Name      string    `json:"name" jsonschema:"What the product is called."`
	Price     int64     `json:"price" plugsock:"required,minimum=0"`
	SKU       string    `json:"sku,omitempty" plugsock:"pattern=^[A-Z]{3}-[0-9]{4}$"`
	Status    Status    `json:"status" plugsock:"optional"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

func ExampleSchema_Validate() {
	raw, err := typedesc.InputSchema(reflect.TypeFor[Product]())
	if err != nil {
		fmt.Println(err)
		return
	}
	schema, err := typedesc.CompileSchema(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, payload := range []string{
		`{"price": 5, "created_at": "2024-05-06T07:08:09Z", "supplier": null}`,
		`{"price": 5, "PRICE": 6, "Name": "Kettle"}`,
		`{"price": 5, "created_at": "yesterday"}`,
		`{"price": 5.0}`,
		`{"price": -1}`,
		`{"Price": 5}`,
		`{"price": 5, "status": "gone"}`,
		`{"price": 5, "sku": "abc"}`,
	} {
		fmt.Println(schema.Validate([]byte(payload)))
	}
	// Output:
	// <nil>
	// <nil>
	// payload does not match description: /created_at: want an RFC 3339 date-time, got "yesterday"
	// payload does not match description: /price: want an integer that fits an int64, written without fraction or exponent, got 5.0
	// payload does not match description: /price: want at least 0, got -1
	// payload does not match description: /price: missing, and required
	// payload does not match description: /status: want one of "draft", "live", "retired", null, got "gone"
	// payload does not match description: /sku: want a string matching ^[A-Z]{3}-[0-9]{4}$, got "abc"
}

func ExampleOutputSchema() {
	raw, err := typedesc.OutputSchema(reflect.TypeFor[Product]())
	if err != nil {
		fmt.Println(err)
		return
	}
	var schema struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(schema.Required)
	fmt.Println(string(schema.Properties["name"]))
	fmt.Println(string(schema.Properties["status"]))
	fmt.Println(string(schema.Properties["created_at"]))
	// Output:
	// [name price]
	// {"description":"What the product is called.","type":"string"}
	// {"type":"string","enum":["draft","live","retired"]}
	// {"type":"string","format":"date-time"}
}
