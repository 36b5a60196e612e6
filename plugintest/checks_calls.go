package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

func (c *checker) ping() {
	a, ok, err := c.wire.call(envelope.MethodPing, nil, "", c.cfg.callTimeout)
	switch {
	case err != nil:
		c.add("ping", Fail, "could not send: %v", err)
	case !ok:
		c.add("ping", Fail, "%s", c.noAnswer())
	case a.err != nil:
		c.add("ping", Fail, "answered with an error: %s", clip(a.m.Error))
	case string(bytes.TrimSpace(a.m.Result)) != "null":
		c.add("ping", Fail, "answered %s; want result null", clip(a.m.Result))
	default:
		c.add("ping", Pass, "answered null")
	}
}

func (c *checker) unknownMethod() {
	method := "NoSuchFunction"
	for c.has(method) {
		method += "X"
	}
	a, ok, err := c.wire.call(method, json.RawMessage(`{}`), checkTrace, c.cfg.callTimeout)
	want := fmt.Sprintf("want error %d (method not found)", envelope.CodeMethodNotFound)
	switch {
	case err != nil:
		c.add("unknown method", Fail, "could not send: %v", err)
	case !ok:
		c.add("unknown method", Fail, "%s to %s; %s", c.noAnswer(), method, want)
	case a.err == nil:
		c.add("unknown method", Fail, "%s answered with result %s; %s", method, clip(a.m.Result), want)
	case a.err.Code != envelope.CodeMethodNotFound:
		c.add("unknown method", Fail, "%s answered with error %s; %s", method, clip(a.m.Error), want)
	default:
		c.add("unknown method", Pass, "%s answered %d %q", method, a.err.Code, a.err.Message)
	}
}

// noAnswer says why an answer did not come.
func (c *checker) noAnswer() string {
	if c.wire.isClosed() {
		return "the connection ended instead of an answer"
	}
	return fmt.Sprintf("no answer within %v", c.cfg.callTimeout)
}

func (c *checker) has(name string) bool {
	_, ok := c.fns[name]
	return ok
}

func (c *checker) badParams() {
	tested := 0
	for _, fn := range c.names {
		params := contradiction(c.fns[fn].Input)
		if params == nil {
			continue
		}
		tested++
		check := "bad params " + fn
		want := fmt.Sprintf("want error %d (invalid params)", envelope.CodeInvalidParams)
		// In protocol 2 an object input is params itself, which cannot be
		// a string: the string goes by position, [input].
		f, how := withMeta, ""
		if c.report.Protocol >= envelope.Protocol2 && c.fns[fn].Input.IsObject() {
			f, how = byPosition, " (by position)"
		}
		a, ok, err := c.wire.callAs(fn, params, checkTrace, f, c.cfg.callTimeout)
		switch {
		case err != nil:
			c.add(check, Fail, "could not send: %v", err)
		case !ok:
			c.add(check, Fail, "%s to params %s; %s", c.noAnswer(), params, want)
		case a.err == nil:
			c.add(check, Fail, "params %s, contrary to the input description %q, were answered with result %s; %s",
				params, c.fns[fn].Input.Type, clip(a.m.Result), want)
		case a.err.Code != envelope.CodeInvalidParams:
			c.add(check, Fail, "params %s were answered with error %s; %s", params, clip(a.m.Error), want)
		default:
			c.add(check, Pass, "%s where %q belongs%s was refused with %d", jsonKind(params), c.fns[fn].Input.Type, how, a.err.Code)
		}
		if c.wire.isClosed() {
			return
		}
	}
	if tested == 0 {
		c.add("bad params", Skip, "no function's input description rules out a JSON type")
	}
}

// deadlineGrace is how long past a protocol 2 call's deadline the battery
// waits for the plugin to say it gave up.
const deadlineGrace = time.Second

// callCodes are the error codes a call to a declared function may get.
var callCodes = map[int64]string{
	envelope.CodeMethodError:   "method error",
	envelope.CodeInternalError: "internal error",
	envelope.CodeInvalidParams: "invalid params",
}

// judge says whether an answer to a call of fn is well-formed, and how it
// reads in a report.
func (c *checker) judge(fn string, a answer, codes map[int64]string) (bool, string) {
	if a.err != nil {
		if p := errorShape(a.m.Error); p != "" {
			return false, p
		}
		meaning, ok := codes[a.err.Code]
		if !ok {
			return false, fmt.Sprintf("answered error %s, a code a call to a declared function should not get", clip(a.m.Error))
		}
		if a.err.Message == "" {
			return false, fmt.Sprintf("answered error %d with an empty message", a.err.Code)
		}
		return true, fmt.Sprintf("error %d (%s) %q", a.err.Code, meaning, a.err.Message)
	}
	if out := c.fns[fn].Output; out != nil {
		if err := out.Validate(a.m.Result); err != nil {
			return false, fmt.Sprintf("result %s does not fit the output description: %v", clip(a.m.Result), err)
		}
		return true, fmt.Sprintf("result %s fits its description", clip(a.m.Result))
	}
	return true, fmt.Sprintf("result %s", clip(a.m.Result))
}

func (c *checker) params(fn string) json.RawMessage {
	v := sample(c.fns[fn].Input)
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	return b
}

func (c *checker) calls() {
	if len(c.names) == 0 {
		c.add("calls", Skip, "no function to call")
		return
	}
	for _, fn := range c.names {
		check := "call " + fn
		params := c.params(fn)
		r := c.wire.newRequest(fn, params, checkTrace)
		start := time.Now()
		if err := c.wire.send(r); err != nil {
			c.add(check, Fail, "could not send: %v", err)
			return
		}
		wait := c.cfg.callTimeout
		if r.timeout > 0 {
			// In protocol 2 the call carries its deadline, at which a
			// plugin may give up: a moment more lets that answer come.
			wait += deadlineGrace
		}
		a, ok := c.wire.await(r, wait)
		took := time.Since(start)
		if ok && r.timeout > 0 && a.err != nil && a.err.Code == envelope.CodeRequestCancelled && took >= r.timeout-time.Millisecond {
			c.add(check, Pass, "params %s: gave up at the deadline it was sent, %v on, with -32800 %q", orNone(params), r.timeout, a.err.Message)
			continue
		}
		if !ok {
			c.wire.forget(r)
			if !c.wire.isClosed() {
				_ = c.wire.cancel(r.id)
				c.add(check, Fail, "no answer within %v to params %s (leave out functions that wait on purpose with -skip)", c.cfg.callTimeout, orNone(params))
			} else {
				c.add(check, Fail, "the connection ended during the call with params %s", orNone(params))
			}
			continue
		}
		fine, how := c.judge(fn, a, callCodes)
		if !fine {
			c.add(check, Fail, "params %s: %s", orNone(params), how)
			continue
		}
		c.add(check, Pass, "params %s: %s", orNone(params), how)
		c.served = append(c.served, fn)
		if c.fastest == "" || took < c.best {
			c.fastest, c.best = fn, took
		}
	}
}

// cancelCodes are those a cancelled call may be answered with.
var cancelCodes = map[int64]string{
	envelope.CodeRequestCancelled: "request cancelled",
	envelope.CodeMethodError:      "method error",
	envelope.CodeInternalError:    "internal error",
	envelope.CodeInvalidParams:    "invalid params",
}

func (c *checker) cancel() {
	fn := c.fastest
	if fn == "" && len(c.names) > 0 {
		fn = c.names[0]
	}
	if fn == "" {
		c.add("cancel", Skip, "no function to call")
		return
	}
	r := c.wire.newRequest(fn, c.params(fn), "plugsock-check-cancel")
	err := c.wire.send(r)
	if err == nil {
		err = c.wire.cancel(r.id)
	}
	if err == nil {
		err = c.wire.cancel(envelope.NumberID(987654321))
	}
	if err != nil {
		c.add("cancel", Fail, "could not send: %v", err)
		return
	}
	a, ok, err := c.wire.call(envelope.MethodPing, nil, "", c.cfg.callTimeout)
	if err != nil || !ok || a.err != nil {
		c.add("cancel", Fail, "after a call to %s and $/cancelRequest for it (and for an id never sent), a ping got no answer", fn)
		return
	}
	// The answer to the cancelled call, if any, is already in or close.
	ca, answered := c.wire.await(r, min(c.cfg.callTimeout, time.Second))
	if !answered {
		c.wire.forget(r)
		c.add("cancel", Pass, "%s was not answered after $/cancelRequest (allowed); still serving", fn)
		return
	}
	fine, how := c.judge(fn, ca, cancelCodes)
	if !fine {
		c.add("cancel", Fail, "the cancelled call to %s: %s", fn, how)
		return
	}
	c.add("cancel", Pass, "%s after $/cancelRequest: %s; still serving", fn, how)
}
