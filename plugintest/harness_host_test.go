package plugintest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/plugintest"
	"github.com/plugsock/plugsock/socket"
)

// clock is a host service.
type clock struct{ now time.Time }

type stamp struct {
	Caller string    `json:"caller"`
	Trace  string    `json:"trace"`
	At     time.Time `json:"at"`
}

func (c *clock) Now(ctx context.Context, _ struct{}) (stamp, error) {
	return stamp{Caller: socket.PluginFrom(ctx), Trace: envelope.TraceFrom(ctx), At: c.now}, nil
}

func (c *clock) Fail(_ context.Context, msg string) (struct{}, error) {
	return struct{}{}, errors.New(msg)
}

// asker is a plugin whose methods call the host.
type asker struct{}

func (asker) Ask(ctx context.Context, _ struct{}) (stamp, error) {
	var s stamp
	err := plugin.HostFrom(ctx).Call(ctx, "Clock.Now", nil, &s)
	return s, err
}

func (asker) Services(ctx context.Context, _ struct{}) ([]string, error) {
	var names []string
	for name := range plugin.HostFrom(ctx).Services() {
		names = append(names, name)
	}
	return names, nil
}

func (asker) Fail(ctx context.Context, msg string) (int64, error) {
	err := plugin.HostFrom(ctx).Call(ctx, "Clock.Fail", msg, nil)
	var e *envelope.Error
	if !errors.As(err, &e) {
		return 0, err
	}
	return e.Code, nil
}

// A Harness gives the plugin under test the host services of
// Config.Services, over the in-memory pipe and over TCP alike.
func TestHarnessServices(t *testing.T) {
	at := time.Date(2026, 12, 1, 21, 50, 0, 0, time.UTC)
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "attach", true: "tcp"}[tcp], func(t *testing.T) {
			h := plugintest.New(t, asker{}, plugintest.Config{TCP: tcp, Services: map[string]any{"Clock": &clock{now: at}}})

			var got stamp
			require.NoError(t, h.CallContext(envelope.WithTrace(t.Context(), "trace-7"), "Ask", nil, &got))
			assert.Equal(t, stamp{Caller: h.Name(), Trace: "trace-7", At: at}, got)

			var names []string
			require.NoError(t, h.Call("Services", nil, &names))
			assert.ElementsMatch(t, []string{"Clock.Now", "Clock.Fail"}, names)

			var code int64
			require.NoError(t, h.Call("Fail", "no clock today", &code))
			assert.Equal(t, int64(envelope.CodeMethodError), code)
		})
	}
}
