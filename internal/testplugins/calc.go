// Package testplugins holds the plugins that the tests of several packages
// serve, so that the admin and socket tests exercise one fixture rather
// than two copies that drift apart. It is imported only by tests.
package testplugins

import (
	"context"
	"errors"

	"github.com/plugsock/plugsock/envelope"
)

// Args is the input of Calc's arithmetic.
type Args struct {
	A int `json:"a"`
	B int `json:"b"`
}

// Calc is the test plugin: plain methods plus ones that fail, block, panic
// and push async data, so tests can observe each path of a call. Make one
// with NewCalc: the zero value has no channels.
//
// A package whose tests need one function more embeds *Calc in a type of
// its own and adds it there (the socket tests add Trace, the admin tests
// Total), so that what tests list of Calc's functions stays the same.
type Calc struct {
	// Entered receives the trace id of each Block call once it runs.
	Entered chan string
	// Release, once closed, lets every Block call return its input.
	Release chan struct{}
	// CtxDone receives the trace id of each Block call whose context ended.
	CtxDone chan string

	hook chan any
}

// NewCalc returns a Calc whose reports are buffered, so that a test that
// reads none of them does not block the plugin.
func NewCalc() *Calc {
	return &Calc{Entered: make(chan string, 64), Release: make(chan struct{}), CtxDone: make(chan string, 64)}
}

// UseAsyncHook keeps the hook that Emit pushes to.
func (c *Calc) UseAsyncHook(h chan any) { c.hook = h }

// Add returns a + b.
func (c *Calc) Add(_ context.Context, in Args) (int, error) { return in.A + in.B, nil }

// Div returns a / b, and fails on a zero divisor.
func (c *Calc) Div(_ context.Context, in Args) (int, error) {
	if in.B == 0 {
		return 0, errors.New("division by zero")
	}
	return in.A / in.B, nil
}

// Echo returns its input.
func (c *Calc) Echo(_ context.Context, in string) (string, error) { return in, nil }

// Panic panics, for tests of the plugin's recovery.
func (c *Calc) Panic(context.Context, struct{}) (int, error) { panic("boom") }

// Block waits until released or cancelled, reporting on Entered and
// CtxDone.
func (c *Calc) Block(ctx context.Context, n int) (int, error) {
	c.Entered <- envelope.TraceFrom(ctx)
	select {
	case <-c.Release:
		return n, nil
	case <-ctx.Done():
		c.CtxDone <- envelope.TraceFrom(ctx)
		return 0, ctx.Err()
	}
}

// Emit pushes each item through the async hook.
func (c *Calc) Emit(_ context.Context, items []string) (int, error) {
	for _, it := range items {
		c.hook <- it
	}
	return len(items), nil
}
