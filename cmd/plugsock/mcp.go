package main

// The mcp command: an MCP server on stdin and stdout, for clients that
// launch stdio servers, relayed to the /mcp of a running serve.
//
// It relays the JSON-RPC messages themselves rather than running an MCP
// server of its own in front of an MCP client of serve's: it knows the
// transports (newline-delimited JSON here, Streamable HTTP there: sessions,
// server-sent events, the stream of server messages), not MCP's methods.
// So what the client and serve say to each other passes unchanged, the
// protocol version they negotiate, tools, progress, cancellation, list
// changes, and whatever later versions add, and there is one MCP server,
// serve's, whose behaviour the client sees. A proxy would negotiate
// twice, and would have to pass on each feature by hand.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/mcp"
)

var mcpCmd = command{
	name:  "mcp",
	usage: "[flags]",
	summary: "Serve MCP on stdin and stdout, relayed to a running 'plugsock serve'.\n" +
		"For AI clients that launch MCP servers as processes: each line of stdin is\n" +
		"a JSON-RPC message, sent to the /mcp of the serve at --admin with the admin\n" +
		"token, and every message from there is a line of stdout. The tools are the\n" +
		"functions of serve's plugins, PLUGIN.FUNCTION; serve's --mcp-tools chooses\n" +
		"which. The command ends, with status 0, when stdin does; with 1 when serve\n" +
		"cannot be reached or ends the session. Diagnostics go to stderr.",
}

func init() {
	mcpCmd.run = runMCP
	register(mcpCmd)
}

func runMCP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := mcpCmd
	var f clientFlags
	fs := c.flags()
	fs.StringVar(&f.admin, "admin", "", "admin `address` of the serve (host:port or URL, such as the console URL serve printed); default $PLUGSOCK_ADMIN, else "+defaultAdmin)
	fs.StringVar(&f.token, "admin-token", "", "`token` of the admin API, the one 'plugsock serve' printed; default $PLUGSOCK_ADMIN_TOKEN")
	pos, code, ok := c.parse(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usageError(stderr, "unexpected argument %q", pos[0])
	}
	token, _ := f.tokenSource()
	// An interrupt ends the relay in good order: the session is ended on
	// the serve.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &relay{url: f.baseURL() + "/mcp", token: token, out: stdout, errw: stderr, http: &http.Client{}}
	if err := r.run(ctx, stdin); err != nil {
		return c.fail(stderr, "%v", err)
	}
	return exitOK
}

// relay passes messages between a stdio client and a Streamable HTTP
// server.
type relay struct {
	url   string
	token string
	out   io.Writer
	errw  io.Writer
	http  *http.Client

	outMu sync.Mutex // one message a line, whole

	mu      sync.Mutex
	session string                        // Mcp-Session-Id, once initialize has it
	version string                        // the negotiated protocol version
	calls   map[string]context.CancelFunc // requests in flight, by id
	fatal   error                         // why the relay must end
	getOn   bool                          // the stream of server messages is open
	wg      sync.WaitGroup                // the goroutines of requests and the stream
	callsWG sync.WaitGroup                // the goroutines of requests
	stop    context.CancelFunc            // ends them
}

// maxInFlight bounds the client's requests relayed at once; past it the
// relay reads no more from stdin until one is answered.
const maxInFlight = 64

// methodCancelled is MCP's cancellation notification.
const methodCancelled = "notifications/cancelled"

// message is what the relay reads of a client's message.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func (r *relay) run(ctx context.Context, in io.Reader) error {
	ctx, r.stop = context.WithCancel(ctx)
	defer r.stop()
	r.calls = map[string]context.CancelFunc{}
	slots := make(chan struct{}, maxInFlight)
	// stdin is read on a goroutine of its own, so that the relay ends as
	// soon as the session does, without waiting for a line that may never
	// come. The goroutine ends when stdin does (at the latest, with the
	// process).
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 64<<10), mcp.MaxMessageSize+1)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			select {
			case lines <- bytes.Clone(line):
			case <-ctx.Done():
				return
			}
		}
		err := sc.Err()
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line of stdin is longer than %d bytes", mcp.MaxMessageSize)
		}
		readErr <- err
	}()
	var err error
loop:
	for {
		var line []byte
		select {
		case <-ctx.Done():
			break loop
		case err = <-readErr:
			break loop
		case line = <-lines:
		}
		var m message
		if line[0] != '{' || json.Unmarshal(line, &m) != nil {
			// A batch or anything else: the server judges it.
			r.post(ctx, line, nil)
			continue
		}
		switch {
		case m.Method == "initialize":
			// The session begins with its answer: nothing may go before.
			r.post(ctx, line, &m)
		case m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null":
			// A request: answered in its own time, beside the others.
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
			callCtx, cancel := context.WithCancel(ctx)
			r.mu.Lock()
			r.calls[string(m.ID)] = cancel
			r.mu.Unlock()
			// A subscription (2026-07-28) is a stream that lasts as long
			// as the client, not a call it waits for.
			call := m.Method != "subscriptions/listen"
			if call {
				r.callsWG.Add(1)
			}
			r.wg.Go(func() {
				if call {
					defer r.callsWG.Done()
				}
				defer func() { <-slots }()
				defer cancel()
				r.post(callCtx, line, &m)
				r.mu.Lock()
				delete(r.calls, string(m.ID))
				r.mu.Unlock()
			})
		default:
			// Notifications and answers go in order, before what follows
			// them: notifications/initialized must precede the requests
			// it allows.
			if m.Method == methodCancelled {
				r.cancelCall(m.Params)
			}
			r.post(ctx, line, &m)
			if m.Method == "notifications/initialized" {
				r.openStream(ctx)
			}
		}
	}
	// When stdin ends, the calls in flight are answered first (a client
	// that will not wait ends the relay with SIGTERM); when the session
	// or the relay ends, they are abandoned, which cancels them in the
	// plugins. Then the session ends.
	if err == nil && ctx.Err() == nil {
		answered := make(chan struct{})
		go func() {
			r.callsWG.Wait()
			close(answered)
		}()
		select {
		case <-answered:
		case <-ctx.Done():
		}
	}
	r.stop()
	r.wg.Wait()
	r.endSession()
	if f := r.failure(); f != nil {
		return f
	}
	return err
}

// cancelCall ends the HTTP request of the call a notifications/cancelled
// names, which cancels it on the server whether or not the notification
// reaches it first.
func (r *relay) cancelCall(params json.RawMessage) {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	r.mu.Lock()
	cancel := r.calls[string(p.RequestID)]
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (r *relay) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

func (r *relay) fail(err error) {
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.mu.Unlock()
	r.stop()
}

// newRequest is a request to the server with the transport's headers:
// the session, and the protocol version (the request's own, in the
// sessionless versions, which carry it in _meta).
func (r *relay) newRequest(ctx context.Context, method string, body []byte, m *message) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	version := ""
	if m != nil {
		var p struct {
			Meta map[string]json.RawMessage `json:"_meta"`
		}
		if json.Unmarshal(m.Params, &p) == nil {
			_ = json.Unmarshal(p.Meta["io.modelcontextprotocol/protocolVersion"], &version)
		}
	}
	r.mu.Lock()
	if version == "" {
		version = r.version
		if r.session != "" {
			req.Header.Set("Mcp-Session-Id", r.session)
		}
	}
	r.mu.Unlock()
	if version != "" {
		req.Header.Set("Mcp-Protocol-Version", version)
	}
	if version >= "2026-07-28" && m != nil && m.Method != "" {
		// From 2026-07-28 on, a request names its method, and the tool
		// or prompt it is for, in headers too.
		req.Header.Set("Mcp-Method", m.Method)
		var p struct {
			Name string `json:"name"`
			URI  string `json:"uri"`
		}
		if json.Unmarshal(m.Params, &p) == nil {
			switch m.Method {
			case "tools/call", "prompts/get":
				req.Header.Set("Mcp-Name", p.Name)
			case "resources/read":
				req.Header.Set("Mcp-Name", p.URI)
			}
		}
	}
	return req, nil
}

// post sends one message and relays what comes back. m is nil for a
// message the relay could not read.
func (r *relay) post(ctx context.Context, line []byte, m *message) {
	req, err := r.newRequest(ctx, http.MethodPost, line, m)
	if err != nil {
		r.fail(err)
		return
	}
	resp, err := r.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("reaching %s: %w", r.url, err))
		}
		return
	}
	defer resp.Body.Close()
	isRequest := m != nil && m.Method != "" && len(m.ID) > 0
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && isRequest && m.Method == "initialize" {
		r.mu.Lock()
		r.session = sid
		r.mu.Unlock()
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return
	case resp.StatusCode == http.StatusNotFound && req.Header.Get("Mcp-Session-Id") != "":
		r.fail(errors.New("the serve ended the MCP session (it restarted, or closed the session); reconnect the client"))
		return
	}
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, mcp.MaxMessageSize+1))
		// The MCP server answers some refusals with a JSON-RPC error of
		// its own, which is the client's to read.
		var answer struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
		}
		if json.Unmarshal(body, &answer) == nil && answer.JSONRPC == "2.0" && len(answer.ID) > 0 && string(answer.ID) != "null" {
			r.relayMessage(body, m)
			return
		}
		msg := fmt.Sprintf("%s answered %s: %s", r.url, resp.Status, strings.TrimSpace(string(clipBytes(body, 512))))
		if isRequest {
			r.answerError(m.ID, msg)
		} else {
			fmt.Fprintf(r.errw, "plugsock mcp: %s\n", oneLine(msg))
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			r.fail(errors.New(msg + " (give the admin token with --admin-token or $PLUGSOCK_ADMIN_TOKEN)"))
		case resp.StatusCode == http.StatusNotFound && isRequest && m.Method == "initialize":
			r.fail(errors.New(msg + " (is it a plugsock serve, started without --mcp=false?)"))
		}
		return
	}
	ctype := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ctype, "text/event-stream"):
		r.relayEvents(resp.Body, m)
	case strings.HasPrefix(ctype, "application/json"):
		body, err := io.ReadAll(io.LimitReader(resp.Body, mcp.MaxMessageSize+1))
		if err != nil {
			if isRequest {
				r.answerError(m.ID, fmt.Sprintf("reading the answer of %s: %v", r.url, err))
			}
			return
		}
		r.relayMessage(body, m)
	}
}

func clipBytes(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// relayEvents writes the message of each server-sent event of body to
// stdout.
func (r *relay) relayEvents(body io.Reader, m *message) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), mcp.MaxMessageSize+1)
	var data bytes.Buffer
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 && (event == "" || event == "message") {
				r.relayMessage(data.Bytes(), m)
			}
			data.Reset()
			event = ""
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			if data.Len() > mcp.MaxMessageSize {
				return
			}
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		}
	}
}

// relayMessage writes one message from the server to stdout, on one line.
// The answer to initialize also tells the protocol version.
func (r *relay) relayMessage(b []byte, m *message) {
	var line bytes.Buffer
	if err := json.Compact(&line, b); err != nil {
		fmt.Fprintf(r.errw, "plugsock mcp: the serve sent something other than JSON; dropped: %v\n", err)
		return
	}
	if m != nil && m.Method == "initialize" {
		var res struct {
			ID     json.RawMessage `json:"id"`
			Result struct {
				ProtocolVersion string `json:"protocolVersion"`
			} `json:"result"`
		}
		if json.Unmarshal(line.Bytes(), &res) == nil && bytes.Equal(res.ID, m.ID) && res.Result.ProtocolVersion != "" {
			r.mu.Lock()
			r.version = res.Result.ProtocolVersion
			r.mu.Unlock()
		}
	}
	line.WriteByte('\n')
	r.outMu.Lock()
	defer r.outMu.Unlock()
	if _, err := r.out.Write(line.Bytes()); err != nil {
		r.fail(fmt.Errorf("writing to stdout: %w", err))
	}
}

// answerError answers the client's request id with an error of the
// relay's own.
func (r *relay) answerError(id json.RawMessage, msg string) {
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{-32603, "plugsock mcp: " + msg}})
	r.relayMessage(b, nil)
}

// openStream opens the session's stream of server messages (the HTTP
// GET), once, for the notifications and requests the server sends
// outside any call: tools/list_changed among them. A server without one
// (405) has none; one that ends is opened again after a pause, a few
// times, for a stream a proxy cut.
func (r *relay) openStream(ctx context.Context) {
	r.mu.Lock()
	if r.getOn || r.session == "" {
		r.mu.Unlock()
		return
	}
	r.getOn = true
	r.mu.Unlock()
	r.wg.Go(func() {
		for attempt := 0; attempt < 5 && ctx.Err() == nil; attempt++ {
			req, err := r.newRequest(ctx, http.MethodGet, nil, nil)
			if err != nil {
				r.fail(err)
				return
			}
			resp, err := r.http.Do(req)
			if err == nil {
				switch {
				case resp.StatusCode == http.StatusMethodNotAllowed:
					resp.Body.Close()
					return
				case resp.StatusCode == http.StatusNotFound:
					resp.Body.Close()
					r.fail(errors.New("the serve ended the MCP session (it restarted, or closed the session); reconnect the client"))
					return
				case resp.StatusCode == http.StatusOK:
					attempt = 0
					r.relayEvents(resp.Body, nil)
				}
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
			}
		}
		if ctx.Err() == nil {
			fmt.Fprintln(r.errw, "plugsock mcp: the stream of the serve's notifications keeps failing; going on without it")
		}
	})
}

// endSession ends the session on the server (DELETE), so that it holds
// nothing for a client that is gone.
func (r *relay) endSession() {
	r.mu.Lock()
	session := r.session
	r.mu.Unlock()
	if session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := r.newRequest(ctx, http.MethodDelete, nil, nil)
	if err != nil {
		return
	}
	if resp, err := r.http.Do(req); err == nil {
		resp.Body.Close()
	}
}
