package plugintest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// The battery reads the protocol from raw frames rather than through
// envelope.Conn, which is lenient where a host may be, so that it can see
// and report what a plugin actually sends. What it writes, though, is
// written by envelope's own code, as the host writes it: requests with
// envelope.AppendRequest (Conn.Call's encoding, with ids the battery
// picks), answers and notifications through an envelope.Conn that is
// never started and only writes (Conn.Reply, ReplyError, Notify). Each
// frame has a Content-Length header line and nothing else, with no member
// the host would not send, so a plugin whose reader is as strict as the
// host allows it to be passes; only the extra headers check (check.go)
// sends more.
//
// In protocol 2 a call's params are shaped here, as the wire has them: an
// object input by name, any other input as {"value": input}, and _meta
// (trace, deadline, progressToken) as the last member. envelope writes
// the frame around them, with no top-level meta. The wire also answers
// the plugin's calls to the battery's host service, Check.Echo, and
// records what the protocol 2 checks judge: every message's members, the
// plugin's service calls and its $/progress reports.

// maxCheckFrame bounds a frame the battery accepts, as a host's default.
const maxCheckFrame = 4 << 20

// maxFindings bounds each list of findings the wire keeps; the counts go
// on past it.
const maxFindings = 20

// echoService is the host service the battery offers in protocol 2.
const echoService = "Check.Echo"

// message is one JSON-RPC message as the plugin sent it. has records
// which members were present, so that "result": null is told from no
// result at all.
type message struct {
	body   []byte
	has    map[string]bool
	ID     json.RawMessage
	Method string
	Params json.RawMessage
	Result json.RawMessage
	Error  json.RawMessage
}

func (m *message) isRequest() bool      { return m.has["method"] && m.has["id"] && string(m.ID) != "null" }
func (m *message) isNotification() bool { return m.has["method"] && !m.isRequest() }
func (m *message) isResponse() bool     { return !m.has["method"] }

// rpcError is an error member, checked for shape.
type rpcError struct {
	Code    int64  `json:"code"`
	Message string `json:"message"`
}

// answer is what the plugin sent back for one request.
type answer struct {
	m   *message
	err *rpcError // nil for a result
	at  time.Time
}

// wire is the battery's end of one plugin connection.
type wire struct {
	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex
	out *envelope.Conn // writes answers and notifications; never started

	mu       sync.Mutex
	nextID   int64
	waiting  map[string]chan answer
	order    []string // ids of answers, in the order they arrived
	problems []string // framing and message-shape problems, in order
	asyncs   int
	asyncBad []string
	leaving  bool // the plugin sent $/shutdown: it is leaving on its own
	late     []*message

	// Set by setProtocol before the handshake is answered.
	proto   int             // the protocol spoken after the handshake; 0 before
	name    string          // the plugin's name, for the host's answers
	objects map[string]bool // functions whose input is an object
	timeout time.Duration   // what a call's _meta.deadline allows, from sending

	// What the protocol 2 checks judge, recorded for every message after
	// the handshake whatever the protocol, and reported in protocol 2.
	messages  int             // messages read after the handshake
	unstrict  int             // how many of them break protocol 2's rules
	strictBad string          // the first that does, and why
	open      map[string]bool // ids of calls sent with a progressToken, not yet answered
	progress  int
	progBad   []string
	echoes    int // calls to Check.Echo
	echoBad   []string
	unknownSv []string // Service.Method names called that the battery does not offer

	// The streams the battery opened, by the id their requests have as
	// JSON text, and what the stream messages check judges
	// (wire_streams.go).
	streams    map[string]*streamState
	streamMsgs int      // stream messages the plugin sent
	streamBad  []string // those about no stream open, or shaped wrong

	hs     chan *message // the first message, which must be the handshake
	first  bool
	closed chan struct{}
	err    error // why reading ended; set before closed is closed
}

func newWire(nc net.Conn) *wire {
	w := &wire{
		nc:      nc,
		br:      bufio.NewReaderSize(nc, 4096),
		waiting: make(map[string]chan answer),
		open:    make(map[string]bool),
		streams: make(map[string]*streamState),
		hs:      make(chan *message, 1),
		closed:  make(chan struct{}),
	}
	w.out = envelope.NewConn(outbound{w}, envelope.ConnOptions{Logger: slog.New(slog.DiscardHandler)})
	return w
}

// outbound is the wire as the write-only stream of w.out: its frames go
// out under the same lock as the requests the battery writes itself.
type outbound struct{ w *wire }

func (o outbound) Read([]byte) (int, error) { return 0, io.EOF } // never called: w.out is not started
func (o outbound) Write(b []byte) (int, error) {
	if err := o.w.writeRaw(b); err != nil {
		return 0, err
	}
	return len(b), nil
}
func (o outbound) Close() error { return o.w.nc.Close() }

func (w *wire) problem(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.problems) < 20 {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
}

// readLoop reads until the connection ends or a frame cannot be read; it
// is the wire's only goroutine.
func (w *wire) readLoop() {
	var err error
	defer func() {
		w.err = err
		_ = w.nc.Close()
		close(w.closed)
	}()
	for {
		var body []byte
		if body, err = w.readFrame(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				w.problem("%v", err)
			}
			return
		}
		m, perr := parse(body)
		if perr != nil {
			w.problem("%v", perr)
			err = perr
			return
		}
		w.route(m)
	}
}

// readFrame reads one frame, strictly: header lines end in CR LF, a
// Content-Length header is there, and the body is that many bytes.
func (w *wire) readFrame() ([]byte, error) {
	length := -1
	for lines := 0; ; lines++ {
		if lines > 32 {
			return nil, errors.New("framing: more than 32 header lines")
		}
		line, err := w.br.ReadString('\n')
		if err != nil {
			between := lines == 0 && line == ""
			switch {
			case (err == io.EOF || errors.Is(err, syscall.ECONNRESET)) && between:
				// A plugin that closes with requests it will not read
				// still unread makes the connection reset; between
				// frames that is as good as an orderly end.
				return nil, io.EOF
			case err == io.EOF:
				return nil, fmt.Errorf("framing: connection ended inside a header: %w", io.ErrUnexpectedEOF)
			}
			return nil, err
		}
		if !strings.HasSuffix(line, "\r\n") {
			w.problem("framing: header line %q ends in a bare LF, not CR LF", strings.TrimRight(line, "\n"))
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if length < 0 {
				return nil, errors.New("framing: header without Content-Length")
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("framing: header line %q is not Name: value", line)
		}
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("framing: bad Content-Length %q", value)
			}
			if n > maxCheckFrame {
				return nil, fmt.Errorf("framing: a %d-byte frame, over the %d-byte limit", n, maxCheckFrame)
			}
			length = n
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(w.br, body); err != nil {
		return nil, fmt.Errorf("framing: body shorter than its Content-Length: %w", err)
	}
	return body, nil
}

// parse checks one body against the JSON-RPC 2.0 rules the protocol
// keeps.
func parse(body []byte) (*message, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, fmt.Errorf("message is not a JSON object (%v): %s", err, clip(body))
	}
	m := &message{body: body, has: make(map[string]bool, len(fields))}
	for k := range fields {
		m.has[k] = true
	}
	if string(fields["jsonrpc"]) != `"2.0"` {
		return nil, fmt.Errorf(`message without "jsonrpc":"2.0": %s`, clip(body))
	}
	m.ID, m.Params, m.Result, m.Error = fields["id"], fields["params"], fields["result"], fields["error"]
	if raw, ok := fields["method"]; ok {
		if err := json.Unmarshal(raw, &m.Method); err != nil || m.Method == "" {
			return nil, fmt.Errorf("method is not a non-empty string: %s", clip(body))
		}
		if m.has["result"] || m.has["error"] {
			return nil, fmt.Errorf("message has both a method and a result or error: %s", clip(body))
		}
		return m, nil
	}
	switch {
	case !m.has["id"]:
		return nil, fmt.Errorf("message has neither method nor id: %s", clip(body))
	case m.has["result"] == m.has["error"]:
		return nil, fmt.Errorf("a response must have exactly one of result and error: %s", clip(body))
	}
	return m, nil
}

// route hands a message to whoever waits for it, and answers what the
// plugin asks of the host.
func (w *wire) route(m *message) {
	w.mu.Lock()
	first := !w.first
	w.first = true
	w.mu.Unlock()
	if first {
		w.hs <- m
		return
	}
	w.mu.Lock()
	proto := w.proto
	w.messages++
	if p := strictProblem(m); p != "" {
		if w.unstrict == 0 {
			w.strictBad = fmt.Sprintf("%s: %s", p, clip(m.body))
		}
		w.unstrict++
	}
	w.mu.Unlock()
	switch {
	case m.isResponse():
		key := string(m.ID)
		w.mu.Lock()
		ch := w.waiting[key]
		delete(w.waiting, key)
		delete(w.open, key)
		w.order = append(w.order, key)
		a := toAnswer(m)
		if st := w.streams[key]; st != nil {
			w.streamAnswered(st, a)
		} else if ch == nil {
			w.late = append(w.late, m)
		}
		w.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	case m.Method == "$/async":
		w.mu.Lock()
		w.asyncs++
		if m.isRequest() {
			w.asyncBad = append(w.asyncBad, fmt.Sprintf("sent as a request (id %s), not a notification", m.ID))
		}
		w.mu.Unlock()
		if m.isRequest() {
			_ = w.reply(m.ID, nil) // as a host does, so the plugin does not wait
		}
	case m.Method == "$/ping" && m.isRequest():
		_ = w.reply(m.ID, nil)
	case m.Method == "$/shutdown":
		w.mu.Lock()
		w.leaving = true
		w.mu.Unlock()
		if m.isRequest() {
			_ = w.reply(m.ID, nil) // as a host does
		}
	case m.Method == "$/handshake":
		w.problem("a second $/handshake")
		if m.isRequest() {
			_ = w.replyError(m.ID, -32600, "protocol violation: second handshake")
		}
	case proto >= envelope.Protocol2 && isStreamMessage(m.Method):
		w.streamMessage(m)
	case proto >= envelope.Protocol2 && m.Method == envelope.MethodProgress:
		w.progressed(m)
	case proto >= envelope.Protocol2 && m.Method == envelope.MethodCancel && m.isRequest():
		// The plugin giving up on its own request, which the battery has
		// answered already: the host answers that null.
		_ = w.reply(m.ID, nil)
	case proto >= envelope.Protocol2 && m.Method == envelope.MethodCall && m.isRequest():
		w.forbid(m)
	case proto >= envelope.Protocol2 && m.Method == echoService && m.isRequest():
		w.echo(m)
	case m.isRequest():
		if proto >= envelope.Protocol2 && isService(m.Method) {
			w.mu.Lock()
			if len(w.unknownSv) < maxFindings && !slices.Contains(w.unknownSv, m.Method) {
				w.unknownSv = append(w.unknownSv, m.Method)
			}
			w.mu.Unlock()
		}
		_ = w.replyError(m.ID, envelope.CodeMethodNotFound, "method not found: "+m.Method)
	}
}

func toAnswer(m *message) answer {
	a := answer{m: m, at: time.Now()}
	if m.has["error"] {
		a.err = &rpcError{Code: 0}
		if err := json.Unmarshal(m.Error, a.err); err != nil {
			a.err = &rpcError{Code: 0, Message: ""}
		}
	}
	return a
}

// errorShape says what is wrong with an error member, or "".
func errorShape(raw json.RawMessage) string {
	var e map[string]json.RawMessage
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Sprintf("error is not an object: %s", clip(raw))
	}
	var code json.Number
	dec := json.NewDecoder(bytes.NewReader(e["code"]))
	dec.UseNumber()
	if err := dec.Decode(&code); err != nil {
		return fmt.Sprintf("error code is not a number: %s", clip(raw))
	}
	if _, err := code.Int64(); err != nil {
		return fmt.Sprintf("error code is not an integer: %s", clip(raw))
	}
	var msg string
	if err := json.Unmarshal(e["message"], &msg); err != nil {
		return fmt.Sprintf("error message is not a string: %s", clip(raw))
	}
	return ""
}

// sendAll sends requests in one write, so that they reach the plugin
// together, before it can act on any of them.
func (w *wire) sendAll(rs ...*request) error {
	var b []byte
	for _, r := range rs {
		var err error
		if b, err = r.appendFrame(b); err != nil {
			return err
		}
	}
	return w.writeRaw(b)
}

func (w *wire) writeRaw(b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := w.nc.Write(b)
	return err
}

// reply answers the plugin's request with the given id as a host does.
func (w *wire) reply(id json.RawMessage, result any) error {
	return w.out.Reply(toID(id), result)
}

// replyError answers the plugin's request with the given id with an
// error, as a host does.
func (w *wire) replyError(id json.RawMessage, code int64, msg string) error {
	return w.out.ReplyError(toID(id), &envelope.Error{Code: code, Message: msg})
}

// cancel tells the plugin the battery gave up on the request with id, in
// the $/cancelRequest a host's Conn.Call sends when its context ends.
func (w *wire) cancel(id envelope.ID) error {
	return w.out.Notify(envelope.MethodCancel, envelope.CancelParams{ID: id})
}

// toID reads a request id as the host's decoder does, so that the answer
// echoes it as the host would; one the host could not read is answered
// with a null id, as the host answers what it cannot read.
func toID(raw json.RawMessage) envelope.ID {
	var id envelope.ID
	_ = json.Unmarshal(raw, &id)
	return id
}

// request is one call the battery sends.
type request struct {
	id     envelope.ID
	method string
	params json.RawMessage // the input; nil for none
	trace  string          // its trace id; "" for none
	ch     chan answer

	proto   int           // the protocol it is sent in
	form    form          // protocol 2: how params carry the input
	object  bool          // protocol 2: the input is an object, sent by name
	timeout time.Duration // protocol 2: what _meta.deadline allows; 0 for no deadline
	window  int64         // protocol 2: when positive, the request opens a stream granting that much credit
}

// form is how a protocol 2 call carries its input.
type form int

const (
	withMeta    form = iota // by the input's kind, with _meta last: what the host sends
	withoutMeta             // the same, without _meta
	byPosition              // [input], which a receiver also accepts; no _meta
)

// appendFrame appends r's frame, as the host's Conn.Call writes it.
func (r *request) appendFrame(b []byte) ([]byte, error) {
	if r.proto >= envelope.Protocol2 {
		var params any // none for the protocol's own requests, $/ping and $/shutdown
		if !reserved(r.method) {
			params = r.params2(time.Now())
		} else if r.params != nil {
			params = r.params
		}
		return envelope.AppendRequest(b, r.id, r.method, params, "")
	}
	var params any // a nil json.RawMessage would be sent as "params":null
	if r.params != nil {
		params = r.params
	}
	return envelope.AppendRequest(b, r.id, r.method, params, r.trace)
}

// params2 shapes r's input as protocol 2 params: an object input by name
// (null as {}), any other input as {"value": input} (none as {}), or
// [input]; then, in form withMeta, _meta as the last member, its deadline
// counted from now.
func (r *request) params2(now time.Time) json.RawMessage {
	in := bytes.TrimSpace(r.params)
	if len(in) == 0 {
		in = nil
	}
	if r.form == byPosition {
		if in == nil {
			in = []byte("null")
		}
		return slices.Concat([]byte("["), in, []byte("]"))
	}
	var b []byte
	switch {
	case r.object && in != nil && in[0] != '{' && string(in) != "null":
		// No object carries it by name; a receiver takes it by position.
		return slices.Concat([]byte("["), in, []byte("]"))
	case in == nil || r.object && string(in) == "null":
		b = []byte("{}")
	case r.object:
		b = slices.Clone(in)
	default:
		b = slices.Concat([]byte(`{"value":`), in, []byte("}"))
	}
	if r.form == withoutMeta {
		return b
	}
	b = b[:len(b)-1]
	if len(bytes.TrimSpace(b)) > 1 {
		b = append(b, ',')
	}
	b = append(b, `"_meta":`...)
	b = r.appendMeta(b, now)
	return append(b, '}')
}

// deadlineLayout is how protocol 2 senders write a deadline: UTC, with
// exactly three fractional digits.
const deadlineLayout = "2006-01-02T15:04:05.000Z07:00"

// appendMeta appends r's _meta: its trace id, its deadline (truncated, so
// never later than the battery will wait) and its id as progressToken,
// as a host that asks for progress sends them. A request that opens a
// stream has its trace id and the stream member only, as the host's
// (socket.Socket.OpenStream) has: no deadline, since a stream lasts as
// long as it must, and no progress asked.
func (r *request) appendMeta(b []byte, now time.Time) []byte {
	b = append(b, '{')
	if r.trace != "" {
		t, _ := json.Marshal(r.trace)
		b = append(append(b, `"trace":`...), t...)
		b = append(b, ',')
	}
	if r.window > 0 {
		b = append(b, `"stream":{"window":`...)
		b = strconv.AppendInt(b, r.window, 10)
		return append(b, "}}"...)
	}
	if r.timeout > 0 {
		b = append(b, `"deadline":"`...)
		b = now.Add(r.timeout).UTC().Truncate(time.Millisecond).AppendFormat(b, deadlineLayout)
		b = append(b, `",`...)
	}
	b = append(b, `"progressToken":`...)
	b = append(b, r.id.String()...)
	return append(b, '}')
}

// reserved reports whether method is one of the protocol's own.
func reserved(method string) bool { return strings.HasPrefix(method, "$/") }

// isService reports whether method names a host service, Service.Method.
func isService(method string) bool {
	svc, m, ok := strings.Cut(method, ".")
	return ok && svc != "" && m != "" && !reserved(method)
}

// newRequest prepares a request. Ids count up from 1, as the host's do;
// trace is its trace id, "" for none, as the host's pings have.
func (w *wire) newRequest(method string, params json.RawMessage, trace string) *request {
	return w.newRequestAs(method, params, trace, withMeta)
}

// newRequestAs prepares a request whose input goes in form f in
// protocol 2. A function the battery has no description of has an
// object input when the input is an object.
func (w *wire) newRequestAs(method string, params json.RawMessage, trace string, f form) *request {
	w.mu.Lock()
	w.nextID++
	id := envelope.NumberID(w.nextID)
	ch := make(chan answer, 1)
	w.waiting[id.String()] = ch
	r := &request{id: id, method: method, params: params, trace: trace, ch: ch, proto: w.proto, form: f, timeout: w.timeout}
	if r.proto >= envelope.Protocol2 && !reserved(method) {
		object, described := w.objects[method]
		if !described {
			in := bytes.TrimSpace(params)
			object = len(in) > 0 && in[0] == '{'
		}
		r.object = object
		if f == withMeta {
			// Marked before it is sent: the plugin's progress may come
			// before the battery's next look.
			w.open[id.String()] = true
		}
	}
	w.mu.Unlock()
	return r
}

// setProtocol sets what the wire speaks once the handshake is answered:
// protocol proto, to the plugin called name, whose functions with an
// object input are objects; timeout is what a call's deadline allows.
func (w *wire) setProtocol(proto int, name string, objects map[string]bool, timeout time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.proto, w.name, w.objects, w.timeout = proto, name, objects, timeout
}

func (w *wire) send(r *request) error { return w.sendAll(r) }

// await waits for the answer to r up to d; ok is false when none came.
// With d <= 0 it only looks whether the answer is there.
func (w *wire) await(r *request, d time.Duration) (answer, bool) {
	select {
	case a := <-r.ch:
		return a, true
	default:
		if d <= 0 {
			return answer{}, false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case a := <-r.ch:
		return a, true
	case <-w.closed:
		// The answer may have been the last thing read.
		select {
		case a := <-r.ch:
			return a, true
		default:
			return answer{}, false
		}
	case <-t.C:
		return answer{}, false
	}
}

// forget stops waiting for r; a late answer is then recorded as such.
func (w *wire) forget(r *request) {
	w.mu.Lock()
	delete(w.waiting, r.id.String())
	w.mu.Unlock()
}

// call sends a request and waits for its answer.
func (w *wire) call(method string, params json.RawMessage, trace string, d time.Duration) (answer, bool, error) {
	return w.callAs(method, params, trace, withMeta, d)
}

// callAs sends a request whose input goes in form f in protocol 2, and
// waits for its answer.
func (w *wire) callAs(method string, params json.RawMessage, trace string, f form, d time.Duration) (answer, bool, error) {
	r := w.newRequestAs(method, params, trace, f)
	if err := w.send(r); err != nil {
		w.forget(r)
		return answer{}, false, err
	}
	a, ok := w.await(r, d)
	if !ok {
		w.forget(r)
	}
	return a, ok, nil
}

func (w *wire) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

// clip shortens raw JSON for a report line.
func clip(b []byte) string {
	const limit = 120
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

// answeredAfter reports whether the answer to the request with id a came
// after the answer to b.
func (w *wire) answeredAfter(a, b string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ia, ib := -1, -1
	for i, id := range w.order {
		switch id {
		case a:
			ia = i
		case b:
			ib = i
		}
	}
	return ia > ib && ib >= 0
}
