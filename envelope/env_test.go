package envelope_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

func TestParseAddr(t *testing.T) {
	for in, want := range map[string][2]string{
		"127.0.0.1:7000":       {"tcp", "127.0.0.1:7000"},
		"tcp:localhost:7000":   {"tcp", "localhost:7000"},
		" [::1]:7000 ":         {"tcp", "[::1]:7000"},
		"unix:/run/app.sock":   {"unix", "/run/app.sock"},
		"unix:relative/s.sock": {"unix", "relative/s.sock"},
	} {
		network, addr, err := envelope.ParseAddr(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, [2]string{network, addr}, in)
	}
	for _, bad := range []string{"", "unix:", "no-port", "tcp:"} {
		_, _, err := envelope.ParseAddr(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestFormatAddr(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 7}, "10.0.0.1:7"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 7}, "127.0.0.1:7"},
		{&net.TCPAddr{Port: 7}, "127.0.0.1:7"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 7}, "[::1]:7"},
		{&net.UnixAddr{Name: "/tmp/s.sock", Net: "unix"}, "unix:/tmp/s.sock"},
	} {
		got, err := envelope.FormatAddr(tc.addr)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
		network, addr, err := envelope.ParseAddr(got)
		require.NoError(t, err, "FormatAddr's output parses")
		assert.Equal(t, tc.addr.Network(), network)
		assert.NotEmpty(t, addr)
	}
	_, err := envelope.FormatAddr(&net.UnixAddr{Name: "/tmp/d.sock", Net: "unixgram"})
	assert.Error(t, err)
	_, err = envelope.FormatAddr(&net.UDPAddr{Port: 7})
	assert.Error(t, err)
}

func ExampleParseAddr() {
	for _, v := range []string{"127.0.0.1:7000", "unix:/run/app/plugins.sock"} {
		network, addr, _ := envelope.ParseAddr(v)
		fmt.Println(network, addr)
	}
	// Output:
	// tcp 127.0.0.1:7000
	// unix /run/app/plugins.sock
}
