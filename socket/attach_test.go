package socket_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/socket"
)

// An attached plugin behaves like a remote one: the same assertions, run
// over every transport, hold for each.
func TestAttachedBehavesLikeRemote(t *testing.T) {
	checks := []struct {
		name string
		run  func(t *testing.T, h *host, c *Calc, name string)
	}{
		{"calls", func(t *testing.T, h *host, _ *Calc, name string) {
			got, err := h.s.Call("trace-1", name, "Add", testplugins.Args{A: 2, B: 3})
			require.NoError(t, err)
			assert.Equal(t, float64(5), got)
			var echo string
			require.NoError(t, h.s.CallContext(t.Context(), name, "Echo", "zürich \"quoted\"", &echo))
			assert.Equal(t, "zürich \"quoted\"", echo)
			var traces []string
			require.NoError(t, h.s.CallContext(envelope.WithTrace(t.Context(), "t-42"), name, "Trace", nil, &traces))
			assert.Equal(t, "t-42", traces[0])
		}},
		{"errors", func(t *testing.T, h *host, _ *Calc, name string) {
			_, err := h.s.Call("", name, "Div", testplugins.Args{A: 1})
			var e *envelope.Error
			require.ErrorAs(t, err, &e)
			assert.EqualValues(t, envelope.CodeMethodError, e.Code)
			assert.Equal(t, "division by zero", err.Error())

			_, err = h.s.Call("", name, "Nope", nil)
			assert.ErrorIs(t, err, socket.ErrMethodNotFound)
			_, err = h.s.Call("", name, "Add", "not an object")
			assert.ErrorIs(t, err, envelope.ErrInvalidParams)

			_, err = h.s.Call("", name, "Panic", nil)
			require.ErrorAs(t, err, &e)
			assert.EqualValues(t, envelope.CodeInternalError, e.Code)
			got, err := h.s.Call("", name, "Add", testplugins.Args{A: 1, B: 1})
			require.NoError(t, err, "serving on after a panic")
			assert.Equal(t, float64(2), got)
		}},
		{"cancel", func(t *testing.T, h *host, c *Calc, name string) {
			ctx, cancel := context.WithCancel(envelope.WithTrace(context.Background(), "cancel-me"))
			done := make(chan error, 1)
			go func() { done <- h.s.CallContext(ctx, name, "Block", 1, nil) }()
			assert.Equal(t, "cancel-me", recv(t, c.Entered, "Block to start"))
			cancel()
			assert.ErrorIs(t, recv(t, done, "CallContext to return"), context.Canceled)
			assert.Equal(t, "cancel-me", recv(t, c.CtxDone, "the method's context to end"))
		}},
		{"async", func(t *testing.T, h *host, _ *Calc, name string) {
			ev, err := h.s.Async()
			require.NoError(t, err)
			require.IsType(t, envelope.Connected{}, ev.Payload)
			assert.Equal(t, name, ev.Name)
			_, err = h.s.Call("", name, "Emit", []string{"one", "two", "three"})
			require.NoError(t, err)
			for _, want := range []string{"one", "two", "three"} {
				ev, err := h.s.Async()
				require.NoError(t, err)
				assert.Equal(t, name, ev.Name)
				assert.Equal(t, want, ev.Payload)
			}
		}},
		{"unplug", func(t *testing.T, h *host, c *Calc, name string) {
			gone := h.callbacks()
			// A call in flight finishes and answers before the plugin goes.
			done := make(chan error, 1)
			go func() { done <- h.s.CallContext(t.Context(), name, "Block", 7, nil) }()
			recv(t, c.Entered, "Block to start")
			unplugged := make(chan struct{})
			go func() {
				h.s.Unplug("", name)
				close(unplugged)
			}()
			assert.Eventually(t, func() bool {
				_, err := h.s.Call("", name, "Add", testplugins.Args{})
				return err != nil
			}, 10*time.Second, time.Millisecond, "new calls are refused while unplugging")
			close(c.Release)
			assert.NoError(t, recv(t, done, "the call in flight"))
			recv(t, unplugged, "Unplug to return")
			assert.Equal(t, name+" graceful=true", recv(t, gone.ch, "callback"))
			assert.Empty(t, h.s.Connected(false))
		}},
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			for _, check := range checks {
				t.Run(check.name, func(t *testing.T) {
					h := newHost(t, tr)
					c := newCalc()
					name := h.plugVia(tr, c, "calc")
					check.run(t, h, c, name)
				})
			}
		})
	}
}
