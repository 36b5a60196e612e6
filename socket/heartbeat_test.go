package socket_test

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// TestHeartbeatFindsAFrozenPlugin: a raw TCP peer handshakes, then stops
// answering, the way a frozen process or a half-open connection looks
// from the host. The host finds out, fails the call waiting on it, and
// reports the disconnect as not graceful.
func TestHeartbeatFindsAFrozenPlugin(t *testing.T) {
	for _, silence := range []string{"reads but never answers", "stops reading"} {
		t.Run(silence, func(t *testing.T) {
			var logs logBuffer
			s, addr, gone := rawSocket(t, socket.Config{Logger: logs.logger(), HeartbeatInterval: 30 * time.Millisecond, HeartbeatMisses: 2})
			c := rawDial(t, addr)
			hs := c.handshake(t, `1`, "frozen")
			require.Nil(t, hs.Error)
			require.True(t, s.WaitFor("frozen", rawWait))

			pinged := make(chan struct{})
			readerDone := make(chan struct{})
			if silence == "reads but never answers" {
				go func() {
					defer close(readerDone)
					seen := false
					for {
						_ = c.nc.SetReadDeadline(time.Now().Add(rawWait))
						m, err := c.read()
						if err != nil {
							return
						}
						if m.Method == envelope.MethodPing && !seen {
							seen = true
							close(pinged)
						}
					}
				}()
			} else {
				close(pinged)
				close(readerDone)
			}

			ctx, cancel := context.WithTimeout(context.Background(), rawWait)
			defer cancel()
			err := s.CallContext(ctx, "frozen", "Add", map[string]int{"a": 1, "b": 2}, nil)
			assert.ErrorIs(t, err, socket.ErrShutdown, "the call waiting on the frozen plugin fails")
			assert.ErrorIs(t, err, envelope.ErrUnresponsive)
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "found out by the heartbeat, not the caller's deadline")
			assert.Equal(t, rawGone{Name: "frozen", Graceful: false}, rawRecv(t, gone, "the callback"))
			assert.Nil(t, s.PluginInfo("frozen"))
			rawClosed(t, pinged, "a $/ping")
			logs.waitFor(t, 1, "plugin disconnected", "plugin=frozen", "graceful=false", "$/ping")
			_ = c.nc.Close()
			rawClosed(t, readerDone, "the raw reader")
		})
	}
}

// TestHeartbeatKeepsAnsweringPluginsConnected: a plugin that answers
// $/ping stays, however long it is idle, and pings go out every interval.
func TestHeartbeatKeepsAnsweringPluginsConnected(t *testing.T) {
	s, addr, gone := rawSocket(t, socket.Config{HeartbeatInterval: 20 * time.Millisecond, HeartbeatMisses: 10})
	c := rawDial(t, addr)
	hs := c.handshake(t, `1`, "alive")
	require.Nil(t, hs.Error)
	pings := 0
	for pings < 20 {
		m := c.mustRead(t)
		require.Equal(t, envelope.MethodPing, m.Method, "only pings reach an idle plugin")
		assert.Nil(t, m.Params, "$/ping has no params")
		require.NoError(t, c.send(rawMsg{ID: m.ID, Result: json.RawMessage(`null`)}))
		pings++
	}
	assert.NotNil(t, s.PluginInfo("alive"))
	select {
	case g := <-gone:
		t.Fatalf("disconnected: %+v", g)
	default:
	}
}

// TestHeartbeatDefaultsAndOff runs the socket on a fake clock: with the
// defaults a frozen plugin is found out after four intervals (one idle,
// then three unanswered), and with heartbeats off it stays forever.
func TestHeartbeatDefaultsAndOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []socket.Options
		want time.Duration // 0: never found out
	}{
		{"default", nil, 4 * socket.DefaultHeartbeatInterval},
		{"off", []socket.Options{socket.Config{HeartbeatInterval: -1}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newPipeListener()
				s := new(socket.Socket)
				gone := make(chan bool, 1)
				s.RegisterCallback(func(_ *envelope.PluginInfo, graceful bool) { gone <- graceful })
				s.Serve(l, append([]socket.Options{socket.Config{Logger: quiet}}, tc.opts...)...)

				c := l.dial(t)
				require.Nil(t, c.handshake(t, `1`, "frozen").Error)
				require.NoError(t, c.nc.SetReadDeadline(time.Time{}))
				start := time.Now()
				// Read everything, answer nothing.
				read := make(chan string, 16)
				go func() {
					for {
						m, err := c.read()
						if err != nil {
							close(read)
							return
						}
						read <- m.Method
					}
				}()

				if tc.want > 0 {
					assert.False(t, <-gone)
					assert.Equal(t, tc.want, time.Since(start))
					assert.Equal(t, envelope.MethodPing, <-read, "one ping, never answered")
				} else {
					time.Sleep(24 * time.Hour)
					synctest.Wait()
					assert.NotNil(t, s.PluginInfo("frozen"), "no heartbeat, no disconnect")
					select {
					case m := <-read:
						t.Errorf("the socket sent %q", m)
					default:
					}
				}
				err := s.Shutdown("")
				if tc.want == 0 {
					// Still frozen: it never answers $/shutdown either.
					assert.ErrorContains(t, err, "cut off 1 plugin(s) after 10s: frozen")
					assert.False(t, <-gone)
				} else {
					assert.NoError(t, err)
				}
				for range read {
				}
			})
		})
	}
}
