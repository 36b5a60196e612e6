package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// The checks of what protocol 2 adds: the meta check calls the plugin;
// the strict, host services and progress checks judge what the wire
// recorded of the plugin's messages (route, echo, progressed). In
// protocol 1 each is skipped, saying so.

// onlyIn2 is why a protocol 2 check is skipped.
func (c *checker) onlyIn2() string {
	if c.report.Protocol == 0 {
		return "no handshake"
	}
	return fmt.Sprintf("protocol 2 only; the plugin speaks protocol %d", c.report.Protocol)
}

// meta checks that _meta never reaches a function's input: one call, the
// host's way (with _meta), without _meta, and by position ([input]),
// must be answered alike.
func (c *checker) meta() {
	const name = "meta"
	if c.report.Protocol < envelope.Protocol2 {
		c.add(name, Skip, "%s", c.onlyIn2())
		return
	}
	fn := c.metaFunction()
	if fn == "" {
		c.add(name, Skip, "no function answered its call, so none to call again")
		return
	}
	params := c.params(fn)
	forms := []struct {
		f    form
		what string
	}{{withMeta, "with _meta"}, {withoutMeta, "without _meta"}, {byPosition, "by position, [input],"}}
	var as []answer
	for _, f := range forms {
		a, ok, err := c.wire.callAs(fn, params, checkTrace+"-meta", f.f, c.cfg.callTimeout)
		switch {
		case err != nil:
			c.add(name, Fail, "could not send: %v", err)
			return
		case !ok:
			c.add(name, Fail, "%s called %s with params %s: %s", fn, f.what, orNone(params), c.noAnswer())
			return
		}
		as = append(as, a)
	}
	switch {
	case !sameAnswer(as[0], as[1]):
		c.add(name, Fail, "%s with input %s answered %s with _meta, but %s without: _meta must not reach the input",
			fn, orNone(params), describe(as[0]), describe(as[1]))
	case !sameAnswer(as[1], as[2]):
		c.add(name, Fail, "%s with input %s answered %s by name, but %s by position, [input]: both carry the same input",
			fn, orNone(params), describe(as[1]), describe(as[2]))
	default:
		c.add(name, Pass, "%s with input %s answered alike with _meta, without it and by position: %s", fn, orNone(params), describe(as[0]))
	}
}

// metaFunction picks the function for the meta check: the first whose
// call passed and whose input is an object, where a leaking _meta shows
// most; else the first whose call passed.
func (c *checker) metaFunction() string {
	for _, fn := range c.served {
		if c.fns[fn].Input.IsObject() {
			return fn
		}
	}
	if len(c.served) > 0 {
		return c.served[0]
	}
	return ""
}

// sameAnswer reports whether two answers agree: equal results, or errors
// with the same code.
func sameAnswer(a, b answer) bool {
	if (a.err == nil) != (b.err == nil) {
		return false
	}
	if a.err != nil {
		return a.err.Code == b.err.Code
	}
	return sameJSON(a.m.Result, b.m.Result)
}

// sameJSON reports whether two JSON texts hold the same value, whatever
// their members' order and spacing; numbers compare by their text.
func sameJSON(a, b json.RawMessage) bool {
	decode := func(raw json.RawMessage) (any, bool) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		return v, dec.Decode(&v) == nil
	}
	va, oka := decode(a)
	vb, okb := decode(b)
	return oka && okb && reflect.DeepEqual(va, vb)
}

func describe(a answer) string {
	if a.err != nil {
		return fmt.Sprintf("error %d %q", a.err.Code, a.err.Message)
	}
	return "result " + clip(a.m.Result)
}

// protocol2Findings runs the strict, host services and progress checks
// on what the wire recorded.
func (c *checker) protocol2Findings() {
	if c.report.Protocol < envelope.Protocol2 {
		for _, name := range []string{"strict", "host services", "progress"} {
			c.add(name, Skip, "%s", c.onlyIn2())
		}
		return
	}
	w := c.wire
	w.mu.Lock()
	messages, unstrict, first := w.messages, w.unstrict, w.strictBad
	echoes, echoBad, unknown := w.echoes, slices.Clone(w.echoBad), slices.Clone(w.unknownSv)
	progress, progBad := w.progress, slices.Clone(w.progBad)
	w.mu.Unlock()

	if unstrict > 0 {
		c.add("strict", Fail, "%d of %s after the handshake broke protocol 2's rules; the first: %s",
			unstrict, count(messages, "message"), first)
	} else {
		c.add("strict", Pass, "%s after the handshake, each with JSON-RPC 2.0's members only and params an object or none",
			count(messages, "message"))
	}

	others := ""
	if len(unknown) > 0 {
		others = fmt.Sprintf("; it called %s, which the battery does not offer, and got %d", strings.Join(unknown, ", "), envelope.CodeMethodNotFound)
	}
	switch {
	case len(echoBad) > 0:
		c.add("host services", Fail, "%s %s", echoService, summarize(echoBad))
	case echoes == 0:
		c.add("host services", Skip, "the plugin called no host service%s", others)
	default:
		c.add("host services", Pass, "%s to %s, well-formed%s", count(echoes, "call"), echoService, others)
	}

	switch {
	case len(progBad) > 0:
		c.add("progress", Fail, "$/progress %s", summarize(progBad))
	case progress == 0:
		c.add("progress", Skip, "the plugin sent no $/progress (it need not)")
	default:
		c.add("progress", Pass, "%s, each for a call in flight", count(progress, "$/progress notification"))
	}
}

var (
	requestMembers  = []string{"jsonrpc", "id", "method", "params"}
	responseMembers = []string{"jsonrpc", "id", "result", "error"}
	errorMembers    = []string{"code", "message", "data"}
)

// strictProblem says how m breaks protocol 2's rules for messages, or "":
// members JSON-RPC 2.0 has not (a top-level meta above all), params that
// are not an object, params on $/ping or $/shutdown, $/async params other
// than {"value": item}.
func strictProblem(m *message) string {
	allowed := responseMembers
	if m.has["method"] {
		allowed = requestMembers
	}
	if m.has["meta"] {
		return "a top-level meta (protocol 2 carries metadata in params._meta)"
	}
	if extra := others(m.has, allowed); extra != "" {
		return fmt.Sprintf("member %q, which JSON-RPC 2.0 has not", extra)
	}
	if !m.has["method"] {
		if m.has["error"] {
			var e map[string]json.RawMessage
			if json.Unmarshal(m.Error, &e) == nil {
				if extra := others(e, errorMembers); extra != "" {
					return fmt.Sprintf("error member %q, which JSON-RPC 2.0 has not", extra)
				}
			}
		}
		return ""
	}
	if !m.has["params"] {
		return ""
	}
	if k := jsonKind(m.Params); k != "an object" {
		return fmt.Sprintf("%s params are %s, not an object", m.Method, k)
	}
	switch m.Method {
	case envelope.MethodPing, envelope.MethodShutdown:
		return fmt.Sprintf("params on %s, which takes none", m.Method)
	case "$/async":
		var p map[string]json.RawMessage
		if json.Unmarshal(m.Params, &p) != nil || p["value"] == nil {
			return `$/async params are not {"value": item}`
		}
	}
	return ""
}

// others returns the first (in order) of the keys of has not in allowed,
// or "".
func others[V any](has map[string]V, allowed []string) string {
	for _, k := range slices.Sorted(maps.Keys(has)) {
		if !slices.Contains(allowed, k) {
			return k
		}
	}
	return ""
}

// echo serves the battery's host service, Check.Echo, whose input and
// output are any: it answers the value of params {"value": v}, the one
// element of params by position, [v], and params of any other shape as
// they are; a malformed _meta is refused with -32602 as a host refuses
// it. What is not shaped as a host service's input should be is recorded
// for the host services check.
func (w *wire) echo(m *message) {
	problem, result, refusal := judgeEcho(m)
	w.mu.Lock()
	w.echoes++
	if problem != "" && len(w.echoBad) < maxFindings {
		w.echoBad = append(w.echoBad, fmt.Sprintf("request %s: %s: %s", clip(m.ID), problem, clip(m.body)))
	}
	w.mu.Unlock()
	if refusal != "" {
		_ = w.replyError(m.ID, envelope.CodeInvalidParams, "invalid params: "+refusal)
		return
	}
	_ = w.reply(m.ID, result)
}

func judgeEcho(m *message) (problem string, result json.RawMessage, refusal string) {
	const want = `; an input that is not an object goes as {"value": input}`
	if !m.has["params"] {
		return "no params" + want, nil, ""
	}
	switch jsonKind(m.Params) {
	case "an object":
		var p map[string]json.RawMessage
		if err := json.Unmarshal(m.Params, &p); err != nil {
			return fmt.Sprintf("params are not an object: %v", err), nil, fmt.Sprintf("%v", err)
		}
		if raw, ok := p["_meta"]; ok {
			if mp := metaProblem(raw); mp != "" {
				return mp, nil, mp
			}
		}
		value, hasValue := p["value"]
		delete(p, "_meta")
		delete(p, "value")
		if extra := others(p, nil); extra != "" {
			problem = fmt.Sprintf("member %q besides value and _meta%s", extra, want)
		}
		if !hasValue {
			return problem, m.Params, ""
		}
		return problem, value, ""
	case "an array":
		var elems []json.RawMessage
		if json.Unmarshal(m.Params, &elems) != nil || len(elems) != 1 {
			const why = "params by position must hold the input as their one element"
			return why, nil, why
		}
		return "params by position, [input]" + want, elems[0], ""
	}
	return fmt.Sprintf("params are %s, not an object%s", jsonKind(m.Params), want), m.Params, ""
}

// metaProblem says what is wrong with a _meta, as a host that refuses
// the request with -32602 says it, or "".
func metaProblem(raw json.RawMessage) string {
	if string(raw) == "null" {
		return ""
	}
	if k := jsonKind(raw); k != "an object" {
		return fmt.Sprintf("_meta: want an object, got %s", k)
	}
	var md map[string]json.RawMessage
	if err := json.Unmarshal(raw, &md); err != nil {
		return fmt.Sprintf("_meta: %v", err)
	}
	for _, k := range []string{"trace", "traceparent", "tracestate", "deadline"} {
		v, ok := md[k]
		if !ok || string(v) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return fmt.Sprintf("_meta.%s: want a string, got %s", k, clip(v))
		}
		if k == "deadline" {
			// RFC 3339 allows a lower-case t and z; time.Parse does not.
			if _, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s)); err != nil {
				return fmt.Sprintf("_meta.deadline: want an RFC 3339 time, got %s", clip(v))
			}
		}
	}
	if v, ok := md["progressToken"]; ok && string(v) != "null" && !isToken(v) {
		return fmt.Sprintf("_meta.progressToken: want a string or an integer, got %s", clip(v))
	}
	return ""
}

// isToken reports whether raw is a progress token: a string or an
// integer.
func isToken(raw json.RawMessage) bool {
	if jsonKind(raw) == "a string" {
		var s string
		return json.Unmarshal(raw, &s) == nil
	}
	digits := bytes.TrimPrefix(raw, []byte("-"))
	return len(digits) > 0 && !bytes.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' })
}

// progressed records a $/progress from the plugin for the progress
// check. One sent as a request is answered as the host answers it, -32601:
// the host reads progress from notifications only.
func (w *wire) progressed(m *message) {
	w.mu.Lock()
	w.progress++
	if p := w.progressProblem(m); p != "" && len(w.progBad) < maxFindings {
		w.progBad = append(w.progBad, fmt.Sprintf("%s: %s", p, clip(m.body)))
	}
	w.mu.Unlock()
	if m.isRequest() {
		_ = w.replyError(m.ID, envelope.CodeMethodNotFound, "method not found: "+m.Method)
	}
}

// progressProblem says what is wrong with a $/progress, or "". w.mu is
// held.
func (w *wire) progressProblem(m *message) string {
	if m.isRequest() {
		return "sent as a request, not a notification"
	}
	var p map[string]json.RawMessage
	if !m.has["params"] || json.Unmarshal(m.Params, &p) != nil || p == nil {
		return "params are not an object"
	}
	tok, ok := p["progressToken"]
	switch {
	case !ok:
		return "no progressToken"
	case !isToken(tok):
		return fmt.Sprintf("progressToken %s is neither a string nor an integer", clip(tok))
	case !w.open[string(tok)]:
		return fmt.Sprintf("progressToken %s names no call in flight (the battery's tokens are its calls' ids)", clip(tok))
	}
	prog, ok := p["progress"]
	if !ok {
		return "no progress"
	}
	if jsonKind(prog) != "a number" {
		return fmt.Sprintf("progress %s is not a number", clip(prog))
	}
	if total, ok := p["total"]; ok && jsonKind(total) != "a number" {
		return fmt.Sprintf("total %s is not a number", clip(total))
	}
	if msg, ok := p["message"]; ok && jsonKind(msg) != "a string" {
		return fmt.Sprintf("message %s is not a string", clip(msg))
	}
	return ""
}

// forbid answers the plugin's $/call as a host without a policy for
// calls between plugins does: refused, -32005.
func (w *wire) forbid(m *message) {
	var p struct {
		Plugin string `json:"plugin"`
		Method string `json:"method"`
	}
	if json.Unmarshal(m.Params, &p) != nil || p.Plugin == "" || p.Method == "" {
		_ = w.replyError(m.ID, envelope.CodeInvalidParams, `invalid params: $/call: want {"plugin": name, "method": name, "params": input}`)
		return
	}
	w.mu.Lock()
	name := w.name
	w.mu.Unlock()
	_ = w.replyError(m.ID, envelope.CodeForbidden, fmt.Sprintf("plugin %q may not call %q", name, p.Plugin+"."+p.Method))
}
