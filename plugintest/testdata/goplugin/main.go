// Command goplugin is a small Go plugin built on plugin.Run: the example
// the conformance battery must pass.
package main

import (
	"context"
	"errors"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Calc is the plugin.
type Calc struct{}

// Pair is what Add takes.
type Pair struct {
	A int `json:"a"`
	B int `json:"b"`
}

// Quotient is what Div takes.
type Quotient struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// UseAsyncHook announces the plugin; the item waits for the handshake.
func (c *Calc) UseAsyncHook(hook chan any) {
	hook <- map[string]string{"event": "ready"}
}

// Add adds.
func (c *Calc) Add(_ context.Context, in Pair) (int, error) { return in.A + in.B, nil }

// Div divides, and fails on a zero divisor.
func (c *Calc) Div(_ context.Context, in Quotient) (float64, error) {
	if in.B == 0 {
		return 0, errors.New("division by zero")
	}
	return in.A / in.B, nil
}

// Upper upper-cases.
func (c *Calc) Upper(_ context.Context, s string) (string, error) { return strings.ToUpper(s), nil }

// Count counts words.
func (c *Calc) Count(_ context.Context, words []string) (map[string]int, error) {
	n := make(map[string]int)
	for _, w := range words {
		n[w]++
	}
	return n, nil
}

// Explode panics, which the plugin answers with -32603.
func (c *Calc) Explode(context.Context, struct{}) (int, error) { panic("boom") }

// Sleep waits ms milliseconds, or until the call is cancelled.
func (c *Calc) Sleep(ctx context.Context, ms int) (string, error) {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return "slept", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := plugin.Run(ctx, &Calc{}, &envelope.PluginInfo{Name: "gocalc", Version: "1.0.0"}); err != nil {
		log.Fatal(err)
	}
}
