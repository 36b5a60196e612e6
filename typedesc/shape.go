package typedesc

import (
	"strconv"
	"strings"
)

// Helpers that read an Entity's Type back. They work on the string rather
// than on reflect, because descriptions also arrive over the wire from
// plugins written in other languages.

// sliceElem returns the element Type of a "[]T" Type.
func sliceElem(typ string) (string, bool) {
	return strings.CutPrefix(typ, "[]")
}

// mapParts returns the key kind and element Type of a "map[K]T" Type.
func mapParts(typ string) (key, elem string, ok bool) {
	rest, ok := strings.CutPrefix(typ, "map[")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "]")
}

// Number classes returned by numberKind.
const (
	notNumber = iota
	signed
	unsigned
	float
)

// numberKind classifies a numeric Type and gives its size in bits.
func numberKind(typ string) (class, bits int) {
	switch typ {
	case "int":
		return signed, strconv.IntSize
	case "int8":
		return signed, 8
	case "int16":
		return signed, 16
	case "int32":
		return signed, 32
	case "int64":
		return signed, 64
	case "uint", "uintptr":
		return unsigned, strconv.IntSize
	case "uint8":
		return unsigned, 8
	case "uint16":
		return unsigned, 16
	case "uint32":
		return unsigned, 32
	case "uint64":
		return unsigned, 64
	case "float32":
		return float, 32
	case "float64":
		return float, 64
	}
	return notNumber, 0
}
