package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/creachadair/jrpc2"
	"github.com/creachadair/jrpc2/handler"
)

// Codes of the protocol that jrpc2 does not define.
const (
	codeMethodError  jrpc2.Code = -32000
	codeShuttingDown jrpc2.Code = -32003
	codeCancelled    jrpc2.Code = -32800
)

// gate is the server's jrpc2.Assigner: the protocol's $/ methods and the
// plugin's functions, each a handler.Map. It keeps what jrpc2 leaves to
// the application: which calls are in flight, for $/shutdown to wait for
// and to refuse those after it, and for $/cancelRequest to cancel.
//
// jrpc2 assigns handlers one request at a time in the order they arrive,
// so what Assign records follows the wire's order; a handler runs later,
// on a goroutine of its own.
type gate struct {
	protocol handler.Map
	fns      handler.Map
	conn     io.Closer // the connection to the host

	// ready is closed once services holds the handshake's answer: the
	// host's calls can be read before Callback has returned it.
	ready    chan struct{}
	mu       sync.Mutex
	services map[string]function
	stopping bool
	inflight int
	idle     chan struct{} // closed when stopping and nothing is in flight
	calls    map[string]*call
	cancels  int // calls answered -32800 because they were cancelled
}

// call is a function call in flight, by its request id as jrpc2 spells it
// (the id's JSON text).
type call struct {
	started   bool
	cancelled bool // before it started
}

func newGate(conn io.Closer) *gate {
	g := &gate{conn: conn, ready: make(chan struct{}), calls: make(map[string]*call), idle: make(chan struct{})}
	g.protocol = handler.Map{
		"$/ping":          handler.New(func(context.Context, *jrpc2.Request) error { return nil }),
		"$/shutdown":      handler.New(g.shutdown),
		"$/cancelRequest": handler.New(g.cancel),
	}
	g.fns = handler.Map{
		"Add":       byName(add),
		"Div":       byName(div),
		"Echo":      handler.New(echo),
		"Trace":     handler.New(trace),
		"Deadline":  handler.New(deadline),
		"Slow":      handler.New(g.slow),
		"Cancelled": handler.New(g.cancelled),
		"HostEcho":  handler.New(g.hostEcho),
	}
	return g
}

// byName adapts fn, whose input is an object, without jrpc2's positional
// decoding: the wire's array form is [<input>], which the input type
// reads itself.
func byName(fn any) jrpc2.Handler {
	fi, err := handler.Check(fn)
	if err != nil {
		panic(err)
	}
	return fi.AllowArray(false).Wrap()
}

// Assign implements jrpc2.Assigner.
func (g *gate) Assign(ctx context.Context, method string) jrpc2.Handler {
	if method == "$/shutdown" {
		// The calls behind it on the wire are refused, though its handler
		// has yet to run.
		g.leave()
	}
	if h := g.protocol[method]; h != nil {
		return h
	}
	h := g.fns[method]
	if h == nil {
		return nil // jrpc2 answers -32601
	}
	id := jrpc2.InboundRequest(ctx).ID() // "" for a notification
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return func(context.Context, *jrpc2.Request) (any, error) {
			return nil, &jrpc2.Error{Code: codeShuttingDown, Message: "shutting down"}
		}
	}
	c := new(call)
	if id != "" {
		g.calls[id] = c
	}
	g.inflight++
	return func(ctx context.Context, req *jrpc2.Request) (any, error) {
		defer func() {
			if id == "" {
				g.done(id) // a notification: no answer to wait for
				return
			}
			// The call is in flight until its answer is out: jrpc2
			// ends a call's context as it writes the answer, under a
			// lock that the next answer (the $/shutdown's) waits for.
			context.AfterFunc(ctx, func() { g.done(id) })
		}()
		g.mu.Lock()
		c.started = true
		cancelled := c.cancelled
		if cancelled {
			g.cancels++
		}
		g.mu.Unlock()
		if cancelled {
			return nil, &jrpc2.Error{Code: codeCancelled, Message: method + ": request cancelled"}
		}
		if !req.HasParams() {
			// Protocol 2 sends an input that is null as {}; jrpc2 would
			// leave the input zero, without asking it to decode anything.
			req = (&jrpc2.ParsedRequest{ID: req.ID(), Method: method, Params: json.RawMessage("{}")}).ToRequest()
		}
		v, err := h(ctx, req)
		var e *jrpc2.Error
		if errors.As(err, &e) && e.Code == jrpc2.InvalidParams {
			// jrpc2 says "invalid parameters" and puts the reason in data.
			why := e.Message
			if s := ""; json.Unmarshal(e.Data, &s) == nil && s != "" {
				why = s
			}
			return nil, &jrpc2.Error{Code: jrpc2.InvalidParams, Message: fmt.Sprintf("invalid params for %s: %s", method, why)}
		}
		return v, err
	}
}

// done ends the call id, one that Assign let through.
func (g *gate) done(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.calls, id)
	g.inflight--
	if g.stopping && g.inflight == 0 {
		g.closeIdle()
	}
}

// closeIdle closes g.idle once; g.mu is held.
func (g *gate) closeIdle() {
	select {
	case <-g.idle:
	default:
		close(g.idle)
	}
}

// leave refuses the calls from now on, and reports when none is left.
func (g *gate) leave() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopping = true
	if g.inflight == 0 {
		g.closeIdle()
	}
	return g.idle
}

// left reports whether the plugin is leaving.
func (g *gate) left() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopping
}

// shutdown is the host's $/shutdown: refuse new calls, let those in
// flight answer, answer null, and close the connection.
func (g *gate) shutdown(ctx context.Context, req *jrpc2.Request) error {
	srv := jrpc2.ServerFromContext(ctx)
	select {
	case <-g.leave():
	case <-ctx.Done():
		return ctx.Err() // the connection is gone
	}
	if req.IsNotification() {
		_ = g.conn.Close()
		return nil
	}
	// jrpc2 ends a request's context as it writes the request's answer,
	// holding the server's lock, which CancelRequest takes too: once the
	// context is done and CancelRequest (of no request) has returned, the
	// answer is out, and the connection can close.
	context.AfterFunc(ctx, func() {
		srv.CancelRequest("")
		_ = g.conn.Close()
	})
	return nil
}

// cancel is $/cancelRequest. A call that has started is cancelled through
// its context. One still waiting for its goroutine is marked, so that it
// answers -32800 when it starts rather than run: jrpc2 itself would
// answer a call cancelled before it started -32097, a code of its own.
func (g *gate) cancel(ctx context.Context, p struct {
	ID json.RawMessage `json:"id"`
}) error {
	id := string(p.ID)
	g.mu.Lock()
	c := g.calls[id]
	started := c != nil && c.started
	if c != nil && !started {
		c.cancelled = true
	}
	g.mu.Unlock()
	if started {
		jrpc2.ServerFromContext(ctx).CancelRequest(id)
	}
	return nil
}

func (g *gate) setServices(s map[string]function) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.services = s
	close(g.ready)
}

// echoService is the first of the host's services whose name ends in
// .Echo, in name order.
func (g *gate) echoService(ctx context.Context) (string, bool) {
	select {
	case <-g.ready:
	case <-ctx.Done():
		return "", false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	names := make([]string, 0, len(g.services))
	for n := range g.services {
		if strings.HasSuffix(n, ".Echo") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "", false
	}
	return names[0], true
}
