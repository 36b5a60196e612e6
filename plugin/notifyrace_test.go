package plugin_test

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// seen is a slog.Handler that reports the messages it is given.
type seen chan string

func (seen) Enabled(context.Context, slog.Level) bool { return true }
func (h seen) Handle(_ context.Context, r slog.Record) error {
	select {
	case h <- r.Message:
	default:
	}
	return nil
}
func (h seen) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h seen) WithGroup(string) slog.Handler      { return h }

// A notification that arrives right behind the handshake's answer is
// handled on the read loop while Start is still taking in the answer; the
// race detector watches the logger they share.
func TestNotificationBehindTheHandshakeAnswer(t *testing.T) {
	for range 10 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		pluginEnd, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		hostEnd, err := ln.Accept()
		require.NoError(t, err)
		require.NoError(t, ln.Close())

		logged := make(seen, 16)
		p := &plugin.Plugin{Logger: slog.New(logged), HeartbeatInterval: -1}
		done := make(chan error, 1)
		go func() { done <- p.Start(&idEcho{}, nil, pluginEnd, nil) }()
		h := &rawHost{t: t, nc: hostEnd, fr: envelope.NewFrameReader(hostEnd, 0)}
		hs := h.read()
		both := envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","id":`+hs.ID.String()+`,"result":{"name":"shop","session":"s"}}`))
		both = envelope.AppendFrame(both, []byte(`{"jsonrpc":"2.0","method":"Foo"}`))
		_, err = hostEnd.Write(both)
		require.NoError(t, err)
		for msg := recv(t, (<-chan string)(logged), "a log line"); msg != "plugsock: ignoring notification"; {
			msg = recv(t, (<-chan string)(logged), "the notification's log line")
		}
		require.NoError(t, hostEnd.Close())
		recv(t, done, "Start to return")
	}
}
