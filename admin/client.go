package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// Client talks to an admin Server over HTTP. The zero value uses
// http.DefaultClient; BaseURL must be set. A Client is safe for
// concurrent use.
//
// A context carrying a trace id (envelope.WithTrace) sends it with the
// request, so the call's log lines on the host and in the plugin carry it.
type Client struct {
	BaseURL string       // e.g. "http://127.0.0.1:7701"
	HTTP    *http.Client // nil: http.DefaultClient

	// Token is the admin token (see Config.Token), sent on every request as
	// "Authorization: Bearer <token>". Empty sends none.
	Token string
}

// APIError is an error response from the admin API: the HTTP status plus
// the JSON-RPC code and message of its body. A plugin method's own error
// has code -32000 (or a code of the plugin's own) and its message
// unchanged; errors of the admin server itself have code 0.
// docs/admin-api.md lists which status each kind of error gets.
type APIError struct {
	Status  int    // HTTP status, e.g. 422 for a method's own error
	Code    int64  // JSON-RPC error code, 0 when the error is not a plugin's
	Message string // the error's message, as the plugin or server wrote it
}

// Error returns the message unchanged, as a plugin method wrote it, or
// the HTTP status when the response had no message.
func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("admin API: HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// Is lets errors.Is match an APIError against the envelope sentinels its
// code stands for (envelope.ErrMethodNotFound, envelope.ErrInvalidParams,
// envelope.ErrShutdown, envelope.ErrOverloaded, envelope.ErrCancelled), a
// timed-out call (504) against context.DeadlineExceeded, and a missing or
// wrong token (401) against envelope.ErrUnauthorized.
func (e *APIError) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Status == http.StatusGatewayTimeout
	case envelope.ErrUnauthorized:
		if e.Status == http.StatusUnauthorized {
			return true
		}
	}
	return (&envelope.Error{Code: e.Code}).Is(target)
}

// Health is the answer of GET /api/health.
type Health struct {
	Plugins       int    `json:"plugins"`       // plugins connected
	Subscribers   int    `json:"subscribers"`   // open event streams
	EventsDropped uint64 `json:"eventsDropped"` // events lost by slow streams
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// checkSegment refuses a plugin or method name that cannot be one path
// segment: escaped or not, "." and ".." are resolved away by URL rules and
// would address another route (Describe(".") would read the list), and ""
// leaves the segment out. No valid plugin name is any of these.
func checkSegment(what, s string) error {
	switch s {
	case "":
		return fmt.Errorf("admin: %s is empty", what)
	case ".", "..":
		return fmt.Errorf("admin: %s %q cannot be addressed: URLs resolve %q away, and no plugin or method may be named so", what, s, s)
	}
	return nil
}

// url joins the base URL and path segments, each escaped.
func (c *Client) url(segments ...string) (string, error) {
	if c.BaseURL == "" {
		return "", errors.New("admin: Client.BaseURL is not set")
	}
	for _, s := range segments {
		if err := checkSegment("path segment", s); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(c.BaseURL, "/"))
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String(), nil
}

func (c *Client) newRequest(ctx context.Context, method string, body []byte, segments ...string) (*http.Request, error) {
	u, err := c.url(segments...)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if id := envelope.TraceFrom(ctx); id != "" {
		req.Header.Set(TraceHeader, id)
	}
	return req, nil
}

// do sends a request and decodes a 2xx answer into out (unless out is
// nil); any other status becomes an *APIError.
func (c *Client) do(ctx context.Context, method string, body []byte, out any, segments ...string) error {
	req, err := c.newRequest(ctx, method, body, segments...)
	if err != nil {
		return err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readAPIError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin: decoding answer to %s %s: %w", method, req.URL.Path, err)
	}
	return nil
}

func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &APIError{Status: resp.StatusCode}
	var body errorResponse
	if json.Unmarshal(b, &body) == nil && body.Error.Message != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else {
		// Not the admin API's own answer (a proxy, say): keep its text.
		e.Message = strings.TrimSpace(string(b))
	}
	return e
}

// Health returns the server's counters (GET /api/health).
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.do(ctx, http.MethodGet, nil, &h, "api", "health"); err != nil {
		return nil, err
	}
	return &h, nil
}

// Streams returns the streams open between the host and its plugins (GET
// /api/streams).
func (c *Client) Streams(ctx context.Context) ([]socket.StreamInfo, error) {
	var s Streams
	if err := c.do(ctx, http.MethodGet, nil, &s, "api", "streams"); err != nil {
		return nil, err
	}
	return s.Streams, nil
}

// Exits returns how the last processes of launched plugins ended, oldest
// first (GET /api/exits).
func (c *Client) Exits(ctx context.Context) ([]socket.Exit, error) {
	var x Exits
	if err := c.do(ctx, http.MethodGet, nil, &x, "api", "exits"); err != nil {
		return nil, err
	}
	return x.Exits, nil
}

// Stats returns the socket's call counts by plugin and method, and the
// health of every connected plugin (GET /api/stats). The counts are
// cumulative: difference two answers for rates.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	var st Stats
	if err := c.do(ctx, http.MethodGet, nil, &st, "api", "stats"); err != nil {
		return nil, err
	}
	return &st, nil
}

// List returns the connected plugins by name, without their functions
// (GET /api/plugins).
func (c *Client) List(ctx context.Context) (map[string]*envelope.PluginInfo, error) {
	var body struct {
		Plugins []*envelope.PluginInfo `json:"plugins"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &body, "api", "plugins"); err != nil {
		return nil, err
	}
	out := make(map[string]*envelope.PluginInfo, len(body.Plugins))
	for _, p := range body.Plugins {
		if p != nil {
			out[p.Name] = p
		}
	}
	return out, nil
}

// Describe returns the plugin called name with its functions (GET
// /api/plugins/{name}).
func (c *Client) Describe(ctx context.Context, name string) (*envelope.PluginInfo, error) {
	if err := checkSegment("plugin name", name); err != nil {
		return nil, err
	}
	var info envelope.PluginInfo
	if err := c.do(ctx, http.MethodGet, nil, &info, "api", "plugins", name); err != nil {
		return nil, err
	}
	return &info, nil
}

// OpenRPC returns the OpenRPC document of the plugin called name (GET
// /api/plugins/{name}/openrpc).
func (c *Client) OpenRPC(ctx context.Context, name string) (json.RawMessage, error) {
	if err := checkSegment("plugin name", name); err != nil {
		return nil, err
	}
	var doc json.RawMessage
	if err := c.do(ctx, http.MethodGet, nil, &doc, "api", "plugins", name, "openrpc"); err != nil {
		return nil, err
	}
	return doc, nil
}

// Call calls method on the plugin called name with payload (nil for none)
// and returns its result (POST /api/plugins/{name}/call/{method}). Ending
// ctx cancels the call in the plugin.
func (c *Client) Call(ctx context.Context, name, method string, payload json.RawMessage) (json.RawMessage, error) {
	if err := errors.Join(checkSegment("plugin name", name), checkSegment("method", method)); err != nil {
		return nil, err
	}
	var body struct {
		Result json.RawMessage `json:"result"`
	}
	if err := c.do(ctx, http.MethodPost, bodyOf(payload), &body, "api", "plugins", name, "call", method); err != nil {
		return nil, err
	}
	return body.Result, nil
}

// Broadcast calls method on every connected plugin with payload (nil for
// none) and returns each one's result or error by name (POST
// /api/broadcast/{method}).
func (c *Client) Broadcast(ctx context.Context, method string, payload json.RawMessage) (map[string]BroadcastResult, error) {
	if err := checkSegment("method", method); err != nil {
		return nil, err
	}
	var body struct {
		Results map[string]BroadcastResult `json:"results"`
	}
	if err := c.do(ctx, http.MethodPost, bodyOf(payload), &body, "api", "broadcast", method); err != nil {
		return nil, err
	}
	if body.Results == nil {
		body.Results = map[string]BroadcastResult{}
	}
	return body.Results, nil
}

// bodyOf sends an absent payload as an empty body, which the server reads
// as null.
func bodyOf(payload json.RawMessage) []byte {
	if payload == nil {
		return []byte{}
	}
	return payload
}

// Unplug stops the plugin called name and returns once it is gone (DELETE
// /api/plugins/{name}).
func (c *Client) Unplug(ctx context.Context, name string) error {
	if err := checkSegment("plugin name", name); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, nil, nil, "api", "plugins", name)
}

// Configure replaces the configuration of the plugin called name with
// value (nil for null) and returns once the plugin has taken it (PUT
// /api/plugins/{name}/config). A configuration that does not fit the
// plugin's schema is an *APIError with status 400 naming each wrong
// field; the plugin's own refusal keeps its code and message.
func (c *Client) Configure(ctx context.Context, name string, value json.RawMessage) error {
	if err := checkSegment("plugin name", name); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, bodyOf(value), nil, "api", "plugins", name, "config")
}

// PluginConfig returns the configuration schema the plugin called name
// declared, and the configuration it took (GET
// /api/plugins/{name}/config).
func (c *Client) PluginConfig(ctx context.Context, name string) (*socket.PluginConfig, error) {
	if err := checkSegment("plugin name", name); err != nil {
		return nil, err
	}
	var pc socket.PluginConfig
	if err := c.do(ctx, http.MethodGet, nil, &pc, "api", "plugins", name, "config"); err != nil {
		return nil, err
	}
	return &pc, nil
}

// maxEventSize bounds one event line read by Events.
const maxEventSize = 64 << 20

// Events streams GET /api/events, calling fn for each event in order. It
// returns when ctx ends (with ctx's error), when fn returns an error
// (with that error), or when the server ends the stream (with nil).
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, nil, "api", "events")
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxEventSize)
	var typ string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if data != nil {
				ev := Event{Type: typ}
				if err := json.Unmarshal(data, &ev); err != nil {
					return fmt.Errorf("admin: malformed %s event: %w", typ, err)
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			typ, data = "", nil
		case line[0] == ':':
			// A comment: subscribed, heartbeat or dropped events.
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				typ = string(value)
			case "data":
				if data != nil {
					data = append(data, '\n')
				} else {
					data = []byte{}
				}
				data = append(data, value...)
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("admin: reading events: %w", err)
	}
	return nil
}
