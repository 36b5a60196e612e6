package socket_test

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// TestServeTwiceKeepsEachConnectionsSettings (issue 17, item 3): a
// connection reads the settings the socket had when it was accepted, and
// only those, for its whole life. A second Serve with another logger,
// token, key sequencer, frame limit, heartbeat and shutdown timeout
// changes none of them for a connection accepted before it, even one that
// handshakes only after it, and all of them for the connections accepted
// after it, on either listener.
func TestServeTwiceKeepsEachConnectionsSettings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var oldLogs, newLogs logBuffer
		s := new(socket.Socket)
		gone := make(chan string, 8)
		s.RegisterCallback(func(info *envelope.PluginInfo, _ bool) { gone <- info.Name })
		first, second := newPipeListener(), newPipeListener()
		s.Serve(first, socket.Config{
			Logger:            oldLogs.logger(),
			Token:             "old",
			KeySequencer:      func(name string) string { return name + "-old" },
			KeyAttempts:       1,
			MaxFrameSize:      8 << 10,
			HeartbeatInterval: -1,
			ShutdownTimeout:   30 * time.Second,
		})
		early := first.dial(t)
		synctest.Wait() // accepted: the accept loop waits for the next connection
		s.Serve(second, socket.Config{
			Logger:            newLogs.logger(),
			Token:             "new",
			KeySequencer:      func(name string) string { return name + "-new" },
			KeyAttempts:       1,
			MaxFrameSize:      2 << 10,
			HeartbeatInterval: time.Second,
			HeartbeatMisses:   1,
			ShutdownTimeout:   time.Second,
		})

		hello := func(c *rawConn, token, name string) rawMsg {
			t.Helper()
			require.NoError(t, c.writeFrame(handshakeFrame(`"name":"`+name+`"`, `"version":"1.0.0"`, `"token":"`+token+`"`)))
			return c.mustRead(t)
		}
		// drain reads everything the host sends, and answers nothing.
		drain := func(c *rawConn) <-chan string {
			require.NoError(t, c.nc.SetReadDeadline(time.Time{}))
			methods := make(chan string, 16)
			go func() {
				defer close(methods)
				for {
					m, err := c.read()
					if err != nil {
						return
					}
					methods <- m.Method
				}
			}()
			return methods
		}

		for _, l := range []*pipeListener{first, second} {
			m := hello(l.dial(t), "old", "p")
			require.NotNil(t, m.Error, "a connection accepted after the second Serve wants the new token")
			assert.EqualValues(t, envelope.CodeUnauthorized, m.Error.Code)
		}
		late, big := first.dial(t), second.dial(t)
		require.Nil(t, hello(late, "new", "p").Error)
		require.Nil(t, hello(big, "new", "big").Error)
		hs := hello(early, "old", "p")
		require.Nil(t, hs.Error, "the early connection still takes the old token")
		var result envelope.HandshakeResult
		require.NoError(t, json.Unmarshal(hs.Result, &result))
		assert.Equal(t, "p-old", result.Name, "and the old key sequencer")
		earlyGot := drain(early)
		drain(late)
		drain(big)

		// 4 KiB: within the old limit, over the new one, which drops it
		// (a notification over the limit has no one to answer).
		frame := []byte(`{"jsonrpc":"2.0","method":"$/async","params":"` + strings.Repeat("x", 4<<10) + `"}`)
		require.NoError(t, early.writeFrame(frame))
		require.NoError(t, big.writeFrame(frame))
		synctest.Wait()
		assert.Len(t, newLogs.lines("dropped a frame over the size limit", "limit is 2048"), 1,
			"the new frame limit holds for a connection accepted after it")
		assert.Empty(t, oldLogs.lines("dropped a frame"), "and not for the early one")

		// No plugin answers a ping: only the new heartbeat notices.
		time.Sleep(time.Hour)
		synctest.Wait()
		found := []string{<-gone, <-gone}
		assert.ElementsMatch(t, []string{"p", "big"}, found, "the new heartbeat finds the connections accepted after it")
		require.NotNil(t, s.PluginInfo("p-old"), "the early plugin has the old frame limit and no heartbeat")
		select {
		case name := <-gone:
			t.Errorf("%s is gone too", name)
		default:
		}

		// It does not answer $/shutdown either: cut off at the old timeout.
		start := time.Now()
		s.Unplug("", "p-old")
		assert.Equal(t, 30*time.Second, time.Since(start), "Unplug waits the old shutdown timeout")
		assert.Equal(t, "p-old", <-gone)
		var sent []string
		for m := range earlyGot {
			sent = append(sent, m)
		}
		assert.Contains(t, sent, envelope.MethodShutdown)
		assert.NotContains(t, sent, envelope.MethodPing, "the early plugin was never pinged")

		for _, what := range []string{"plugin connected", "did not stop in time", "plugin disconnected"} {
			assert.Len(t, oldLogs.lines(what, "plugin=p-old"), 1, "%s: logged where the early connection logs", what)
		}
		assert.Empty(t, newLogs.lines("p-old"), "nothing of the early connection's goes to the new logger")
		assert.Len(t, newLogs.lines("plugin connected", "plugin=p "), 1)
		assert.NoError(t, s.Shutdown(""))
	})
}
