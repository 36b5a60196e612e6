package socket_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// runPlugin starts v on conn with p's settings and waits until it is
// connected or refused. It returns Start's error channel.
func runPlugin(t *testing.T, p *plugin.Plugin, v any, name string, conn net.Conn) (connected bool, result chan error) {
	t.Helper()
	result = make(chan error, 1)
	ok := make(chan string, 1)
	p.Logger = quiet
	p.OnConnect = func(n string) { ok <- n }
	go func() { result <- p.Start(v, &envelope.PluginInfo{Name: name}, conn, nil) }()
	select {
	case <-ok:
		t.Cleanup(func() {
			_ = p.Close()
			recv(t, result, "Start to return")
		})
		return true, result
	case err := <-result:
		result <- err
		return false, result
	case <-time.After(rawWait):
		t.Fatalf("plugin %q neither connected nor refused", name)
		return false, result
	}
}

func TestTokenIsRequired(t *testing.T) {
	const token = "s3cret-T0KEN-value"
	const wrong = "guess-W0RONG-value"
	var logs logBuffer
	h := newHost(t, "tcp", socket.Config{Token: token, Logger: logs.logger()})

	for _, tc := range []struct {
		name, token, why string
	}{
		{"none", "", "unauthorised: missing token"},
		{"wrong", wrong, "unauthorised: wrong token"},
		{"prefix", token[:len(token)-1], "unauthorised: wrong token"},
		{"longer", token + "x", "unauthorised: wrong token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", h.addr.String())
			require.NoError(t, err)
			connected, result := runPlugin(t, &plugin.Plugin{Token: tc.token}, newCalc(), "intruder", conn)
			require.False(t, connected)
			err = recv(t, result, "Start")
			assert.ErrorIs(t, err, envelope.ErrUnauthorized)
			assert.ErrorContains(t, err, tc.why)
			var e *envelope.Error
			require.ErrorAs(t, err, &e)
			assert.EqualValues(t, envelope.CodeUnauthorized, e.Code)
		})
	}
	assert.Nil(t, h.s.PluginInfo("intruder"))

	conn, err := net.Dial("tcp", h.addr.String())
	require.NoError(t, err)
	connected, _ := runPlugin(t, &plugin.Plugin{Token: token}, newCalc(), "member", conn)
	require.True(t, connected)
	got, err := h.s.Call("", "member", "Add", testplugins.Args{A: 2, B: 2})
	require.NoError(t, err)
	assert.Equal(t, float64(4), got)

	logs.waitFor(t, 4, "handshake refused", "code=-32002", "unauthorised")
	assert.Len(t, logs.lines("handshake refused"), 4, "one line per refusal")
	assert.NotContains(t, logs.String(), token[:8], "the log never holds the token")
	assert.NotContains(t, logs.String(), wrong[:8], "nor what was sent instead")
}

// certs is a certificate authority made up for one test, with what it
// signed.
type certs struct {
	pool   *x509.CertPool
	server tls.Certificate // for 127.0.0.1
	client tls.Certificate // for a plugin
}

func newCerts(t *testing.T, name string) certs {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	c := certs{pool: x509.NewCertPool()}
	c.pool.AddCert(ca)
	leaf := func(serial int64, tmpl x509.Certificate) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	c.server = leaf(2, x509.Certificate{
		Subject:     pkix.Name{CommonName: "plugsock host"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	c.client = leaf(3, x509.Certificate{
		Subject:     pkix.Name{CommonName: "plugsock plugin"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return c
}

// tlsHost serves a socket on a TLS listener on loopback.
func tlsHost(t *testing.T, cfg *tls.Config, opts ...socket.Options) (*socket.Socket, string, *callbacks) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := new(socket.Socket)
	cbs := &callbacks{ch: make(chan string, 64)}
	s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		cbs.ch <- info.Name + map[bool]string{true: " graceful=true", false: " graceful=false"}[graceful]
	})
	s.Serve(tls.NewListener(ln, cfg), append([]socket.Options{socket.Config{Logger: quiet}}, opts...)...)
	t.Cleanup(func() { _ = s.Shutdown("") })
	return s, ln.Addr().String(), cbs
}

func TestTLS(t *testing.T) {
	ca := newCerts(t, "test")
	s, addr, cbs := tlsHost(t, &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12})

	conn, err := plugin.Dial(context.Background(), "tcp", addr, &tls.Config{RootCAs: ca.pool})
	require.NoError(t, err)
	connected, _ := runPlugin(t, &plugin.Plugin{}, newCalc(), "secure", conn)
	require.True(t, connected)
	var echo string
	require.NoError(t, s.CallContext(context.Background(), "secure", "Echo", "over TLS", &echo))
	assert.Equal(t, "over TLS", echo)

	// A plugin that does not trust the host's certificate never gets to
	// send its handshake.
	other := newCerts(t, "other")
	_, err = plugin.Dial(context.Background(), "tcp", addr, &tls.Config{RootCAs: other.pool})
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknown)

	// Plain text on a TLS listener is closed, and nobody else minds.
	c := rawDial(t, addr)
	require.NoError(t, c.send(rawMsg{ID: []byte(`1`), Method: envelope.MethodHandshake, Params: []byte(`{"name":"plain"}`)}))
	c.expectClosed(t)
	assert.Nil(t, s.PluginInfo("plain"))
	require.NoError(t, s.CallContext(context.Background(), "secure", "Echo", "still here", &echo))

	s.Unplug("", "secure")
	assert.Equal(t, "secure graceful=true", recv(t, cbs.ch, "the callback"))
}

func TestMutualTLSWithToken(t *testing.T) {
	ca := newCerts(t, "test")
	s, addr, _ := tlsHost(t, &tls.Config{
		Certificates: []tls.Certificate{ca.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool,
		MinVersion:   tls.VersionTLS13,
	}, socket.Config{Token: "t0ken"})

	dial := func(cfg *tls.Config) net.Conn {
		cfg.RootCAs = ca.pool
		conn, err := plugin.Dial(context.Background(), "tcp", addr, cfg)
		require.NoError(t, err, "under TLS 1.3 the client's side of the TLS handshake ends before the server checks its certificate")
		return conn
	}

	connected, _ := runPlugin(t, &plugin.Plugin{Token: "t0ken"}, newCalc(), "member",
		dial(&tls.Config{Certificates: []tls.Certificate{ca.client}}))
	require.True(t, connected)
	got, err := s.Call("", "member", "Add", testplugins.Args{A: 20, B: 22})
	require.NoError(t, err)
	assert.Equal(t, float64(42), got)

	for name, cfg := range map[string]*tls.Config{
		"no client certificate":             {},
		"certificate from another CA":       {Certificates: []tls.Certificate{newCerts(t, "other").client}},
		"right certificate but wrong token": {Certificates: []tls.Certificate{ca.client}},
	} {
		t.Run(name, func(t *testing.T) {
			connected, result := runPlugin(t, &plugin.Plugin{Token: "wrong"}, newCalc(), "intruder", dial(cfg))
			require.False(t, connected)
			err := recv(t, result, "Start")
			require.Error(t, err)
			if name == "right certificate but wrong token" {
				assert.ErrorIs(t, err, envelope.ErrUnauthorized)
			} else if !strings.Contains(err.Error(), "certificate") {
				// Under TLS 1.3 the client hears of the refusal only by
				// reading, after it has written its handshake; one larger
				// than a TLS record (schemas make a plugin's so) meets the
				// host's close on its second record, and the reset
				// discards the alert unread.
				assert.Regexp(t, "broken pipe|connection reset", err.Error(), "the TLS alert says why, or the write that met the refusal")
			}
		})
	}
	assert.Equal(t, []string{"member"}, keys(s.Connected(false)))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSecurityDocDefaults checks that docs/security.md quotes the defaults
// the code has.
func TestSecurityDocDefaults(t *testing.T) {
	doc, err := os.ReadFile("../docs/security.md")
	require.NoError(t, err)
	for _, want := range []string{
		fmt.Sprintf("%d calls per plugin", socket.DefaultMaxInFlight),
		// Issue 9 (A3): the bound is memory, no longer bytes of JSON.
		fmt.Sprintf("%d MiB of memory", socket.DefaultAsyncBytes>>20),
		fmt.Sprintf("`CallTimeout` | %v s", socket.DefaultCallTimeout.Seconds()),
		fmt.Sprintf("%d items", socket.DefaultAsyncBuffer),
		fmt.Sprintf("%v, %d: found out after about 40 s", strings.TrimSuffix(socket.DefaultHeartbeatInterval.String(), "s")+" s", socket.DefaultHeartbeatMisses),
	} {
		assert.Contains(t, string(doc), want, "the defaults table is up to date")
	}
}

func TestAttachWithToken(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{Token: "t"})
	name, err := h.s.Attach(newCalc(), &envelope.PluginInfo{Name: "inside"})
	require.NoError(t, err, "a plugin the socket runs itself has the token")
	got, err := h.s.Call("", name, "Add", testplugins.Args{A: 1, B: 1})
	require.NoError(t, err)
	assert.Equal(t, float64(2), got)
}
