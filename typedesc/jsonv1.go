//go:build !goexperiment.jsonv2

package typedesc

// jsonV2 reports whether encoding/json is built on encoding/json/v2
// (GOEXPERIMENT=jsonv2), whose few differences in what it accepts the
// schemas follow.
const jsonV2 = false
