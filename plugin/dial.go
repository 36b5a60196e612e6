package plugin

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// Dial connects to a socket at address on the named network ("tcp",
// "unix", ...), ready to pass to Start. With a non-nil config it connects
// over TLS and completes the TLS handshake before returning, so that an
// untrusted server certificate is reported here, by Dial, rather than as
// a lost connection later. For mutual TLS, put the plugin's certificate in
// config.Certificates. When config.ServerName is empty it is taken from
// address, as tls.Dial does. ctx bounds the dial and the TLS handshake.
//
// (Under TLS 1.3 the server checks a client certificate after the
// client's side of the handshake is done, so a certificate the socket
// rejects shows up as Start's handshake error instead.)
func Dial(ctx context.Context, network, address string, config *tls.Config) (net.Conn, error) {
	if config == nil {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	d := tls.Dialer{Config: config}
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("plugsock: dial %s over TLS: %w", address, err)
	}
	return conn, nil
}
