//go:build goexperiment.jsonv2

package envelope

import "encoding/json"

// decodeValue decodes raw into v. Under encoding/json v2, Unmarshal
// allocates no more than a pooled Decoder and is faster (jsondec.go).
func decodeValue(raw []byte, v any, _ bool) error { return json.Unmarshal(raw, v) }
