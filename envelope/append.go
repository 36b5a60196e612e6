package envelope

// AppendRequest appends to dst the frame of a request with the given id
// (a notification when id is the zero ID) exactly as a Conn writes it:
// Call for a request, with trace as its meta (none when trace is ""), and
// Notify for a notification. params is left out when nil.
//
// It is for a peer that speaks the protocol from raw frames but must send
// what a Conn would, byte for byte: plugintest's conformance battery, which
// picks its own request ids, plays the host with it, so that a plugin is
// checked against the frames the host really sends.
func AppendRequest(dst []byte, id ID, method string, params any, trace string) ([]byte, error) {
	m := newMsg()
	defer m.free()
	if err := m.request(id, method, params, trace); err != nil {
		return dst, err
	}
	return append(dst, m.frame()...), nil
}
