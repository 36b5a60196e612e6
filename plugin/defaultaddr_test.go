package plugin_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Without PLUGSOCK_ADDR, Run used to fail with "address is empty" while
// the README promised 127.0.0.1:7700, where plugsock serve listens.
func TestRunDialsTheDefaultAddressWhenNoneIsSet(t *testing.T) {
	require.Equal(t, "127.0.0.1:7700", envelope.DefaultAddr, "the address the README and plugsock serve document")
	for name, env := range map[string]map[string]string{
		"unset": nil,
		"empty": {envelope.EnvAddr: ""},
		"blank": {envelope.EnvAddr: "  "},
	} {
		t.Run(name, func(t *testing.T) {
			h := newRunHost(t, "tcp")
			dialled := make(chan string, 16)
			r := startRun(t, &runee{}, &envelope.PluginInfo{Name: "runner"}, plugin.RunOptions{
				Env: env,
				// Port 7700 may be taken on the machine running the
				// tests; the dial is redirected to this test's host.
				Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
					dialled <- network + " " + address
					var d net.Dialer
					return d.DialContext(ctx, "tcp", h.addr)
				},
			})
			assert.Equal(t, "tcp 127.0.0.1:7700", recv(t, dialled, "Run to dial"))
			assert.Equal(t, "runner", recv(t, r.sessions, "a session"))
		})
	}
}

// The same, end to end: a socket really listening on the default address
// gets the plugin.
func TestRunReachesAHostOnTheDefaultAddress(t *testing.T) {
	l, err := net.Listen("tcp", envelope.DefaultAddr)
	if err != nil {
		t.Skipf("%s is not free on this machine (%v); TestRunDialsTheDefaultAddressWhenNoneIsSet covers the address", envelope.DefaultAddr, err)
	}
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: quiet})
	t.Cleanup(func() { _ = s.Shutdown("") })
	r := startRun(t, &runee{}, &envelope.PluginInfo{Name: "runner"}, plugin.RunOptions{})
	assert.Equal(t, "runner", recv(t, r.sessions, "a session on "+envelope.DefaultAddr))
	var sum int
	require.NoError(t, s.CallContext(t.Context(), "runner", "Add", map[string]int{"a": 2, "b": 3}, &sum))
	assert.Equal(t, 5, sum)
}
