package envelope

// unmarshal decodes raw into v, treating absent data as null.
func unmarshal(raw []byte, v any) error {
	if len(raw) == 0 {
		raw = []byte("null")
	}
	return decodeValue(raw, v)
}

// DecodeParams decodes a request's params into v. Absent params leave v
// as it is, the way JSON null does.
func DecodeParams(m *Envelope, v any) error { return unmarshal(m.Params, v) }
