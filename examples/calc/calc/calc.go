// Package calc is an example plugsock plugin: a calculator whose methods
// the socket calls by name. The program in the parent directory serves it
// over a socket; the plugsock command's demo runs the same type.
package calc

import (
	"context"
	"errors"
	"sync/atomic"
)

// Info is what the calculator calls itself in the handshake.
const (
	Name    = "calc"
	Version = "1.0.0"
)

// ErrDivisionByZero is Div's error for a zero divisor. The caller on the
// host side receives its text unchanged, with code -32000.
var ErrDivisionByZero = errors.New("division by zero")

// Args are the operands of every operation.
type Args struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Stats is what the calculator reports about itself.
type Stats struct {
	Calls int64 `json:"calls"`
}

// Calc is the plugin. Its exported methods shaped
// func(context.Context, In) (Out, error) are what the socket can call; the
// zero value is ready to serve.
type Calc struct {
	calls atomic.Int64
}

// Add returns a + b.
func (c *Calc) Add(_ context.Context, in Args) (float64, error) {
	c.calls.Add(1)
	return in.A + in.B, nil
}

// Sub returns a - b.
func (c *Calc) Sub(_ context.Context, in Args) (float64, error) {
	c.calls.Add(1)
	return in.A - in.B, nil
}

// Mul returns a × b.
func (c *Calc) Mul(_ context.Context, in Args) (float64, error) {
	c.calls.Add(1)
	return in.A * in.B, nil
}

// Div returns a ÷ b, or ErrDivisionByZero.
func (c *Calc) Div(_ context.Context, in Args) (float64, error) {
	c.calls.Add(1)
	if in.B == 0 {
		return 0, ErrDivisionByZero
	}
	return in.A / in.B, nil
}

// Stats reports how many operations the calculator has done. It takes no
// input: struct{} has nothing to describe, and any payload will do.
func (c *Calc) Stats(context.Context, struct{}) (Stats, error) {
	return Stats{Calls: c.calls.Load()}, nil
}
