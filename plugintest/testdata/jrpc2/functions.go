package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/creachadair/jrpc2"
)

// methodError is a function's own error: -32000 with its text. jrpc2
// would send a plain error as -32098, a code of its own.
func methodError(msg string) error {
	return &jrpc2.Error{Code: codeMethodError, Message: msg}
}

// cancelErr answers a call whose context ended.
func cancelErr(ctx context.Context, fn string) error {
	return &jrpc2.Error{Code: codeCancelled, Message: fn + ": " + ctx.Err().Error()}
}

func add(_ context.Context, p pair[int]) (int, error) {
	s := p.A + p.B
	if (s > p.A) != (p.B > 0) {
		return 0, methodError("integer overflow")
	}
	return s, nil
}

func div(_ context.Context, p pair[float64]) (float64, error) {
	if p.B == 0 {
		return 0, methodError("division by zero")
	}
	q := p.A / p.B
	if math.IsInf(q, 0) {
		return 0, methodError("the quotient is out of range")
	}
	return q, nil
}

func echo(_ context.Context, v value[string]) string { return v.Value }

func trace(_ context.Context, v value[any]) string { return v.Meta.Trace }

func deadline(_ context.Context, v value[any]) string { return v.Meta.Deadline }

// bound gives ctx the caller's deadline, as a callee's context has it.
func (m meta) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, m.deadline)
}

// slow waits until it is cancelled, its deadline passes, or 30 s have.
func (g *gate) slow(ctx context.Context, v value[any]) (string, error) {
	ctx, cancel := v.Meta.bound(ctx)
	defer cancel()
	logger.Printf("slow started (trace %q)", v.Meta.Trace)
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-t.C:
		return "slept 30s", nil
	case <-ctx.Done():
	}
	logger.Printf("slow ended: %v (trace %q)", ctx.Err(), v.Meta.Trace)
	if errors.Is(ctx.Err(), context.Canceled) {
		g.mu.Lock()
		g.cancels++
		g.mu.Unlock()
	}
	return "", cancelErr(ctx, "Slow")
}

// cancelled says how many calls were answered -32800 because they were
// cancelled.
func (g *gate) cancelled(context.Context, value[any]) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cancels
}

// hostEcho calls the host's Echo service with its input and the trace id
// it got, and returns what the service returned.
func (g *gate) hostEcho(ctx context.Context, v value[any]) (any, error) {
	ctx, cancel := v.Meta.bound(ctx)
	defer cancel()
	svc, ok := g.echoService(ctx)
	switch {
	case ctx.Err() != nil:
		return nil, cancelErr(ctx, "HostEcho")
	case !ok:
		return nil, methodError("the host offers no service method ending in .Echo")
	}
	d, _ := ctx.Deadline()
	// jrpc2 cannot cancel its own request on the wire, and answers a late
	// answer to one it gave up on as if it were a request of the host's
	// (-32600 with the host's id). So it never gives up: it waits for the
	// host, which answers every request and is bounded by the deadline
	// sent along; a lost connection ends the wait all the same.
	rsp, err := jrpc2.ServerFromContext(ctx).Callback(context.WithoutCancel(ctx), svc, serviceParams{
		Value: v.Value,
		Meta:  outMeta{Trace: v.Meta.Trace, Deadline: formatDeadline(d)},
	})
	var e *jrpc2.Error
	switch {
	case ctx.Err() != nil:
		return nil, cancelErr(ctx, "HostEcho")
	case errors.As(err, &e):
		return nil, &jrpc2.Error{Code: codeMethodError, Message: svc + ": " + e.Message, Data: e.Data}
	case err != nil:
		return nil, &jrpc2.Error{Code: jrpc2.InternalError, Message: svc + ": " + err.Error()}
	}
	return json.RawMessage(rsp.ResultString()), nil
}
