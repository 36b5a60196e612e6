package typedesc_test

import (
	"encoding/json"
	"errors"
	"fmt"
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
	for _, f := range typedesc.Refine(reflected, refined).Fields {
		fmt.Println(f.Name, f.Mandatory)
	}
	// Output:
	// celsius true
	// quality true
}
