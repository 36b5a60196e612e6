package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Probe is a plugin whose health check does what check says.
type Probe struct {
	check   func(ctx context.Context) (plugin.Health, error)
	entered chan struct{}
}

func (*Probe) Hello(_ context.Context, name string) (string, error) { return "hello, " + name, nil }

func (p *Probe) Health(ctx context.Context) (plugin.Health, error) {
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	return p.check(ctx)
}

// ValueProbe has its health check on the pointer only.
type ValueProbe struct{}

func (ValueProbe) Hello(_ context.Context, name string) (string, error) { return name, nil }

func (*ValueProbe) Health(context.Context) (plugin.Health, error) { return plugin.Health{}, nil }

// speaksHealth answers the handshake as a protocol 2 socket does.
func speaksHealth(hs envelope.Handshake) (*envelope.HandshakeResult, *envelope.Error) {
	return &envelope.HandshakeResult{Name: hs.Name, Session: "s", Protocol: envelope.Protocol2}, nil
}

// connectHealth starts v against a protocol 2 fake host and waits until it is
// connected.
func connectHealth(t *testing.T, v any) (*run, envelope.Handshake) {
	t.Helper()
	connected := make(chan string, 1)
	r := start(t, &plugin.Plugin{OnConnect: func(name string) { connected <- name }}, v, &envelope.PluginInfo{Name: "probe"}, nil, hostOpts{answer: speaksHealth})
	hs := recv(t, r.host.hs, "handshake")
	recv(t, connected, "OnConnect")
	r.host.conn.SetProtocol(envelope.Protocol2)
	return r, hs
}

// A value with a Health method declares the capability in its handshake,
// and Health is not offered as a function; a value without one declares
// nothing.
func TestHealthIsDeclared(t *testing.T) {
	_, hs := connectHealth(t, &Probe{check: func(context.Context) (plugin.Health, error) { return plugin.Health{}, nil }})
	assert.JSONEq(t, "true", string(hs.Capabilities[envelope.CapabilityHealth]))
	assert.Contains(t, hs.Functions, "Hello")
	assert.NotContains(t, hs.Functions, "Health", "the health check is not a function")

	_, hs = connectHealth(t, newCalc())
	assert.NotContains(t, hs.Capabilities, envelope.CapabilityHealth)
}

// $/health is answered with what Health returns: the zero Health is
// healthy; an error is an error answer, its code kept when it is an
// *envelope.Error; a status that is not one of the three, or a panic, is
// an internal error; and the plugin goes on serving.
func TestHealthAnswers(t *testing.T) {
	cases := []struct {
		name   string
		check  func(ctx context.Context) (plugin.Health, error)
		result string // the answer's JSON, when it is a result
		code   int64  // the error's code otherwise
		msg    string
	}{
		{"zero", func(context.Context) (plugin.Health, error) { return plugin.Health{}, nil }, `{"status":"healthy"}`, 0, ""},
		{"degraded", func(context.Context) (plugin.Health, error) {
			return plugin.Health{Status: plugin.Degraded, Message: "cache cold"}, nil
		}, `{"status":"degraded","message":"cache cold"}`, 0, ""},
		{"unhealthy", func(context.Context) (plugin.Health, error) {
			return plugin.Health{Status: plugin.Unhealthy, Message: "disk full"}, nil
		}, `{"status":"unhealthy","message":"disk full"}`, 0, ""},
		{"error", func(context.Context) (plugin.Health, error) { return plugin.Health{}, errors.New("db unreachable") },
			"", envelope.CodeMethodError, "db unreachable"},
		{"rpc error", func(context.Context) (plugin.Health, error) {
			return plugin.Health{}, envelope.Errorf(-32099, "custom")
		}, "", -32099, "custom"},
		{"bad status", func(context.Context) (plugin.Health, error) { return plugin.Health{Status: "fine"}, nil },
			"", envelope.CodeInternalError, `Health returned status "fine"; want plugin.Healthy, Degraded or Unhealthy`},
		{"panic", func(context.Context) (plugin.Health, error) { panic("boom") },
			"", envelope.CodeInternalError, "panic in Health: boom"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := connectHealth(t, &Probe{check: tc.check})
			var raw json.RawMessage
			err := r.host.call(t.Context(), envelope.MethodHealth, nil, &raw)
			if tc.result != "" {
				require.NoError(t, err)
				assert.JSONEq(t, tc.result, string(raw))
			} else {
				e := rpcError(t, err)
				assert.Equal(t, tc.code, e.Code)
				assert.Equal(t, tc.msg, e.Message)
			}
			var out string
			require.NoError(t, r.host.call(t.Context(), "Hello", envelope.Params("again", false), &out))
			assert.Equal(t, "hello, again", out)
		})
	}
}

// A plugin without a health check answers $/health as an unknown method.
func TestHealthWithoutCheck(t *testing.T) {
	r, _ := connectHealth(t, newCalc())
	err := r.host.call(t.Context(), envelope.MethodHealth, nil, nil)
	assert.Equal(t, int64(envelope.CodeMethodNotFound), rpcError(t, err).Code)
}

// A health check that only the pointer has, on a value passed as a T,
// is an error rather than a check left out without a word.
func TestHealthNeedsThePointer(t *testing.T) {
	r := start(t, &plugin.Plugin{}, ValueProbe{}, nil, nil, hostOpts{answer: speaksHealth})
	err := r.wait(t)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has no method Health, but *plugin_test.ValueProbe does; pass a pointer")
}

// A check that hangs does not hold up the plugin's stop: its context ends
// as the stop begins, so the host's $/shutdown is answered at once, and
// so is the check, as cancelled.
func TestHealthEndsWhenStopping(t *testing.T) {
	p := &Probe{entered: make(chan struct{}, 1), check: func(ctx context.Context) (plugin.Health, error) {
		<-ctx.Done()
		return plugin.Health{}, ctx.Err()
	}}
	r, _ := connectHealth(t, p)
	answered := make(chan error, 1)
	go func() { answered <- r.host.call(t.Context(), envelope.MethodHealth, nil, nil) }()
	recv(t, p.entered, "the check to run")
	require.NoError(t, r.host.call(t.Context(), envelope.MethodShutdown, nil, nil), "the stop waits for no check")
	e := rpcError(t, recv(t, answered, "the check's answer"))
	assert.Equal(t, int64(envelope.CodeRequestCancelled), e.Code)
	assert.NoError(t, r.wait(t), "a graceful stop")
}
