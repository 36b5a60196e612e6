package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// handshake answers the plugin's first message and runs the handshake
// and functions checks on it. It reports whether there is a plugin to
// run the other checks on.
func (c *checker) handshake() bool {
	const name = "handshake"
	var m *message
	t := time.NewTimer(checkHandshakeTimeout)
	defer t.Stop()
	select {
	case m = <-c.wire.hs:
	case <-c.wire.closed:
		select {
		case m = <-c.wire.hs:
		default:
			c.add(name, Fail, "the connection ended before a handshake: %v", c.wire.err)
			return false
		}
	case <-t.C:
		c.add(name, Fail, "no message within %v of connecting", checkHandshakeTimeout)
		return false
	}
	if !m.isRequest() || m.Method != envelope.MethodHandshake {
		what := "a response"
		switch {
		case m.isRequest():
			what = fmt.Sprintf("a %q request", m.Method)
		case m.isNotification():
			what = fmt.Sprintf("a %q notification", m.Method)
		}
		if m.isRequest() {
			_ = c.wire.replyError(m.ID, envelope.CodeInvalidRequest, "protocol violation: "+m.Method+" before the handshake")
		}
		c.add(name, Fail, "the first message was %s, not a $/handshake request", what)
		return false
	}
	var hs struct {
		Name      *string         `json:"name"`
		Version   json.RawMessage `json:"version"`
		Functions json.RawMessage `json:"functions"`
		Launch    *string         `json:"launch"`
		hello
	}
	var problem string
	if err := json.Unmarshal(m.Params, &hs); err != nil {
		problem = fmt.Sprintf("params are not an object of the handshake's shape: %v", err)
	} else if hs.Name == nil {
		problem = "params have no name"
	} else if p := nameProblem(*hs.Name); p != "" {
		problem = p
	}
	var version string
	if problem == "" && len(hs.Version) > 0 && string(hs.Version) != "null" {
		if err := json.Unmarshal(hs.Version, &version); err != nil {
			problem = fmt.Sprintf("version is not a string: %s", clip(hs.Version))
		}
	}
	var neg negotiation
	if problem == "" {
		neg, problem = hs.negotiate()
	}
	if problem != "" {
		_ = c.wire.replyError(m.ID, envelope.CodeInvalidParams, "malformed handshake: "+problem)
		c.add(name, Fail, "%s", problem)
		return false
	}
	fns, problems := parseFunctions(hs.Functions)
	c.fns = fns
	objects := make(map[string]bool, len(fns))
	for n, f := range fns {
		objects[n] = f.Input.IsObject()
	}
	// Set before the answer goes: what the plugin sends after reading it
	// is in the protocol agreed.
	c.wire.setProtocol(neg.proto, *hs.Name, objects, c.cfg.callTimeout)
	if err := c.wire.reply(m.ID, neg.result(*hs.Name)); err != nil {
		c.add(name, Fail, "could not answer the handshake: %v", err)
		return false
	}
	info := &envelope.PluginInfo{Name: *hs.Name, Version: version, Functions: make(map[string]typedesc.Function, len(fns))}
	for n, f := range fns {
		info.Functions[n] = typedesc.Function{Name: n, Input: f.Input, Output: f.Output, Stream: f.Stream}
		switch {
		case f.isStream():
			// Opened as streams by the stream checks, never called: the
			// host calls no stream function.
			if c.report.Streams == nil {
				c.report.Streams = make(map[string]string)
			}
			c.report.Streams[n] = f.Stream.Shape()
			c.streamFns = append(c.streamFns, n)
		case !c.cfg.skip[n]:
			c.names = append(c.names, n)
		}
	}
	slices.Sort(c.names)
	slices.Sort(c.streamFns)
	c.report.Plugin = info
	c.report.Protocol = neg.proto
	launch := ""
	if hs.Launch != nil && *hs.Launch == c.launch {
		launch = "; launch id sent back"
	}
	c.add(name, Pass, "name %q, version %q, %s, %s%s", *hs.Name, version, neg, count(len(fns), "function"), launch)
	if len(problems) > 0 {
		c.add("functions", Fail, "%s", summarize(problems))
	} else {
		c.add("functions", Pass, "%s, following the grammar", count(len(fns), "description"))
	}
	return true
}

// negotiation is what a handshake's protocol and capabilities members
// settle.
type negotiation struct {
	offered json.RawMessage // the protocol member as sent; nil when absent
	proto   int             // what both sides speak from the answer on
}

// hello is what a handshake's params say about the protocol, read as
// the host reads them.
type hello struct {
	Protocol     json.RawMessage `json:"protocol"`
	Capabilities json.RawMessage `json:"capabilities"`
}

// negotiate settles the protocol as the host does (envelope.Negotiate),
// and says what is wrong: a protocol that is not a positive integer
// written as digits, or capabilities that are neither an object nor null.
func (h hello) negotiate() (negotiation, string) {
	n := negotiation{proto: envelope.Protocol1}
	proto, offered, err := envelope.Negotiate(h.Protocol)
	if offered {
		n.offered = bytes.TrimSpace(h.Protocol)
	}
	if err != nil {
		return n, err.Error()
	}
	n.proto = proto
	if raw := bytes.TrimSpace(h.Capabilities); len(raw) > 0 && raw[0] != '{' && string(raw) != "null" {
		return n, fmt.Sprintf("capabilities: want an object, got %s", clip(raw))
	}
	return n, ""
}

// echoDescription describes the battery's one host service as a Go host
// describes its services: func(context.Context, any) (any, error).
var echoDescription = func() typedesc.Function {
	anyType := reflect.TypeFor[any]()
	in, _ := typedesc.InputSchema(anyType)
	out, _ := typedesc.OutputSchema(anyType)
	return typedesc.Function{Name: echoService, Input: &typedesc.Entity{Type: "any"}, Output: &typedesc.Entity{Type: "any"},
		InputSchema: in, OutputSchema: out}
}()

// result is the host's answer to the handshake: protocol 1's answer, byte
// for byte, to a plugin that named no protocol; the protocol agreed to one
// that did, and in protocol 2 the battery's host service.
func (n negotiation) result(name string) envelope.HandshakeResult {
	r := envelope.HandshakeResult{Name: name, Session: uuid.NewString()}
	if n.offered == nil {
		return r
	}
	r.Protocol = n.proto
	if n.proto >= envelope.Protocol2 {
		r.Services = map[string]typedesc.Function{echoService: echoDescription}
	}
	return r
}

// String says which protocol was agreed, for the handshake check.
func (n negotiation) String() string {
	s := fmt.Sprintf("protocol %d", n.proto)
	if n.offered != nil && string(n.offered) != strconv.Itoa(n.proto) {
		s += fmt.Sprintf(" (it offered %s)", clip(n.offered))
	}
	return s
}
