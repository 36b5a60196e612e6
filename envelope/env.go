package envelope

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Environment variables through which a host that starts a plugin process
// (socket.Socket.Launch, the plugsock check command) tells it where and
// how to connect. plugin.Run reads them; a plugin in another language
// reads them the same way.
const (
	// EnvAddr is the address to dial: "host:port" for TCP, or
	// "unix:/path/to/socket" for a Unix domain socket.
	EnvAddr = "PLUGSOCK_ADDR"
	// EnvToken, when set, is sent as the handshake's "token".
	EnvToken = "PLUGSOCK_TOKEN"
	// EnvLaunch, when set, is sent as the handshake's "launch", so the
	// host knows which connection is the process it started.
	EnvLaunch = "PLUGSOCK_LAUNCH"
	// EnvLifeline, when it is "stdin", says that the process's standard
	// input is a pipe the host holds open for as long as it lives: end
	// of file on it means the host is gone and the plugin should exit
	// rather than outlive it.
	EnvLifeline = "PLUGSOCK_LIFELINE"
)

// DefaultAddr is where plugsock serve listens and where plugin.Run dials
// when EnvAddr is unset or empty: the loopback address, so that a plugin
// started by hand on the host's machine finds the host without being told.
const DefaultAddr = "127.0.0.1:7700"

// ParseAddr splits the value of EnvAddr into a network and an address for
// net.Dial: "unix:/run/app.sock" is ("unix", "/run/app.sock"), and
// "tcp:127.0.0.1:7000" and "127.0.0.1:7000" are ("tcp", "127.0.0.1:7000").
func ParseAddr(s string) (network, address string, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "", errors.New("address is empty")
	case strings.HasPrefix(s, "unix:"):
		if p := strings.TrimPrefix(s, "unix:"); p != "" {
			return "unix", p, nil
		}
		return "", "", fmt.Errorf("address %q has no path", s)
	}
	s = strings.TrimPrefix(s, "tcp:")
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", "", fmt.Errorf("address %q is neither host:port nor unix:/path: %w", s, err)
	}
	return "tcp", s, nil
}

// FormatAddr is the inverse of ParseAddr: the EnvAddr value that reaches
// a listener at addr from the same machine. A TCP listener on every
// interface is reached on the loopback address: 127.0.0.1 for 0.0.0.0,
// ::1 for ::. Networks
// other than TCP and Unix sockets have no EnvAddr form.
func FormatAddr(addr net.Addr) (string, error) {
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip := a.IP
		switch {
		case ip == nil || ip.Equal(net.IPv4zero):
			ip = net.IPv4(127, 0, 0, 1)
		case ip.IsUnspecified():
			// "::" is reported only when IPv6 works, and whether the
			// listener also takes IPv4 cannot be told from here.
			ip = net.IPv6loopback
		}
		return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port)), nil
	case *net.UnixAddr:
		if a.Net != "unix" {
			return "", fmt.Errorf("%s sockets cannot be dialled as a plugin connection", a.Net)
		}
		return "unix:" + a.Name, nil
	}
	return "", fmt.Errorf("cannot tell a plugin how to reach a %s listener", addr.Network())
}
