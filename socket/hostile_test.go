package socket_test

// Hostile input against a real Socket on loopback TCP: each case sends
// something no plugin should, and the socket must close that connection,
// log why, and go on serving a well-behaved plugin as if nothing happened.
// (protocol_test.go covers the plainer refusals.)

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/socket"
)

type hostileCase struct {
	name string
	// plugin: the attacker handshakes first, as a plugin called name.
	plugin bool
	// attack sends the bad input. It may return before the host reacts.
	attack func(t *testing.T, c *rawConn)
	// reason is in the host's log line about closing the connection.
	reason string
}

func frame(s string) []byte { return fmt.Appendf(nil, "Content-Length: %d\r\n\r\n%s", len(s), s) }

func write(b []byte) func(*testing.T, *rawConn) {
	return func(t *testing.T, c *rawConn) {
		_, err := c.nc.Write(b)
		require.NoError(t, err)
	}
}

// stream keeps writing chunks of data until the host hangs up, and
// checks that it does so long before total bytes have gone out: an
// oversized frame must be refused from its header, not after buffering it.
func stream(header string, chunk []byte, total int) func(*testing.T, *rawConn) {
	return func(t *testing.T, c *rawConn) {
		_ = c.nc.SetWriteDeadline(time.Now().Add(rawWait))
		_, err := c.nc.Write([]byte(header))
		require.NoError(t, err)
		sent := 0
		for sent < total {
			n, err := c.nc.Write(chunk)
			sent += n
			if err != nil {
				var ne net.Error
				require.False(t, errors.As(err, &ne) && ne.Timeout(), "the host stopped reading but did not hang up")
				t.Logf("the host hung up after %d bytes", sent)
				return
			}
		}
		t.Fatalf("the host took all %d bytes of an oversized frame", total)
	}
}

const hostileMaxFrame = 64 << 10

func hostileCases() []hostileCase {
	nested := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	junk := make([]byte, 2048)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(r.UintN(256))
	}
	return []hostileCase{
		{name: "connects and sends nothing", reason: "no handshake in time",
			attack: func(*testing.T, *rawConn) {}},
		{name: "handshakes a byte at a time", reason: "no handshake in time",
			attack: func(t *testing.T, c *rawConn) {
				// Each byte is on time; the whole is not.
				hs := frame(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"slow"}}`)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for _, b := range hs {
					<-tick.C
					if _, err := c.nc.Write([]byte{b}); err != nil {
						return
					}
				}
				t.Error("the whole handshake went out")
			}},
		{name: "streams an oversized frame", reason: "frame too large",
			attack: stream("Content-Length: 1073741824\r\n\r\n", make([]byte, 64<<10), 256<<20)},
		{name: "streams an endless header line", reason: "header line longer than",
			attack: stream("X-Junk: ", []byte(strings.Repeat("a", 64<<10)), 256<<20)},
		{name: "streams endless header lines", reason: "header lines",
			attack: stream("", []byte(strings.Repeat("X-Junk: a\r\n", 4096)), 256<<20)},
		{name: "Content-Length not a number", reason: "bad Content-Length",
			attack: write([]byte("Content-Length: twelve\r\n\r\n"))},
		{name: "Content-Length negative", reason: "bad Content-Length",
			attack: write([]byte("Content-Length: -5\r\n\r\n"))},
		{name: "Content-Length overflows", reason: "bad Content-Length",
			attack: write([]byte("Content-Length: 99999999999999999999999\r\n\r\n"))},
		{name: "header line without a colon", reason: "malformed header line",
			attack: write([]byte("Content-Length 12\r\n\r\n"))},
		{name: "no Content-Length", reason: "without Content-Length",
			attack: write([]byte("Content-Type: application/json\r\n\r\n{}"))},
		{name: "binary garbage", reason: "protocol violation",
			attack: write(junk)},
		{name: "truncated JSON", reason: "malformed JSON",
			attack: write(frame(`{"jsonrpc":"2.0","id":1,"method":`))},
		{name: "id is an object", reason: "an id must be a string, a number or null, got an object",
			attack: write(frame(`{"jsonrpc":"2.0","id":{"a":1},"method":"$/handshake","params":{"name":"x"}}`))},
		{name: "method is a number", reason: "malformed JSON",
			attack: write(frame(`{"jsonrpc":"2.0","id":1,"method":7}`))},
		{name: "nested 20000 deep", reason: "exceeded max depth",
			attack: write(frame(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":` + nested + `}`))},
		{name: "empty batch", reason: "batches are not supported",
			attack: write(frame(` []`))},
		{name: "batch of handshakes", reason: "batches are not supported",
			attack: write(frame(`[{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"b1"}},{"jsonrpc":"2.0","id":2,"method":"$/handshake","params":{"name":"b2"}}]`))},
		{name: "ping before the handshake", reason: `\"$/ping\" before the handshake`,
			attack: write(frame(`{"jsonrpc":"2.0","id":1,"method":"$/ping"}`))},
		{name: "response before the handshake", reason: "response to id 1, which was never sent",
			attack: write(frame(`{"jsonrpc":"2.0","id":1,"result":null}`))},
		{name: "handshake with a number for a name", reason: "malformed handshake",
			attack: write(frame(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":7}}`))},

		{name: "second handshake", plugin: true, reason: "second handshake",
			attack: write(frame(`{"jsonrpc":"2.0","id":2,"method":"$/handshake","params":{"name":"again"}}`))},
		{name: "response to an id never sent", plugin: true, reason: "response to id 424242, which was never sent",
			attack: write(frame(`{"jsonrpc":"2.0","id":424242,"result":"forged"}`))},
		{name: "response with a string id", plugin: true, reason: "which was never sent",
			attack: write(frame(`{"jsonrpc":"2.0","id":"x","result":"forged"}`))},
		{name: "streams an oversized frame as a plugin", plugin: true, reason: "frame too large",
			attack: stream(fmt.Sprintf("Content-Length: %d\r\n\r\n", hostileMaxFrame+1), make([]byte, 64<<10), 256<<20)},
		{name: "sends half a frame, then nothing", plugin: true, reason: "$/ping",
			attack: write([]byte("Content-Length: 100\r\n\r\n{\"jsonrpc\":"))},
		// The host's read loop ends up blocked writing answers nobody
		// reads. The heartbeat or the write timeout, whichever comes
		// first, cuts the plugin off.
		{name: "floods pings and reads no answers", plugin: true, reason: "graceful=false",
			attack: func(t *testing.T, c *rawConn) {
				ping := frame(`{"jsonrpc":"2.0","id":1,"method":"$/ping"}`)
				burst := make([]byte, 0, 1000*len(ping))
				for range 1000 {
					burst = append(burst, ping...)
				}
				_ = c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
				for {
					if _, err := c.nc.Write(burst); err != nil {
						return // the host has hung up, or stopped reading for good
					}
				}
			}},
	}
}

func TestHostileInput(t *testing.T) {
	var logs logBuffer
	h := newHost(t, "tcp",
		socket.Config{
			Logger:            logs.logger(),
			MaxFrameSize:      hostileMaxFrame,
			HandshakeTimeout:  300 * time.Millisecond,
			HeartbeatInterval: 100 * time.Millisecond,
			HeartbeatMisses:   3,
			WriteTimeout:      300 * time.Millisecond,
		},
	)
	cbs := h.callbacks()
	keeper := h.plug(newCalc(), "keeper")
	calls := 0
	keeperWorks := func(t *testing.T) {
		t.Helper()
		calls++
		got, err := h.s.Call("", "keeper", "Add", testplugins.Args{A: calls, B: 1})
		require.NoError(t, err, "the well-behaved plugin is not disturbed")
		require.Equal(t, float64(calls+1), got)
	}

	for i, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := rawDial(t, h.addr.String())
			addr := "addr=" + c.nc.LocalAddr().String() + " "
			name := fmt.Sprint("attacker-", i)
			if tc.plugin {
				require.Nil(t, c.handshake(t, `1`, name).Error)
				require.True(t, h.s.WaitFor(name, rawWait))
				keeperWorks(t)
			}

			attacked := make(chan struct{})
			go func() {
				defer close(attacked)
				tc.attack(t, c)
			}()
			logs.waitFor(t, 1, addr, tc.reason)
			rawClosed(t, attacked, "the attack to end")
			closedByHost(t, c)

			keeperWorks(t)
			if tc.plugin {
				assert.Equal(t, name+" graceful=false", recv(t, cbs.ch, "the attacker's callback"))
				assert.Nil(t, h.s.PluginInfo(name))
			}
			for _, line := range logs.lines(addr) {
				assert.NotContains(t, line, "level=ERROR", "a hostile peer is a warning, not an error in the host")
			}
		})
	}

	assert.Equal(t, []string{"keeper"}, keys(h.s.Connected(false)))
	select {
	case cb := <-cbs.ch:
		t.Errorf("unexpected callback: %s", cb)
	default:
	}
	require.NoError(t, keeper.p.Close())
	assert.Equal(t, "keeper graceful=true", recv(t, cbs.ch, "keeper's callback"))
}

// closedByHost reads what the host still sends (an error answer, pings)
// until it hangs up.
func closedByHost(t *testing.T, c *rawConn) {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(rawWait))
	for {
		if _, err := c.readFrame(); err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the host did not close the connection")
			return
		}
	}
}
