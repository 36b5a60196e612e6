package envelope

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plugsock/plugsock/internal/jsonscan"
	"github.com/plugsock/plugsock/typedesc"
)

// Protocol 2's requests: params that are always an object, and the
// metadata that travels in params._meta rather than beside params
// (docs/protocol.md, "Protocol 2"). Protocol 1's shapes are in message.go
// and are not changed by anything here.

// metaMember is the params member protocol 2 carries metadata in.
const metaMember = "_meta"

// deadlineLayout is RFC 3339 in UTC with exactly three fractional digits,
// as protocol 2 senders write deadlines.
const deadlineLayout = "2006-01-02T15:04:05.000Z07:00"

// callMeta is params._meta as read.
type callMeta struct {
	Trace         string
	TraceParent   string
	TraceState    string
	Deadline      time.Time
	ProgressToken ID
	Stream        bool  // _meta.stream was there: the request opens a stream
	Window        int64 // _meta.stream.window: the credit the opener grants
}

// outMeta is the metadata a request is sent with.
type outMeta struct {
	trace, parent, state string
	deadline             time.Time
	token                ID
	window               int64 // opens a stream granting that much credit, when positive
}

func (md *outMeta) empty() bool {
	return md == nil || md.trace == "" && md.parent == "" && md.state == "" && md.deadline.IsZero() && md.token.IsZero() && md.window == 0
}

// carriesMeta reports whether requests for method carry params._meta: the
// calls to functions and services, and $/call, which passes it on. The
// protocol's own housekeeping carries none.
func carriesMeta(method string) bool { return !reserved(method) || method == MethodCall }

func reserved(method string) bool { return len(method) >= 2 && method[0] == '$' && method[1] == '/' }

// metaFor is the metadata a call made with ctx sends. cto is the call
// timeout that applies when ctx has no deadline of its own.
func metaFor(ctx context.Context, cto time.Duration) outMeta {
	md := outMeta{trace: TraceFrom(ctx)}
	md.parent, md.state = TraceContextFrom(ctx)
	if d, ok := ctx.Deadline(); ok {
		md.deadline = d
	} else if cto > 0 {
		md.deadline = time.Now().Add(cto)
	}
	return md
}

func (m *msg) meta(md *outMeta) {
	m.str(`"_meta":{`)
	sep := ""
	field := func(name, v string) {
		if v != "" {
			m.str(sep)
			m.str(name)
			m.quote(v)
			sep = ","
		}
	}
	field(`"trace":`, md.trace)
	field(`"traceparent":`, md.parent)
	field(`"tracestate":`, md.state)
	if !md.deadline.IsZero() {
		m.str(sep)
		m.str(`"deadline":"`)
		// Truncated, never rounded: the callee must not believe it has
		// longer than the caller will wait.
		m.b = appendDeadline(m.b, md.deadline)
		m.str(`"`)
		sep = ","
	}
	if !md.token.IsZero() {
		m.str(sep)
		m.str(`"progressToken":`)
		m.id(md.token)
		sep = ","
	}
	if md.window > 0 {
		m.str(sep)
		m.str(`"stream":{"window":`)
		m.b = strconv.AppendInt(m.b, md.window, 10)
		m.str(`}`)
	}
	m.str(`}`)
}

// request2 writes a protocol 2 request, or a notification when id is the
// zero ID. params must encode to an object or null (sent as {}); md, when
// not empty, becomes its last member.
func (m *msg) request2(id ID, method string, params any, md *outMeta) error {
	m.str(`{"jsonrpc":"2.0",`)
	if !id.IsZero() {
		m.str(`"id":`)
		m.id(id)
		m.str(`,`)
	}
	m.str(`"method":`)
	m.quote(method)
	withMeta := !md.empty()
	if params == nil && !withMeta && reserved(method) {
		// The protocol's own methods without input ($/ping, $/shutdown)
		// omit params; a function's input that is null is {}.
		m.str(`}`)
		return nil
	}
	m.str(`,"params":`)
	start := len(m.b)
	if params != nil {
		if err := m.value(params); err != nil {
			return fmt.Errorf("encoding params of %s: %w", method, err)
		}
	}
	body := bytes.TrimRight(m.b[start:], " \t\r\n")
	switch {
	case len(body) == 0 || string(body) == "null":
		m.b = append(m.b[:start], '{')
		if withMeta {
			m.meta(md)
		}
		m.str(`}`)
	case body[0] == '{' && body[len(body)-1] == '}':
		m.b = m.b[:start+len(body)]
		if withMeta {
			m.b = m.b[:len(m.b)-1]
			if jsonscan.Space(body, 1) != len(body)-1 {
				m.str(`,`)
			}
			m.meta(md)
			m.str(`}`)
		}
	default:
		m.b = m.b[:start]
		return fmt.Errorf("%w: %s: protocol 2 params must be a JSON object, and this function's input is one, but the payload encodes to %s", ErrInvalidParams, method, jsonKind(body[0]))
	}
	m.str(`}`)
	return nil
}

// jsonKind names the kind of JSON value that starts with c, for messages.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// valueParams is how protocol 2 carries an input that is not an object.
type valueParams struct {
	Value any `json:"value"`
}

// Params returns what a protocol 2 request carries as params for input:
// input itself when the function's input is an object (object is true;
// typedesc.Entity.IsObject decides), and {"value": input} otherwise.
func Params(input any, object bool) any {
	if object {
		return input
	}
	return valueParams{input}
}

// ParamsFor returns what a protocol 2 request carries as params for input
// to a function described as taking in: Params(input, in.IsObject()). A
// function that was not described at all (in is nil) gets input by name
// when it encodes to a JSON object or to null, and {"value": input}
// otherwise; the input is encoded here to tell, and an error encoding it
// returned. (A function described as taking nothing is not an object:
// pass Params(input, false).)
func ParamsFor(input any, in *typedesc.Entity) (any, error) {
	if in != nil {
		return Params(input, in.IsObject()), nil
	}
	if input == nil {
		return nil, nil
	}
	raw, ok := input.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(input); err != nil {
			return nil, err
		}
	}
	if i := jsonscan.Space(raw, 0); i < len(raw) && (raw[i] == '{' || raw[i] == 'n') {
		return raw, nil
	}
	return valueParams{raw}, nil
}

// takeMeta moves params._meta out of m.Params, once: a protocol 2 input
// never sees it. It leaves m.Params without the member, with m.Meta
// holding its trace id.
func (m *Envelope) takeMeta() (*callMeta, error) {
	if m.proto >= Protocol2 {
		return &m.meta2, nil
	}
	m.proto = Protocol2
	p := m.Params
	i := jsonscan.Space(p, 0)
	if i == len(p) || p[i] != '{' {
		return nil, nil
	}
	// The members before _meta end at prev; those after start at next.
	found := -1
	var at jsonscan.Member
	var prev, next, count int
	prev = i + 1
	_, ok := jsonscan.Members(p, i, func(mb jsonscan.Member) bool {
		count++
		if found >= 0 {
			if next == 0 {
				next = mb.Key
			}
			if isKey(p[mb.Key:mb.KeyEnd], metaMember) {
				found = -2 // a second _meta
				return false
			}
			return true
		}
		if isKey(p[mb.Key:mb.KeyEnd], metaMember) {
			found, at = count, mb
			return true
		}
		prev = mb.End
		return true
	})
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: params are not a JSON object", ErrInvalidParams)
	case found == -2:
		return nil, fmt.Errorf("%w: params have two %s members", ErrInvalidParams, metaMember)
	case found < 0:
		return nil, nil
	}
	raw := p[at.Val:at.End]
	switch {
	case next == 0 && found == 1:
		m.Params = append(p[:i:i], '{', '}')
	case next == 0:
		// The last member, as Go senders put it: cut it off in place.
		// m owns its params (decode copies them or hands over the frame).
		out := p[:prev+1]
		out[prev] = '}'
		m.Params = out
	case found == 1:
		m.Params = append(append([]byte(nil), p[:i+1]...), p[next:]...)
	default:
		m.Params = append(append(append([]byte(nil), p[:prev]...), ','), p[next:]...)
	}
	if err := readMeta(raw, &m.meta2); err != nil {
		return nil, err
	}
	return &m.meta2, nil
}

// isKey reports whether the JSON string key, quotes included, is name,
// escapes decoded: "\u005fmeta" is _meta too.
func isKey(key []byte, name string) bool { return jsonscan.KeyIs(key, name) }

// readMeta reads the _meta object raw into md. Its members are matched by
// their exact names, and unknown ones are skipped unread; a member that is
// null counts as absent. It parses by hand, since a call's metadata is read
// on every call: encoding/json cost six allocations a call here.
func readMeta(raw []byte, md *callMeta) error {
	if string(raw) == "null" {
		return nil
	}
	if raw[0] != '{' {
		return fmt.Errorf("%w: %s: want an object, got %s", ErrInvalidParams, metaMember, jsonKind(raw[0]))
	}
	var err error
	jsonscan.Members(raw, 0, func(mb jsonscan.Member) bool {
		key, val := raw[mb.Key:mb.KeyEnd], raw[mb.Val:mb.End]
		if string(val) == "null" {
			return true
		}
		var name string
		var dst *string
		switch {
		case isKey(key, "trace"):
			name, dst = "trace", &md.Trace
		case isKey(key, "traceparent"):
			name, dst = "traceparent", &md.TraceParent
		case isKey(key, "tracestate"):
			name, dst = "tracestate", &md.TraceState
		case isKey(key, "deadline"):
			name = "deadline"
			var ok bool
			switch {
			case val[0] != '"':
				err = fmt.Errorf("%w: %s.deadline: want a string holding an RFC 3339 time, got %s", ErrInvalidParams, metaMember, jsonKind(val[0]))
			default:
				if md.Deadline, ok = readDeadline(val); !ok {
					err = fmt.Errorf("%w: %s.deadline: want an RFC 3339 time, got %s", ErrInvalidParams, metaMember, truncate(val))
				}
			}
		case isKey(key, "stream"):
			name = "stream"
			md.Stream = true
			if err = readStreamMeta(val, md); err != nil {
				err = fmt.Errorf("%w: %s.stream: %v", ErrInvalidParams, metaMember, err)
			}
		case isKey(key, "progressToken"):
			name = "progressToken"
			if val[0] == '"' || (val[0] == '-' || val[0] >= '0' && val[0] <= '9') && !bytes.ContainsAny(val, ".eE") {
				md.ProgressToken = rawID(val)
			} else {
				err = fmt.Errorf("%w: %s.progressToken: want a string or an integer, got %s", ErrInvalidParams, metaMember, jsonKind(val[0]))
			}
		}
		if dst != nil {
			var ok bool
			if *dst, ok = readString(val); !ok {
				err = fmt.Errorf("%w: %s.%s: want a string, got %s", ErrInvalidParams, metaMember, name, jsonKind(val[0]))
			}
		}
		return err == nil
	})
	return err
}

// readString decodes the JSON string val.
func readString(val []byte) (string, bool) {
	if val[0] != '"' {
		return "", false
	}
	if s := val[1 : len(val)-1]; bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s), true
	}
	var s string
	return s, json.Unmarshal(val, &s) == nil
}

// appendDeadline appends t as deadlineLayout writes it, truncated to the
// millisecond. It is written out by hand because every protocol 2 call
// sends a deadline, and time.AppendFormat, which walks its layout each
// time, was 6 % of a broadcast's CPU (docs/performance.md, "Broadcast").
func appendDeadline(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Truncate(time.Millisecond).AppendFormat(b, deadlineLayout)
	}
	h, mi, s := t.Clock()
	b = append(b, "0000-00-00T00:00:00.000Z"...)
	out := b[len(b)-len("0000-00-00T00:00:00.000Z"):]
	set := func(at, n, v int) {
		for i := at + n - 1; i >= at; i-- {
			out[i] = byte('0' + v%10)
			v /= 10
		}
	}
	set(0, 4, y)
	set(5, 2, int(mo))
	set(8, 2, d)
	set(11, 2, h)
	set(14, 2, mi)
	set(17, 2, s)
	set(20, 3, t.Nanosecond()/int(time.Millisecond))
	return b
}

// readDeadline reads a deadline from the JSON string val: the form Go
// senders write, 2026-12-01T21:50:00.123Z, without allocating, and any
// other RFC 3339 time through time.Parse.
func readDeadline(val []byte) (time.Time, bool) {
	b := val[1 : len(val)-1]
	if len(b) == len(deadlineLayout)-5 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == '.' && b[23] == 'Z' {
		num := func(i, n int) int {
			v := 0
			for _, c := range b[i : i+n] {
				if c < '0' || c > '9' {
					return -1
				}
				v = v*10 + int(c-'0')
			}
			return v
		}
		y, mo, d, h, mi, sec, ms := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 3)
		if y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && h >= 0 && h < 24 && mi >= 0 && mi < 60 && sec >= 0 && sec < 60 && ms >= 0 {
			t := time.Date(y, time.Month(mo), d, h, mi, sec, ms*int(time.Millisecond), time.UTC)
			if t.Day() == d {
				return t, true
			}
		}
	}
	s, ok := readString(val)
	if !ok {
		return time.Time{}, false
	}
	t, err := parseDeadline(s)
	return t, err == nil
}

// parseDeadline reads an RFC 3339 time. RFC 3339 lets the "T" and the
// "Z" be lower case, which time.Parse does not accept; they are the only
// letters the format has, so upper-casing those two loses nothing.
func parseDeadline(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, strings.ToUpper(s))
}

// Input returns the raw input a request carries: its params in protocol
// 1; in protocol 2, once RequestContext has read it, the params by name
// when the function's input is an object, the "value" member otherwise,
// or the one element of params sent by position, [input]. An absent input
// is null.
func (m *Envelope) Input(object bool) (json.RawMessage, error) {
	p := m.Params
	if m.proto < Protocol2 {
		return p, nil
	}
	i := jsonscan.Space(p, 0)
	if i == len(p) {
		return nil, nil
	}
	switch p[i] {
	case '[':
		j := jsonscan.Space(p, i+1)
		if j < len(p) && p[j] == ']' {
			return nil, fmt.Errorf("%w: params by position must hold the input as their one element; got none", ErrInvalidParams)
		}
		end, _, _, ok := jsonscan.Value(p, j)
		if !ok {
			return nil, fmt.Errorf("%w: params are not valid JSON", ErrInvalidParams)
		}
		if k := jsonscan.Space(p, end); k >= len(p) || p[k] != ']' {
			return nil, fmt.Errorf("%w: params by position must hold the input as their one element; got more", ErrInvalidParams)
		}
		return p[j:end], nil
	case '{':
		if object {
			return p, nil
		}
		var val json.RawMessage
		jsonscan.Members(p, i, func(mb jsonscan.Member) bool {
			if isKey(p[mb.Key:mb.KeyEnd], "value") {
				val = p[mb.Val:mb.End]
			}
			return true
		})
		return val, nil
	}
	return nil, fmt.Errorf("%w: protocol 2 params must be an object or an array, got %s", ErrInvalidParams, jsonKind(p[i]))
}

// DecodeInput decodes the input of request m into v (see Input). object
// says whether the function's input is an object.
func DecodeInput(m *Envelope, v any, object bool) error {
	raw, err := m.Input(object)
	if err != nil {
		return err
	}
	return unmarshalValid(raw, v, m.valid)
}

// RequestContext reads request or notification m as the connection's
// protocol carries it, and returns the context its handler should serve it
// in: parent, with, in protocol 2, the caller's deadline, W3C Trace
// Context and progress token from params._meta, which it removes from
// m.Params. In protocol 1 it returns parent. m.Trace() gives the trace id
// either way. cancel releases the deadline's timer; call it once the
// request is done. An error (a malformed _meta) wraps ErrInvalidParams
// and says what is wrong; the request should be answered with -32602.
//
// A handler that takes its time may call RequestContext off the read
// loop: the protocol it goes by is the connection's at that moment.
func (c *Conn) RequestContext(parent context.Context, m *Envelope) (ctx context.Context, cancel context.CancelFunc, err error) {
	if c.Protocol() < Protocol2 {
		return parent, func() {}, nil
	}
	md, err := m.takeMeta()
	if err != nil || md == nil {
		return parent, func() {}, err
	}
	ctx = parent
	if md.TraceParent != "" || md.TraceState != "" {
		ctx = WithTraceContext(ctx, md.TraceParent, md.TraceState)
	}
	if !md.ProgressToken.IsZero() && m.IsRequest() {
		ctx = context.WithValue(ctx, reporterKey{}, &reporter{c, md.ProgressToken})
	}
	if !md.Deadline.IsZero() {
		if parent.Done() == nil {
			dc := newDeadlineCtx(ctx, md.Deadline)
			return dc, dc.cancel, nil
		}
		ctx, cancel = context.WithDeadline(ctx, md.Deadline)
		return ctx, cancel, nil
	}
	return ctx, func() {}, nil
}

// ProgressParams is the params of a $/progress notification: the shape of
// MCP's notifications/progress.
type ProgressParams struct {
	ProgressToken ID      `json:"progressToken"`
	Progress      float64 `json:"progress"`
	Total         float64 `json:"total,omitempty"`
	Message       string  `json:"message,omitempty"`
}

// ProgressFunc receives a callee's progress reports on a call. total is
// zero when the callee does not know it.
type ProgressFunc func(progress, total float64, message string)

type progressKey struct{}

// WithProgress returns a context that asks the protocol 2 calls made with
// it for progress reports, which go to fn, in the order they were sent.
// fn runs on the connection's reading goroutine, which reads nothing else
// meanwhile: it must return quickly and must not wait for a call on the
// same connection. It is not called once the call's answer has arrived.
// A protocol 1 peer sends no progress.
func WithProgress(ctx context.Context, fn ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

func progressFrom(ctx context.Context) ProgressFunc {
	fn, _ := ctx.Value(progressKey{}).(ProgressFunc)
	return fn
}

type reporterKey struct{}

// reporter sends the progress of one call back to its caller.
type reporter struct {
	c     *Conn
	token ID
}

// Progress reports progress on the call that ctx is the handler context
// of (RequestContext), when its caller asked for reports; otherwise it
// does nothing. progress should grow from one report to the next; total
// is zero when unknown. It returns the error of writing the report, which
// a method may ignore.
func Progress(ctx context.Context, progress, total float64, message string) error {
	r, _ := ctx.Value(reporterKey{}).(*reporter)
	if r == nil {
		return nil
	}
	return r.c.Notify(MethodProgress, ProgressParams{ProgressToken: r.token, Progress: progress, Total: total, Message: message})
}

// progressed hands a $/progress report to the call it is about, on the
// read loop. Reports this side never asked for are dropped.
func (c *Conn) progressed(m *Envelope) {
	var p ProgressParams
	if err := unmarshal(m.Params, &p); err != nil {
		c.log.Debug("plugsock: malformed progress report dropped", "err", err)
		return
	}
	n, ok := p.ProgressToken.seq()
	if !ok {
		return
	}
	c.mu.Lock()
	fn := c.progress[n]
	c.mu.Unlock()
	if fn != nil {
		fn(p.Progress, p.Total, p.Message)
	}
}

// Negotiate settles the protocol with a plugin whose handshake offered
// offer as its "protocol" member: the highest version both it and this
// module speak. A plugin that offered none (offer absent or null) speaks
// Protocol1 and gets protocol 1's answer, without a "protocol" member:
// offered is false then. An offer that is not a positive integer written
// as digits is an error, whose text the host answers after "malformed
// handshake: ".
func Negotiate(offer json.RawMessage) (proto int, offered bool, err error) {
	offer = bytes.TrimSpace(offer)
	if len(offer) == 0 || string(offer) == "null" {
		return Protocol1, false, nil
	}
	ok := offer[0] >= '1' && offer[0] <= '9'
	for _, c := range offer {
		ok = ok && c >= '0' && c <= '9'
	}
	if !ok {
		return 0, true, fmt.Errorf("protocol: want a positive integer, got %s", truncate(offer))
	}
	if len(offer) > 1 || int(offer[0]-'0') >= Protocol {
		return Protocol, true, nil
	}
	return int(offer[0] - '0'), true, nil
}

// answeredProtocol is the protocol a handshake answer names: its
// "protocol" member, at most Protocol, or Protocol1 when it names none
// this side can read.
func answeredProtocol(result []byte) int {
	v := Protocol1
	jsonscan.Members(result, 0, func(mb jsonscan.Member) bool {
		if !isKey(result[mb.Key:mb.KeyEnd], "protocol") {
			return true
		}
		n := result[mb.Val:mb.End]
		switch {
		case len(n) == 1 && n[0] >= '1' && n[0] <= '9':
			v = min(int(n[0]-'0'), Protocol)
		case len(n) > 1 && n[0] >= '1' && n[0] <= '9' && len(bytes.Trim(n, "0123456789")) == 0:
			v = Protocol
		}
		return true
	})
	return v
}

// ProgressRequested reports whether the caller of the call that ctx is
// the handler context of asked for progress reports: whether Progress
// would send them.
func ProgressRequested(ctx context.Context) bool {
	r, _ := ctx.Value(reporterKey{}).(*reporter)
	return r != nil
}

// readStreamMeta reads _meta.stream, an object whose "window" member, when
// there, is the credit the opener grants: an integer from 0 to 2^40.
func readStreamMeta(val []byte, md *callMeta) error {
	if val[0] != '{' {
		return fmt.Errorf("want an object, got %s", jsonKind(val[0]))
	}
	var err error
	jsonscan.Members(val, 0, func(mb jsonscan.Member) bool {
		if !isKey(val[mb.Key:mb.KeyEnd], "window") {
			return true
		}
		w := val[mb.Val:mb.End]
		if string(w) == "null" {
			return true
		}
		n, ok := plainUint(w)
		if !ok || n > maxCredit {
			err = fmt.Errorf("window: want an integer from 0 to %d, got %s", int64(maxCredit), truncate(w))
		}
		md.Window = int64(n)
		return err == nil
	})
	return err
}
