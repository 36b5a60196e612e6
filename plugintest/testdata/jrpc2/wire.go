package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// hello is the $/handshake's params (docs/protocol.md, section 5).
type hello struct {
	Name      string              `json:"name"`
	Version   string              `json:"version"`
	Protocol  int                 `json:"protocol"`
	Token     string              `json:"token,omitempty"`
	Launch    string              `json:"launch,omitempty"`
	Functions map[string]function `json:"functions"`
}

// welcome is the host's answer to it.
type welcome struct {
	Name     string              `json:"name"`
	Session  string              `json:"session"`
	Protocol json.RawMessage     `json:"protocol"`
	Services map[string]function `json:"services"`
}

// function describes one function (section 6).
type function struct {
	Name   string  `json:"name"`
	Input  *entity `json:"input,omitempty"`
	Output *entity `json:"output,omitempty"`
}

type entity struct {
	Name      string   `json:"name,omitempty"`
	Type      string   `json:"type"`
	Mandatory bool     `json:"mandatory,omitempty"`
	Fields    []entity `json:"fields,omitempty"`
}

func pairOf(name, kind string) *entity {
	return &entity{Name: name, Type: "struct", Fields: []entity{
		{Name: "a", Type: kind, Mandatory: true},
		{Name: "b", Type: kind, Mandatory: true}}}
}

var (
	typeAny    = &entity{Type: "any"}
	typeString = &entity{Name: "string", Type: "string"}
)

// functions is what the handshake says of the plugin's functions.
var functions = map[string]function{
	"Add":       {Name: "Add", Input: pairOf("addIn", "int"), Output: &entity{Name: "int", Type: "int"}},
	"Div":       {Name: "Div", Input: pairOf("divIn", "float64"), Output: &entity{Name: "float64", Type: "float64"}},
	"Echo":      {Name: "Echo", Input: typeString, Output: typeString},
	"Trace":     {Name: "Trace", Input: typeAny, Output: typeString},
	"Deadline":  {Name: "Deadline", Output: typeString},
	"Slow":      {Name: "Slow", Output: typeString},
	"Cancelled": {Name: "Cancelled", Output: &entity{Name: "int", Type: "int"}},
	"HostEcho":  {Name: "HostEcho", Input: typeAny, Output: typeAny},
}

// meta is params._meta. Its members are optional, and unknown ones are
// ignored; a known one of the wrong type fails the call with -32602.
type meta struct {
	Trace       string
	Traceparent string
	Tracestate  string
	// Deadline is _meta.deadline as it was sent; deadline is its time.
	Deadline string
	deadline time.Time
	// ProgressToken is kept as sent: a string or an integer.
	ProgressToken json.RawMessage
}

func (m *meta) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if firstByte(data) != '{' || json.Unmarshal(data, &raw) != nil {
		return fmt.Errorf("_meta: want an object, got %s", clip(string(data)))
	}
	*m = meta{}
	for _, f := range []struct {
		name string
		to   *string
	}{{"trace", &m.Trace}, {"traceparent", &m.Traceparent}, {"tracestate", &m.Tracestate}, {"deadline", &m.Deadline}} {
		v, ok := raw[f.name]
		if !ok {
			continue
		}
		if firstByte(v) != '"' || json.Unmarshal(v, f.to) != nil {
			return fmt.Errorf("_meta.%s: want a string, got %s", f.name, clip(string(v)))
		}
	}
	if _, ok := raw["deadline"]; ok {
		t, err := time.Parse(time.RFC3339Nano, m.Deadline)
		if err != nil {
			return fmt.Errorf("_meta.deadline: want an RFC 3339 time, got %q", m.Deadline)
		}
		m.deadline = t
	}
	if v, ok := raw["progressToken"]; ok {
		if firstByte(v) != '"' {
			if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
				return fmt.Errorf("_meta.progressToken: want a string or an integer, got %s", clip(string(v)))
			}
		}
		m.ProgressToken = v
	}
	return nil
}

// withMeta is embedded in the inputs that travel as {"value": …}: its
// field is decoded from _meta as if it were the input's own, yet jrpc2's
// positional decoding leaves an embedded field out, so [<input>] (the
// other form the wire allows) is read as {"value": <input>}.
type withMeta struct {
	Meta meta `json:"_meta"`
}

// value is the params of a function whose input is not an object:
// {"value": <input>, "_meta": {…}} or [<input>].
type value[T any] struct {
	Value T `json:"value"`
	withMeta
}

// pair is the input of Add and Div, an object: {"a": …, "b": …, "_meta":
// {…}}, both members mandatory, or [{"a": …, "b": …}]. jrpc2's own
// positional decoding would read an array as [a, b], so the handlers are
// built without it (see byName) and the one-element form is read here.
type pair[N int | float64] struct {
	A, B N
	Meta meta
}

func (p *pair[N]) UnmarshalJSON(data []byte) error {
	if firstByte(data) == '[' {
		var one []json.RawMessage
		if err := json.Unmarshal(data, &one); err != nil || len(one) != 1 {
			return fmt.Errorf("want an object with members a and b, or an array of one such object; got %s", clip(string(data)))
		}
		data = one[0]
	}
	if firstByte(data) != '{' {
		return fmt.Errorf("want an object with members a and b, got %s", clip(string(data)))
	}
	var in struct {
		A    *N   `json:"a"`
		B    *N   `json:"b"`
		Meta meta `json:"_meta"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	if in.A == nil || in.B == nil {
		return errors.New("want an object with members a and b, both mandatory")
	}
	*p = pair[N]{A: *in.A, B: *in.B, Meta: in.Meta}
	return nil
}

// outMeta is the _meta of the plugin's own requests; Go senders put it
// last in params.
type outMeta struct {
	Trace    string `json:"trace,omitempty"`
	Deadline string `json:"deadline,omitempty"`
}

// serviceParams is the params of a call of a host service whose input is
// not an object.
type serviceParams struct {
	Value any     `json:"value"`
	Meta  outMeta `json:"_meta"`
}

// formatDeadline writes t as senders do: UTC, milliseconds, truncated so
// that it is never later than t.
func formatDeadline(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
}

// firstByte is the first byte of the JSON value data, which
// encoding/json hands over without surrounding space; 0 for none.
func firstByte(data []byte) byte {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return 0
	}
	return data[0]
}
