package mcpplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/backoff"
	"github.com/plugsock/plugsock/typedesc"
)

// A link is one connection to the socket on behalf of an MCP server: the
// plugin's side of plugsock's protocol (docs/protocol.md, section 16),
// spoken by hand, since the functions are the server's tools and not a
// Go value's methods. It handshakes with the tools as functions, answers
// pings, serves calls concurrently by handing them to call, cancels them
// on $/cancelRequest, passes progress on, and stops in good order when the
// host sends $/shutdown or the bridge leaves to describe new tools.
type link struct {
	conn *envelope.Conn
	log  *slog.Logger
	fns  toolSet
	call func(ctx context.Context, tool string, args json.RawMessage) (json.RawMessage, *envelope.Error)

	inflight sync.WaitGroup // the calls
	stops    sync.WaitGroup // the goroutine answering a $/shutdown
	asked    chan struct{}  // closed when the host has sent $/shutdown
	askOnce  sync.Once

	mu      sync.Mutex
	calls   map[envelope.ID]context.CancelFunc
	closing bool // no new calls: the host asked, or the bridge leaves
	ended   bool // the connection has ended; the calls are cancelled
}

// errStopped is what a link's end says when the host stopped it with
// $/shutdown: Unplug, or Shutdown.
var errStopped = errors.New("the socket unplugged the plugin")

// dial opens a link: a connection from pipe, and a handshake on it that
// asks for name and describes fns, presenting launch. A name that is
// taken is tried again until timeout: after the bridge left to describe a
// new list of tools, the socket may not yet have seen its old connection
// go. It returns the name the socket assigned.
func dial(ctx context.Context, pipe func() (net.Conn, error), hs envelope.Handshake, cfg *settings,
	call func(context.Context, string, json.RawMessage) (json.RawMessage, *envelope.Error)) (*link, string, error) {
	hs.Protocol = envelope.Protocol
	if body, err := json.Marshal(hs); err != nil {
		return nil, "", fmt.Errorf("handshake: %w", err)
	} else if len(body) > cfg.MaxMessageSize {
		return nil, "", fmt.Errorf("handshake: the tools' descriptions take %d bytes, more than the %d of MaxMessageSize", len(body), cfg.MaxMessageSize)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		nc, err := pipe()
		if err != nil {
			return nil, "", err
		}
		l := &link{log: cfg.Logger.With("plugin", hs.Name), fns: toolSet(hs.Functions), call: call,
			asked: make(chan struct{}), calls: make(map[envelope.ID]context.CancelFunc)}
		l.conn = envelope.NewConn(nc, envelope.ConnOptions{
			Handler:      l.handle,
			MaxFrameSize: cfg.MaxMessageSize,
			WriteTimeout: cfg.Timeout,
			Logger:       l.log,
			OnClose:      func(error) { l.cancelAll() },
		})
		l.conn.Start()
		var res envelope.HandshakeResult
		err = l.conn.Call(ctx, envelope.MethodHandshake, hs, &res)
		if err == nil && res.Protocol > hs.Protocol {
			err = fmt.Errorf("%w: the socket answered protocol %d, above the %d offered", envelope.ErrProtocol, res.Protocol, hs.Protocol)
		}
		if err == nil {
			l.log = cfg.Logger.With("plugin", res.Name)
			return l, res.Name, nil
		}
		l.cut()
		if !errors.Is(err, envelope.ErrNameTaken) || ctx.Err() != nil {
			return nil, "", fmt.Errorf("handshake: %w", err)
		}
		t := time.NewTimer(backoff.Delay(attempt, 10*time.Millisecond, 500*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, "", fmt.Errorf("handshake: %w", err)
		}
	}
}

// handle is the connection's Handler, on its read loop.
func (l *link) handle(c *envelope.Conn, m *envelope.Envelope) {
	switch m.Method {
	case envelope.MethodPing:
		if m.IsRequest() {
			_ = c.Reply(m.ID, nil)
		}
		return
	case envelope.MethodCancel:
		var p envelope.CancelParams
		if envelope.DecodeParams(m, &p) == nil {
			l.mu.Lock()
			cancel := l.calls[p.ID]
			l.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
		if m.IsRequest() {
			_ = c.Reply(m.ID, nil)
		}
		return
	case envelope.MethodShutdown:
		if m.IsRequest() {
			l.mu.Lock()
			l.closing = true
			l.mu.Unlock()
			l.askOnce.Do(func() {
				close(l.asked)
				l.stops.Add(1)
				go l.answerShutdown(m.ID)
			})
		}
		return
	}
	if !m.IsRequest() {
		return // $/progress or other notifications: nothing asked for them
	}
	fn, ok := l.fns[m.Method]
	if !ok {
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
		return
	}
	ctx, cancel, err := c.RequestContext(context.Background(), m)
	if err != nil {
		cancel()
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: %v", m.Method, err))
		return
	}
	if ctx.Done() == nil {
		ctx, cancel = withCancel(ctx, cancel)
	}
	l.mu.Lock()
	switch _, dup := l.calls[m.ID]; {
	case l.closing || l.ended:
		l.mu.Unlock()
		cancel()
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeShuttingDown, "plugin is shutting down"))
		return
	case dup:
		l.mu.Unlock()
		cancel()
		_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidRequest, "%s: request id %s is already in flight", m.Method, m.ID))
		return
	}
	l.calls[m.ID] = cancel
	l.inflight.Add(1)
	l.mu.Unlock()
	if c.Detach(m) {
		l.serve(ctx, cancel, m, fn)
		return
	}
	go l.serve(ctx, cancel, m, fn)
}

// withCancel gives a call without a deadline a context of its own, which
// $/cancelRequest and the connection's end cancel.
func withCancel(ctx context.Context, release context.CancelFunc) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	return ctx, func() { cancel(); release() }
}

// serve runs one call and answers it.
func (l *link) serve(ctx context.Context, cancel context.CancelFunc, m *envelope.Envelope, fn typedesc.Function) {
	defer l.inflight.Done()
	var (
		out  json.RawMessage
		rerr *envelope.Error
	)
	args, err := m.Input(fn.ObjectInput())
	if err != nil {
		rerr = envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: %v", m.Method, err)
	} else {
		out, rerr = l.call(ctx, m.Method, args)
	}
	l.mu.Lock()
	delete(l.calls, m.ID) // the host may use the id again once answered
	l.mu.Unlock()
	cancel()
	if rerr != nil {
		err = l.conn.ReplyError(m.ID, rerr)
	} else {
		err = l.conn.Reply(m.ID, out)
	}
	if err != nil {
		l.log.Debug("plugsock: could not answer", "method", m.Method, "trace", m.Trace(), "err", err)
	}
}

// answerShutdown answers the host's $/shutdown once the calls in flight
// have answered, and closes the connection.
func (l *link) answerShutdown(id envelope.ID) {
	defer l.stops.Done()
	l.inflight.Wait()
	_ = l.conn.Reply(id, nil)
	l.conn.Close()
}

// leave ends the link in good order on the bridge's side: the host is
// told the plugin is leaving, the calls in flight get up to wait to
// answer, and the connection closes.
func (l *link) leave(wait time.Duration) {
	l.mu.Lock()
	first := !l.closing
	l.closing = true
	l.mu.Unlock()
	if first {
		_ = l.conn.Notify(envelope.MethodShutdown, nil)
	}
	done := make(chan struct{})
	go func() {
		l.inflight.Wait()
		close(done)
	}()
	t := time.NewTimer(wait)
	select {
	case <-done:
		t.Stop()
	case <-t.C:
		l.log.Warn("plugsock: MCP calls still running when the plugin left; cancelling them", "after", wait)
	}
	l.cut()
}

// cut ends the link at once: the connection closes and the calls in
// flight are cancelled. It returns once every goroutine of the link has.
func (l *link) cut() {
	l.conn.Close()
	<-l.conn.Done()
	l.cancelAll()
	l.inflight.Wait()
	l.conn.Wait()
	l.stops.Wait()
}

// cancelAll cancels every call in flight, once the connection has ended.
func (l *link) cancelAll() {
	l.mu.Lock()
	l.ended = true
	cancels := make([]context.CancelFunc, 0, len(l.calls))
	for _, c := range l.calls {
		cancels = append(cancels, c)
	}
	l.mu.Unlock()
	for _, c := range cancels {
		c()
	}
}

// done is closed once the connection has ended.
func (l *link) done() <-chan struct{} { return l.conn.Done() }

// stopped reports whether the host ended the link with $/shutdown.
func (l *link) stopped() bool {
	select {
	case <-l.asked:
		return true
	default:
		return false
	}
}
