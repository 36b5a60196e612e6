package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// The wire's side of streams (docs/protocol.md section 19): the battery
// opens a stream with a request whose _meta has a stream member, and then
// plays the host's part of it over raw frames. The read loop keeps each
// stream's state as the plugin's stream messages come, judges them
// against the section's rules, and fails the stream as the host does on
// the first rule the plugin breaks: a $/stream/cancel with an error. The
// checker (checks_streams.go) sends items, acknowledgements, credit,
// close and cancel, and waits on the state.
//
// Everything kept is bounded: counts, the settlement of the few items the
// battery sends (at most maxStreamItems a stream), and maxFindings of
// problems.

// maxStreamItems bounds the items the battery sends on one stream: a few
// on an ordinary one, and on the one that goes past the plugin's credit,
// one more than it granted.
const maxStreamItems = 1024

// maxCredit is the most credit a stream may be granted in all, as
// envelope has it (2^40).
const maxCredit = 1 << 40

// How an item the battery sent was settled.
const (
	unsettled byte = iota
	acknowledged
	rejected
)

// streamState is what the battery knows of one stream it opened. The read
// loop updates it under wire.mu; the checker reads it under wire.mu too,
// and waits for it to change with waitStream.
type streamState struct {
	id        []byte // the stream's id, as the request had it
	shape     string
	out       *typedesc.Entity // what the plugin's items must fit
	outSchema *typedesc.Schema

	// The battery's items, to the plugin.
	credit   int64  // credit the plugin granted, in all
	sent     uint64 // items the battery sent
	settled  []byte // how each was settled, by seq-1
	acked    int
	rejected int
	reason   string // the first rejection's reason
	watch    uint64 // an item whose settlement matters (the credit check's)
	watchAt  int64  // the credit granted when it was settled; -1 until then

	// The plugin's items, to the battery.
	granted int64    // credit the battery granted, in all (the window, then grants)
	recvd   uint64   // the seq of the last item received
	through uint64   // the battery has acknowledged every item up to it
	closed  bool     // the plugin closed its half
	misfits []string // its items that do not fit the out description

	// The end.
	answer    *answer       // the answer to the opening request
	cancel    *streamCancel // the plugin's $/stream/cancel
	cancelled bool          // the battery cancelled or failed it: what crosses is ignored
	problems  []string      // the rules the plugin broke, in order

	changed chan struct{} // closed and replaced on every change
}

// streamCancel is a $/stream/cancel the plugin sent.
type streamCancel struct {
	reason string
	err    *rpcError // nil when it cancelled without an error
	bad    string    // what is wrong with the error member, if anything
}

// ended reports whether the stream is over for the battery: answered,
// cancelled by the plugin, or failed by the battery for a rule the plugin
// broke. w.mu is held.
func (st *streamState) ended() bool {
	return st.answer != nil || st.cancel != nil || len(st.problems) > 0
}

// unsettledItems lists the battery's items the plugin has not settled.
// w.mu is held.
func (st *streamState) unsettledItems() []uint64 {
	var u []uint64
	for i, s := range st.settled {
		if s == unsettled {
			u = append(u, uint64(i)+1)
		}
	}
	return u
}

// touch wakes whoever waits on st. w.mu is held.
func (st *streamState) touch() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// broke records a rule of the stream the plugin broke. w.mu is held.
func (st *streamState) broke(format string, args ...any) {
	if len(st.problems) < maxFindings {
		st.problems = append(st.problems, fmt.Sprintf(format, args...))
	}
}

// openStream sends a request for fn with params that opens a stream,
// granting the plugin window items of credit, as socket.Socket.OpenStream
// sends it: params as a call's, and a _meta of the trace id and
// {"stream": {"window": window}}. The plugin's items must fit out and
// outSchema, when not nil.
func (w *wire) openStream(fn, shape string, params json.RawMessage, window int64, out *typedesc.Entity, outSchema *typedesc.Schema) (*streamState, *request, error) {
	r := w.newRequestAs(fn, params, checkTrace+"-stream", withMeta)
	r.timeout, r.window = 0, window
	key := r.id.String()
	st := &streamState{id: []byte(key), shape: shape, out: out, outSchema: outSchema,
		granted: window, watchAt: -1, changed: make(chan struct{})}
	w.mu.Lock()
	delete(w.open, key) // no progress is asked of a stream
	w.streams[key] = st
	w.mu.Unlock()
	if err := w.send(r); err != nil {
		w.forget(r)
		return nil, nil, err
	}
	return st, r, nil
}

// waitStream waits up to d for cond, which is called with w.mu held, to
// hold of st, and reports whether it did.
func (w *wire) waitStream(st *streamState, d time.Duration, cond func() bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		w.mu.Lock()
		ok := cond()
		ch := st.changed
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return w.holds(cond)
		case <-w.closed:
			return w.holds(cond)
		}
	}
}

func (w *wire) holds(cond func() bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return cond()
}

// Params of the stream messages the battery sends, members in the order
// the host writes them.
type (
	itemParams struct {
		Stream json.RawMessage `json:"stream"`
		Item   json.RawMessage `json:"item"`
		Seq    uint64          `json:"seq"`
	}
	ackParams struct {
		Stream  json.RawMessage `json:"stream"`
		Through uint64          `json:"through"`
	}
	creditParams struct {
		Stream json.RawMessage `json:"stream"`
		Credit int64           `json:"credit"`
	}
	closeParams struct {
		Stream json.RawMessage `json:"stream"`
	}
	cancelParams struct {
		Stream json.RawMessage `json:"stream"`
		Reason string          `json:"reason"`
		Error  *envelope.Error `json:"error,omitempty"`
	}
)

// notification appends the frame of a notification, as envelope writes
// it.
func notification(b []byte, method string, params any) ([]byte, error) {
	return envelope.AppendRequest(b, envelope.ID{}, method, params, "")
}

// sendItems sends n copies of item on st, in one write, whatever credit
// the plugin has granted: the checker decides how many it may send. It
// returns the seq of the last one.
func (w *wire) sendItems(st *streamState, n int, item json.RawMessage) (uint64, error) {
	w.mu.Lock()
	if n > maxStreamItems-len(st.settled) {
		n = maxStreamItems - len(st.settled)
	}
	first := st.sent + 1
	st.sent += uint64(n)
	st.settled = append(st.settled, make([]byte, n)...)
	last := st.sent
	w.mu.Unlock()
	var b []byte
	for seq := first; seq <= last; seq++ {
		var err error
		if b, err = notification(b, envelope.MethodStreamItem, itemParams{Stream: st.id, Item: item, Seq: seq}); err != nil {
			return last, err
		}
	}
	return last, w.writeRaw(b)
}

// settle acknowledges every item the plugin sent on st that the battery
// has not, and grants back the credit that frees, as the host does with
// a window as small as the battery's: an acknowledgement through the last
// and a grant, in one write. The grant is counted before it is written,
// so that an item it allows is never taken for one sent without credit.
func (w *wire) settle(st *streamState) error {
	w.mu.Lock()
	n := int64(st.recvd - st.through)
	if n <= 0 || st.ended() || st.cancelled {
		w.mu.Unlock()
		return nil
	}
	st.through = st.recvd
	st.granted += n
	through := st.through
	w.mu.Unlock()
	b, err := notification(nil, envelope.MethodStreamAck, ackParams{Stream: st.id, Through: through})
	if err == nil {
		b, err = notification(b, envelope.MethodStreamCredit, creditParams{Stream: st.id, Credit: n})
	}
	if err != nil {
		return err
	}
	return w.writeRaw(b)
}

// closeHalf closes the battery's half of st.
func (w *wire) closeHalf(st *streamState) error {
	b, err := notification(nil, envelope.MethodStreamClose, closeParams{Stream: st.id})
	if err != nil {
		return err
	}
	return w.writeRaw(b)
}

// cancelStream cancels st, telling the plugin reason; from then on, what
// the plugin sends about it crosses the cancel and is not judged.
func (w *wire) cancelStream(st *streamState, reason string) error {
	w.mu.Lock()
	st.cancelled = true
	st.touch()
	w.mu.Unlock()
	b, err := notification(nil, envelope.MethodStreamCancel, cancelParams{Stream: st.id, Reason: reason})
	if err != nil {
		return err
	}
	return w.writeRaw(b)
}

// isStreamMessage reports whether method is one of section 19's.
func isStreamMessage(method string) bool { return strings.HasPrefix(method, "$/stream/") }

// streamAnswered records the answer to st's opening request, which ends
// it. w.mu is held.
func (w *wire) streamAnswered(st *streamState, a answer) {
	if st.answer == nil {
		st.answer = &a
		st.touch()
	}
}

// stray records a stream message that names no stream open, or is shaped
// wrong, for the stream messages check. w.mu is held.
func (w *wire) stray(m *message, format string, args ...any) {
	if len(w.streamBad) < maxFindings {
		w.streamBad = append(w.streamBad, fmt.Sprintf("%s: %s", fmt.Sprintf(format, args...), clip(m.body)))
	}
}

// streamMessage takes a stream message from the plugin, on the read loop.
func (w *wire) streamMessage(m *message) {
	w.mu.Lock()
	w.streamMsgs++
	if m.isRequest() {
		w.stray(m, "%s sent as a request (stream messages are notifications)", m.Method)
		w.mu.Unlock()
		// As the host answers it.
		_ = w.replyError(m.ID, envelope.CodeInvalidRequest, m.Method+" is a notification; send it without an id")
		return
	}
	var p map[string]json.RawMessage
	if !m.has["params"] || json.Unmarshal(m.Params, &p) != nil || p == nil {
		w.stray(m, "%s params are not an object", m.Method)
		w.mu.Unlock()
		return
	}
	raw, ok := p["stream"]
	if !ok {
		w.stray(m, `%s has no "stream"`, m.Method)
		w.mu.Unlock()
		return
	}
	st := w.streams[string(bytes.TrimSpace(raw))]
	switch {
	case st == nil:
		w.stray(m, "%s names stream %s, which the battery never opened (a stream is named by its request's id, written as the request wrote it)", m.Method, clip(raw))
		w.mu.Unlock()
		return
	case st.answer != nil || st.cancel != nil:
		// What the plugin sends after it ended the stream itself crosses
		// nothing of the battery's.
		w.stray(m, "%s about stream %s after the plugin ended it", m.Method, st.id)
		w.mu.Unlock()
		return
	case st.cancelled || len(st.problems) > 0:
		w.mu.Unlock() // crossed the battery's cancel
		return
	}
	var code int64
	var bad string
	switch m.Method {
	case envelope.MethodStreamItem:
		code, bad = envelope.CodeInvalidRequest, st.item(p)
	case envelope.MethodStreamCredit:
		code, bad = st.grant(p)
	case envelope.MethodStreamAck:
		code, bad = st.ack(p)
	case envelope.MethodStreamClose:
		st.closed = true
	case envelope.MethodStreamCancel:
		c := &streamCancel{}
		_ = json.Unmarshal(p["reason"], &c.reason)
		if e, ok := p["error"]; ok && string(bytes.TrimSpace(e)) != "null" {
			c.err, c.bad = &rpcError{}, errorShape(e)
			if c.bad == "" && json.Unmarshal(e, c.err) != nil {
				c.bad = fmt.Sprintf("error is not an error object: %s", clip(e))
			}
		}
		st.cancel = c
	default:
		code, bad = envelope.CodeInvalidRequest, "unknown stream message"
	}
	var fail []byte
	if bad != "" {
		bad = m.Method + ": " + bad
		st.broke("%s", bad)
		// The host fails the stream that breaks a rule.
		fail, _ = notification(nil, envelope.MethodStreamCancel,
			cancelParams{Stream: st.id, Reason: bad, Error: &envelope.Error{Code: code, Message: bad}})
	}
	st.touch()
	w.mu.Unlock()
	if fail != nil {
		_ = w.writeRaw(fail)
	}
}

// plainUint reads a positive-or-zero integer written as digits only.
func plainUint(raw json.RawMessage) (uint64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || len(raw) > 1 && raw[0] == '0' || bytes.ContainsFunc(raw, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	return n, err == nil
}

// item takes one of the plugin's items; it says which rule the item
// breaks, if any. w.mu is held.
func (st *streamState) item(p map[string]json.RawMessage) string {
	rawSeq, hasSeq := p["seq"]
	value, hasItem := p["item"]
	seq, ok := plainUint(rawSeq)
	switch {
	case !hasSeq || !hasItem:
		return `an item needs "seq" and "item"`
	case !ok || seq == 0:
		return fmt.Sprintf("seq: want a positive integer, got %s", clip(rawSeq))
	case st.shape == typedesc.ShapeSink:
		return fmt.Sprintf("item %d from a sink, whose description has no out: its items go to the plugin only", seq)
	case st.closed:
		return fmt.Sprintf("item %d after the plugin closed its half", seq)
	case seq != st.recvd+1:
		return fmt.Sprintf("item %d out of order: want %d (seq counts 1, 2, 3, ... without gaps)", seq, st.recvd+1)
	case int64(seq) > st.granted:
		return fmt.Sprintf("sent item %d with %d credit", seq, st.granted)
	}
	st.recvd = seq
	// The host does not validate items, so one that does not fit is a
	// finding, not a rule broken: the stream goes on.
	var err error
	if st.out != nil {
		err = st.out.Validate(value)
	}
	if err == nil && st.outSchema != nil {
		err = st.outSchema.Validate(value)
	}
	if err != nil && len(st.misfits) < maxFindings {
		st.misfits = append(st.misfits, fmt.Sprintf("item %d %s does not fit the out description: %v", seq, clip(value), err))
	}
	return ""
}

// grant takes the plugin's $/stream/credit. w.mu is held.
func (st *streamState) grant(p map[string]json.RawMessage) (int64, string) {
	raw := p["credit"]
	n, ok := plainUint(raw)
	switch {
	case !ok || n > maxCredit:
		return envelope.CodeInvalidParams, fmt.Sprintf("credit: want an integer from 0 to %d, got %s", int64(maxCredit), clip(raw))
	case st.credit+int64(n) > maxCredit:
		return envelope.CodeInvalidRequest, fmt.Sprintf("credit above %d in all", int64(maxCredit))
	}
	st.credit += int64(n)
	return 0, ""
}

// ack takes the plugin's $/stream/ack. w.mu is held.
func (st *streamState) ack(p map[string]json.RawMessage) (int64, string) {
	rawThrough, hasThrough := p["through"]
	rawSeq, hasSeq := p["seq"]
	rawReject, hasReject := p["reject"]
	var through, seq uint64
	var ok bool
	if hasThrough {
		if through, ok = plainUint(rawThrough); !ok || through == 0 {
			return envelope.CodeInvalidParams, fmt.Sprintf("through: want a positive integer, got %s", clip(rawThrough))
		}
	}
	if hasSeq {
		if seq, ok = plainUint(rawSeq); !ok || seq == 0 {
			return envelope.CodeInvalidParams, fmt.Sprintf("seq: want a positive integer, got %s", clip(rawSeq))
		}
	}
	var reason string
	if hasReject && (jsonKind(rawReject) != "a string" || json.Unmarshal(rawReject, &reason) != nil) {
		return envelope.CodeInvalidParams, fmt.Sprintf("reject: want a string, got %s", clip(rawReject))
	}
	switch {
	case hasThrough == hasSeq:
		return envelope.CodeInvalidRequest, `an ack has "through" or "seq", one of them`
	case hasThrough && hasReject:
		return envelope.CodeInvalidRequest, `"reject" goes with "seq"`
	case through > st.sent || seq > st.sent:
		return envelope.CodeInvalidRequest, fmt.Sprintf("acknowledges item %d, which was not sent: %d sent", max(through, seq), st.sent)
	}
	mark := func(s uint64, how byte) {
		if st.settled[s-1] != unsettled {
			return // settled once, the first time
		}
		st.settled[s-1] = how
		if how == rejected {
			st.rejected++
			if st.reason == "" {
				st.reason = reason
			}
		} else {
			st.acked++
		}
		if s == st.watch {
			st.watchAt = st.credit
		}
	}
	switch {
	case hasThrough:
		for s := uint64(1); s <= through; s++ {
			mark(s, acknowledged)
		}
	case hasReject:
		mark(seq, rejected)
	default:
		mark(seq, acknowledged)
	}
	return 0, ""
}
