package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// The stream checks (docs/protocol.md section 19), for a protocol 2
// plugin that declares stream functions; a plugin that declares none gets
// no line of them. The battery is the host of every stream: it opens it
// as socket.Socket.OpenStream does, and sends items, acknowledgements,
// credit, close and cancel as the host's envelope.Stream writes them (see
// wire_streams.go), so that what it sees of the plugin is exactly what
// the plugin sends.

const (
	// streamWindow is the credit the battery grants a stream of the
	// plugin's: small, so that a plugin meets its end soon.
	streamWindow = 4
	// sinkItems and processorItems are how many items the battery sends a
	// sink and a processor: a processor gets more than the window, so that
	// one that answers each item with one of its own runs out of credit.
	sinkItems      = 3
	processorItems = streamWindow + 2
	// creditRounds bounds the attempts of the stream without credit check
	// to send an item that certainly had none.
	creditRounds = 3
	// sourceCreditWait is how long that check waits for a source's grant,
	// which a source need not make.
	sourceCreditWait = time.Second
)

// itemSchemas are a stream function's item schemas, compiled; nil where
// the description has none.
type itemSchemas struct{ in, out *typedesc.Schema }

// streams runs the stream checks that talk to the plugin: the
// descriptions, then, for each stream function, a session of its shape
// and a call without _meta.stream, then a stream sent an item without
// credit. What the wire saw of the stream messages is judged last, with
// the other findings (streamFindings).
func (c *checker) streams() {
	if len(c.streamFns) == 0 {
		return
	}
	if c.report.Protocol < envelope.Protocol2 {
		c.add("streams", Skip, "%s; it declares %s", c.onlyIn2(), count(len(c.streamFns), "stream function"))
		return
	}
	c.streamDescriptions()
	for _, fn := range c.streamFns {
		if c.cfg.skip[fn] || c.report.Streams[fn] == "" {
			continue
		}
		if c.connectionLost() {
			return
		}
		c.streamSession(fn)
		if c.connectionLost() {
			return
		}
		c.streamAsCall(fn)
	}
	if !c.connectionLost() {
		c.streamWithoutCredit()
	}
}

// streamDescriptions checks what makes a description a stream's: a shape,
// item schemas that compile, and no output.
func (c *checker) streamDescriptions() {
	const name = "streams"
	c.schemas = make(map[string]itemSchemas, len(c.streamFns))
	var ps, shapes []string
	for _, fn := range c.streamFns {
		f := c.fns[fn]
		if f.streamBad != "" {
			ps = append(ps, fn+": "+f.streamBad)
			continue
		}
		shape := f.Stream.Shape()
		if shape == "" {
			ps = append(ps, fmt.Sprintf("%s: its stream describes neither in nor out (a source has out, a sink in, a processor both)", fn))
		} else {
			shapes = append(shapes, fmt.Sprintf("%s (%s)", fn, shape))
		}
		if out := bytes.TrimSpace(f.OutputSchema); f.Output != nil || len(out) > 0 && string(out) != "null" {
			ps = append(ps, fmt.Sprintf("%s: a stream has no output or outputSchema; its items are what it returns", fn))
		}
		var sc itemSchemas
		for _, side := range []struct {
			s    **typedesc.Schema
			raw  json.RawMessage
			what string
		}{{&sc.in, f.Stream.InSchema, "inSchema"}, {&sc.out, f.Stream.OutSchema, "outSchema"}} {
			if len(bytes.TrimSpace(side.raw)) == 0 {
				continue
			}
			s, err := typedesc.CompileSchema(side.raw)
			if err != nil {
				ps = append(ps, fmt.Sprintf("%s.stream.%s: %v", fn, side.what, err))
				continue
			}
			*side.s = s
		}
		c.schemas[fn] = sc
	}
	if len(ps) > 0 {
		c.add(name, Fail, "%s", summarize(ps))
		return
	}
	c.add(name, Pass, "%s: %s; item schemas compile, and none has an output", count(len(c.streamFns), "stream function"), strings.Join(shapes, ", "))
}

// streamRun is one stream the battery opened, and what it found.
type streamRun struct {
	c         *checker
	fn, shape string
	params    json.RawMessage
	item      json.RawMessage // what the battery sends as each item
	st        *streamState
	r         *request

	closed    bool   // the battery closed its half
	cancelled bool   // the battery cancelled the stream
	held      uint64 // the items the plugin sent before the battery first settled any
	stalled   bool   // after that, the plugin sent nothing more
	fail      []string
	warn      string
}

func (s *streamRun) failf(format string, args ...any) {
	s.fail = append(s.fail, fmt.Sprintf(format, args...))
}

func (s *streamRun) failed() bool { return len(s.fail) > 0 }

// open opens a stream on fn granting window credit; false when it could
// not be sent (a failure of check name, reported).
func (c *checker) openStream(name, fn string, window int64) (*streamRun, bool) {
	f := c.fns[fn]
	shape := f.Stream.Shape()
	s := &streamRun{c: c, fn: fn, shape: shape, params: c.params(fn), item: json.RawMessage(`{}`)}
	if v := sample(f.Stream.In); v != nil {
		s.item, _ = json.Marshal(v)
	}
	var err error
	s.st, s.r, err = c.wire.openStream(fn, shape, s.params, window, f.Stream.Out, c.schemas[fn].out)
	if err != nil {
		c.add(name, Fail, "%s: could not send: %v", shape, err)
		return nil, false
	}
	return s, true
}

// wait waits up to the call timeout for cond, called with the wire's
// lock held.
func (s *streamRun) wait(cond func() bool) bool {
	return s.c.wire.waitStream(s.st, s.c.cfg.callTimeout, cond)
}

// view returns a copy of the stream's state.
func (s *streamRun) view() *streamState {
	w := s.c.wire
	w.mu.Lock()
	defer w.mu.Unlock()
	v := *s.st
	v.settled = nil
	v.problems = append([]string(nil), s.st.problems...)
	v.misfits = append([]string(nil), s.st.misfits...)
	return &v
}

// settleTime lets an item the plugin sends past its credit arrive before
// the battery grants more: a ping's round trip.
func (s *streamRun) settleTime() {
	_, _, _ = s.c.wire.call(envelope.MethodPing, nil, "", s.c.cfg.callTimeout)
}

// awaitCredit waits for the plugin's first grant, which a sink or a
// processor must make once it accepts the stream; false when it did not,
// or the stream ended first.
func (s *streamRun) awaitCredit() bool {
	st := s.st
	s.wait(func() bool { return st.credit > 0 || st.ended() })
	v := s.view()
	switch {
	case v.ended():
		return false
	case v.credit == 0:
		s.failf("granted no credit within %v: a %s grants its window ($/stream/credit) once it accepts the stream, or the host can send it nothing", s.c.cfg.callTimeout, s.shape)
		return false
	}
	return true
}

// sendAll sends n items, as the plugin's credit allows. A processor that
// has used the battery's credit is settled on the way, since it may hold
// the battery's items until its own are.
func (s *streamRun) sendAll(n uint64) {
	st := s.st
	for {
		v := s.view()
		if v.ended() || v.sent >= n {
			return
		}
		if avail := uint64(v.credit) - v.sent; int64(v.sent) < v.credit {
			if _, err := s.c.wire.sendItems(st, int(min(avail, n-v.sent)), s.item); err != nil {
				s.failf("could not send an item: %v", err)
				return
			}
			continue
		}
		if s.shape == typedesc.ShapeProcessor && s.exhausted(v) {
			s.release(v)
			continue
		}
		more := s.wait(func() bool {
			return st.ended() || int64(st.sent) < st.credit || s.shape == typedesc.ShapeProcessor && s.exhausted(st)
		})
		if !more {
			v := s.view()
			s.failf("granted %d credit and no more within %v, with %d of the battery's %d items settled: a receiver grants credit back as it settles items",
				v.credit, s.c.cfg.callTimeout, v.acked+v.rejected, v.sent)
			return
		}
	}
}

// exhausted reports whether the plugin has used all the credit the battery
// granted, with items to settle. v is a view, or the state with the
// wire's lock held.
func (s *streamRun) exhausted(v *streamState) bool {
	return v.recvd > v.through && int64(v.recvd) >= v.granted
}

// release settles the plugin's items: the first time, once a ping's round
// trip has let an item sent past the credit arrive, so that one would
// show.
func (s *streamRun) release(v *streamState) {
	if s.held == 0 {
		s.settleTime()
		s.held = v.recvd
	}
	if err := s.c.wire.settle(s.st); err != nil {
		s.failf("could not acknowledge: %v", err)
	}
}

// streamSession opens fn as the host would and plays the host's part of
// its shape: a source is read from and cancelled, a sink is sent items
// and closed, a processor both.
func (c *checker) streamSession(fn string) {
	name := "stream " + fn
	s, ok := c.openStream(name, fn, streamWindow)
	if !ok {
		return
	}
	switch s.shape {
	case typedesc.ShapeSource:
		s.source()
	case typedesc.ShapeSink:
		if s.awaitCredit() {
			s.sendAll(sinkItems)
			s.closeHalf()
		}
	case typedesc.ShapeProcessor:
		s.processor()
	}
	s.finish()
	c.add(name, s.status(), "%s: %s", s.shape, s.detail())
}

func (s *streamRun) closeHalf() {
	if s.failed() || s.view().ended() {
		return
	}
	if err := s.c.wire.closeHalf(s.st); err != nil {
		s.failf("could not close the battery's half: %v", err)
		return
	}
	s.closed = true
}

func (s *streamRun) cancel(reason string) {
	if s.view().ended() {
		return
	}
	if err := s.c.wire.cancelStream(s.st, reason); err != nil {
		s.failf("could not cancel the stream: %v", err)
		return
	}
	s.cancelled = true
}

// source reads a source: it lets the plugin use the window, settles the
// items, expects more, and cancels the stream, as a source may be endless.
func (s *streamRun) source() {
	st := s.st
	full := s.wait(func() bool { return st.ended() || int64(st.recvd) >= st.granted })
	v := s.view()
	switch {
	case v.ended():
		return // it ended on its own, or broke a rule
	case !full:
		// A source with little to send is no fault; what it sent is
		// settled, and the stream cancelled.
		if err := s.c.wire.settle(st); err != nil {
			s.failf("could not acknowledge: %v", err)
		}
	default:
		s.release(v)
		s.stalled = !s.wait(func() bool { return st.ended() || st.recvd > s.held })
		if v := s.view(); s.stalled && !v.ended() {
			s.failf("sent %d items with the %d credit granted, then none within %v after the battery acknowledged them and granted %d more",
				s.held, s.held, s.c.cfg.callTimeout, s.held)
		}
		if err := s.c.wire.settle(st); err != nil {
			s.failf("could not acknowledge: %v", err)
		}
	}
	s.cancel("plugsock check: the battery has read enough")
}

// processor sends a processor more items than the battery's window, and
// holds back its own credit until the plugin has used it, then settles
// what it sends as the host does, closes its half, and reads the rest.
func (s *streamRun) processor() {
	st := s.st
	if !s.awaitCredit() {
		return
	}
	s.sendAll(processorItems)
	// Until the plugin has settled the battery's items, or nothing moves
	// within the call timeout (a processor may keep items until its input
	// ends), or it has sent many items; it may send any number.
	deadline := time.Now().Add(s.c.cfg.callTimeout)
	for !s.failed() {
		v := s.view()
		left := time.Until(deadline)
		switch {
		case v.ended():
			return
		case v.recvd >= maxStreamItems || left <= 0:
		case s.exhausted(v):
			s.release(v)
			continue
		case v.acked+v.rejected == int(v.sent):
			// Every item settled, and credit to spare: nothing holds the
			// plugin up.
		default:
			snap := v
			if s.c.wire.waitStream(st, left, func() bool {
				return st.ended() || st.recvd != snap.recvd || st.acked+st.rejected != snap.acked+snap.rejected
			}) {
				continue
			}
		}
		break
	}
	if s.failed() {
		return
	}
	s.stalled = s.held > 0 && s.view().recvd == s.held
	s.closeHalf()
	// The rest, taken as the host takes it, until the answer.
	deadline = time.Now().Add(s.c.cfg.callTimeout)
	for {
		if err := s.c.wire.settle(st); err != nil {
			s.failf("could not acknowledge: %v", err)
			return
		}
		v := s.view()
		left := time.Until(deadline)
		if v.ended() || left <= 0 {
			return
		}
		s.c.wire.waitStream(st, left, func() bool { return st.ended() || st.recvd > st.through })
	}
}

// finish makes sure the stream has ended and its request is answered, and
// judges the end: the rules the plugin broke, the answer, the items it
// left unsettled or that do not fit their description.
func (s *streamRun) finish() {
	st, T := s.st, s.c.cfg.callTimeout
	if !s.failed() && !s.closed && !s.cancelled && !s.view().ended() {
		s.cancel("plugsock check: done")
	}
	if s.failed() && !s.view().ended() {
		s.cancel("plugsock check: giving up on the stream")
	}
	s.wait(func() bool { return st.answer != nil })
	v := s.view()
	if len(v.problems) > 0 {
		s.failf("%s (the battery failed the stream, as the host does)", summarize(v.problems))
	}
	if c := v.cancel; c != nil {
		switch {
		case c.bad != "":
			s.failf("its $/stream/cancel has a malformed error: %s", c.bad)
		case c.err != nil && (c.err.Code == envelope.CodeInvalidRequest || c.err.Code == envelope.CodeInvalidParams):
			s.failf("it failed the stream, saying the battery broke its rules: error %d %q; the battery sends what the host sends", c.err.Code, c.err.Message)
		}
	}
	switch a := v.answer; {
	case a == nil:
		s.failf("no answer to the request that opened it within %v after %s; a stream's request is answered when the stream ends", T, s.ending(v))
		s.c.wire.forget(s.r)
		if !s.cancelled && v.cancel == nil && len(v.problems) == 0 {
			// As the host does at the shutdown timeout: the plugin's
			// method should end, and the checks after this one run on.
			_ = s.c.wire.cancelStream(st, "plugsock check: no answer")
		}
		if s.stalled {
			s.failf("it sent nothing after the battery settled its first %d items and granted more", s.held)
		}
	case a.err == nil && string(bytes.TrimSpace(a.m.Result)) != "null":
		s.failf("answered result %s; a stream's request is answered null, or an error", clip(a.m.Result))
	case a.err != nil:
		codes := callCodes
		if s.cancelled || v.cancel != nil || len(v.problems) > 0 {
			codes = cancelCodes
		}
		if p := errorShape(a.m.Error); p != "" {
			s.failf("answered %s", p)
		} else if _, ok := codes[a.err.Code]; !ok {
			s.failf("answered error %s, a code the end of a stream should not get", clip(a.m.Error))
		}
	case v.cancel == nil && !s.cancelled && v.sent > 0:
		// Acknowledgements come before the answer, so those not in by
		// now never will.
		if u := s.unsettled(); len(u) > 0 {
			s.failf("answered null with %s unsettled: a receiver settles every item it received, or the host must deliver it again", items(u))
		}
	}
	if len(v.misfits) > 0 {
		s.failf("%s", summarize(v.misfits))
	}
	if v.sent > 0 && v.acked == 0 && v.rejected == int(v.sent) {
		s.warn = fmt.Sprintf("it rejected every item the battery sent, made from the in description (%q)", v.reason)
	}
}

// unsettled lists the battery's items the plugin has not settled.
func (s *streamRun) unsettled() []uint64 {
	s.c.wire.mu.Lock()
	defer s.c.wire.mu.Unlock()
	return s.st.unsettledItems()
}

// items names items by seq: "item 3", "items 2, 3 and 4", "items 2 to 9".
func items(seqs []uint64) string {
	switch n := len(seqs); {
	case n == 1:
		return fmt.Sprintf("item %d", seqs[0])
	case seqs[n-1]-seqs[0] == uint64(n-1) && n > 3:
		return fmt.Sprintf("items %d to %d", seqs[0], seqs[n-1])
	case n > 3:
		return fmt.Sprintf("items %d, %d, %d and %d more", seqs[0], seqs[1], seqs[2], n-3)
	}
	ss := make([]string, len(seqs))
	for i, q := range seqs {
		ss[i] = fmt.Sprint(q)
	}
	return "items " + strings.Join(ss[:len(ss)-1], ", ") + " and " + ss[len(ss)-1]
}

// ending says what the battery did last to the stream, or the plugin.
func (s *streamRun) ending(v *streamState) string {
	switch {
	case v.cancel != nil:
		return "the plugin cancelled it"
	case len(v.problems) > 0:
		return "the battery failed it"
	case s.cancelled:
		return "the battery cancelled it"
	case s.closed:
		return "the battery closed its half"
	}
	return "it was opened"
}

func (s *streamRun) status() Status {
	switch {
	case s.failed():
		return Fail
	case s.warn != "":
		return Warn
	}
	return Pass
}

// detail says what the session found: the failures first, then what was
// seen.
func (s *streamRun) detail() string {
	v := s.view()
	var parts []string
	parts = append(parts, s.fail...)
	if s.warn != "" {
		parts = append(parts, s.warn)
	}
	parts = append(parts, fmt.Sprintf("opened with params %s and a window of %d", orNone(s.params), streamWindow))
	if s.shape != typedesc.ShapeSource {
		parts = append(parts, fmt.Sprintf("granted %d credit", v.credit))
	}
	if v.sent > 0 {
		sent := fmt.Sprintf("%s sent, %d acknowledged", count(int(v.sent), "item"), v.acked)
		if v.rejected > 0 {
			sent += fmt.Sprintf(", %d rejected (%q)", v.rejected, v.reason)
		}
		parts = append(parts, sent)
	}
	if s.shape != typedesc.ShapeSink {
		got := fmt.Sprintf("%s received", count(int(v.recvd), "item"))
		if v.recvd > 0 && len(v.problems) == 0 {
			got += ", in order and within the credit"
		}
		if s.held > 0 && v.recvd > s.held {
			got += fmt.Sprintf(", more once the battery settled the first %d", s.held)
		}
		parts = append(parts, got)
	}
	var end string
	switch {
	case v.cancel != nil:
		end = fmt.Sprintf("the plugin cancelled it (%q)", v.cancel.reason)
	case len(v.problems) > 0:
		end = "failed by the battery"
	case s.cancelled:
		end = "cancelled by the battery"
	case s.closed:
		end = "the battery closed its half"
	default:
		end = "it ended on its own"
	}
	if a := v.answer; a != nil {
		end += ": answered " + answered(*a)
	}
	return strings.Join(append(parts, end), "; ")
}

// answered says what an answer to a stream's request was: null, or as
// describe says.
func answered(a answer) string {
	if a.err == nil && string(bytes.TrimSpace(a.m.Result)) == "null" {
		return "null"
	}
	return describe(a)
}

// streamAsCall calls a stream function as a plain call, without
// _meta.stream, which is answered -32602: the host never does it
// (socket.Socket.CallContext refuses a stream), so another error only
// warns.
func (c *checker) streamAsCall(fn string) {
	name := "stream call " + fn
	params := c.params(fn)
	want := fmt.Sprintf("want error %d (invalid params): a stream is opened with params._meta.stream", envelope.CodeInvalidParams)
	r := c.wire.newRequest(fn, params, checkTrace)
	if err := c.wire.send(r); err != nil {
		c.add(name, Fail, "could not send: %v", err)
		return
	}
	a, ok := c.wire.await(r, c.cfg.callTimeout)
	switch {
	case !ok:
		c.wire.forget(r)
		_ = c.wire.cancel(r.id)
		c.add(name, Fail, "called without _meta.stream, with params %s: %s; %s", orNone(params), c.noAnswer(), want)
	case a.err == nil:
		c.add(name, Fail, "called without _meta.stream, with params %s: answered result %s; %s", orNone(params), clip(a.m.Result), want)
	case a.err.Code != envelope.CodeInvalidParams:
		c.add(name, Warn, "called without _meta.stream, with params %s: answered error %s; %s", orNone(params), clip(a.m.Error), want)
	default:
		c.add(name, Pass, "called without _meta.stream: answered %d %q", a.err.Code, a.err.Message)
	}
}

// creditFunction picks the stream the stream without credit check sends
// items past its credit: a source if there is one, which never reads,
// and so never settles, what the host sends it; else a processor, opened
// with a window of 1, which one that answers each item with one of its
// own soon stops settling on; else a sink.
func (c *checker) creditFunction() string {
	for _, shape := range []string{typedesc.ShapeSource, typedesc.ShapeProcessor, typedesc.ShapeSink} {
		for _, fn := range c.streamFns {
			if !c.cfg.skip[fn] && c.report.Streams[fn] == shape {
				return fn
			}
		}
	}
	return ""
}

// streamWithoutCredit sends items past the credit the plugin granted,
// which must make it fail the stream with a $/stream/cancel carrying an
// error (section 19, "Breaking the rules"). The host never sends such an
// item, so a plugin that takes it gets a WARN. An item is sent without
// credit for certain only if the plugin granted no more before it
// settled it (or, not settling it, in the call timeout after): a plugin
// that keeps granting as it goes is tried again, and the check is
// skipped if it never can be sure.
func (c *checker) streamWithoutCredit() {
	const name = "stream without credit"
	fn := c.creditFunction()
	if fn == "" {
		c.add(name, Skip, "no stream function to open")
		return
	}
	s, ok := c.openStream(name, fn, 1)
	if !ok {
		return
	}
	st := s.st
	wait := c.cfg.callTimeout
	if s.shape == typedesc.ShapeSource {
		wait = min(wait, sourceCreditWait)
	}
	c.wire.waitStream(st, wait, func() bool { return st.credit > 0 || st.ended() })
	result := func(status Status, format string, args ...any) {
		c.add(name, status, "%s (%s): %s", fn, s.shape, fmt.Sprintf(format, args...))
	}
	var seq uint64 // the item sent past the credit
	var with int64 // the credit it was sent with
	verdict := ""  // how the plugin took it, when it did not fail the stream
	for round := 1; ; round++ {
		v := s.view()
		if v.ended() {
			break
		}
		with = v.credit
		n := uint64(with) + 1 - v.sent
		if v.sent+n > maxStreamItems {
			s.cancel("plugsock check: done")
			s.wait(func() bool { return st.answer != nil })
			result(Skip, "it granted %d credit, and the battery sends at most %d items to go past it", with, maxStreamItems)
			return
		}
		c.wire.mu.Lock()
		st.watch, st.watchAt = v.sent+n, -1
		c.wire.mu.Unlock()
		var err error
		if seq, err = c.wire.sendItems(st, int(n), s.item); err != nil {
			result(Fail, "could not send: %v", err)
			return
		}
		s.wait(func() bool { return st.ended() || st.watchAt >= 0 })
		v = s.view()
		if v.ended() {
			break
		}
		if v.watchAt >= 0 && v.watchAt <= with {
			verdict = fmt.Sprintf("it settled item %d, sent with %d credit, instead of failing the stream", seq, with)
			break
		}
		if v.watchAt < 0 && v.credit <= with {
			verdict = fmt.Sprintf("it did not fail the stream within %v of item %d, sent with %d credit", c.cfg.callTimeout, seq, with)
			break
		}
		if round == creditRounds {
			s.cancel("plugsock check: done")
			s.wait(func() bool { return st.answer != nil })
			result(Skip, "inconclusive: %d times it granted more credit before it settled the item sent past its credit, so that item may have had credit when it arrived", creditRounds)
			return
		}
	}
	if verdict != "" {
		s.cancel("plugsock check: done")
	}
	s.wait(func() bool { return st.answer != nil })
	v := s.view()
	unanswered := ""
	if v.answer == nil {
		s.c.wire.forget(s.r)
		unanswered = fmt.Sprintf("; and the request that opened it got no answer within %v after it ended", c.cfg.callTimeout)
	}
	const why = " (section 19, Breaking the rules: the side that sees an item sent without credit fails the stream with a $/stream/cancel carrying an error)"
	switch cn := v.cancel; {
	case verdict != "":
		result(Warn, "%s%s%s", verdict, why, unanswered)
	case len(v.problems) > 0:
		result(Skip, "the plugin broke the stream's rules first: %s", summarize(v.problems))
	case cn != nil && cn.bad != "":
		result(Fail, "item %d, sent with %d credit, made it cancel the stream, but its error is malformed: %s%s", seq, with, cn.bad, unanswered)
	case cn != nil && cn.err != nil:
		status := Pass
		if unanswered != "" {
			status = Fail
		}
		result(status, "item %d, sent with %d credit, made it fail the stream: $/stream/cancel with error %d %q%s", seq, with, cn.err.Code, cn.err.Message, unanswered)
	case cn != nil:
		result(Warn, "item %d, sent with %d credit, made it cancel the stream (%q), without an error%s%s", seq, with, cn.reason, why, unanswered)
	case seq == 0:
		result(Skip, "the stream ended before an item could be sent past its credit: answered %s", answered(*v.answer))
	default:
		result(Warn, "after item %d, sent with %d credit, it answered %s without a $/stream/cancel%s", seq, with, answered(*v.answer), why)
	}
}

// streamFindings runs the stream messages check on what the wire
// recorded: every stream message the plugin sent was a notification
// about a stream the battery opened, and none came after the plugin
// ended its stream.
func (c *checker) streamFindings() {
	if len(c.streamFns) == 0 || c.report.Protocol < envelope.Protocol2 {
		return
	}
	const name = "stream messages"
	w := c.wire
	w.mu.Lock()
	msgs, bad := w.streamMsgs, append([]string(nil), w.streamBad...)
	w.mu.Unlock()
	switch {
	case len(bad) > 0:
		c.add(name, Fail, "%s", summarize(bad))
	case msgs == 0:
		c.add(name, Skip, "the plugin sent no stream message")
	default:
		c.add(name, Pass, "%s, each a notification about a stream open", count(msgs, "stream message"))
	}
}
