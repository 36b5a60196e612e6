package typedesc

// JSONV2 reports whether encoding/json is built on encoding/json/v2.
const JSONV2 = jsonV2
