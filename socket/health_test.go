package socket_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Checked is a plugin with a health check whose answer a test sets.
type Checked struct {
	mu     sync.Mutex
	health plugin.Health
	err    error
	checks atomic.Int64 // Health calls so far
}

func (c *Checked) Hello(_ context.Context, name string) (string, error) { return "hello, " + name, nil }

func (c *Checked) Health(context.Context) (plugin.Health, error) {
	c.checks.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health, c.err
}

func (c *Checked) set(h plugin.Health, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.health, c.err = h, err
}

// Hanging is a plugin whose health check never answers; it reports on
// cancelled when its context ends, as the host's $/cancelRequest makes it.
type Hanging struct {
	entered   chan struct{}
	cancelled chan error
}

func (*Hanging) Hello(_ context.Context, name string) (string, error) { return "hello, " + name, nil }

func (h *Hanging) Health(ctx context.Context) (plugin.Health, error) {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	select {
	case h.cancelled <- ctx.Err():
	default:
	}
	return plugin.Health{}, ctx.Err()
}

func newHanging() *Hanging {
	return &Hanging{entered: make(chan struct{}, 1), cancelled: make(chan error, 1)}
}

// waitHealth waits until the host reports the plugin called name with
// status and message, and returns what it reports.
func waitHealth(t *testing.T, s *socket.Socket, name string, status envelope.HealthStatus, message string) socket.Health {
	t.Helper()
	var last socket.Health
	require.Eventually(t, func() bool {
		h, ok := s.Health(name)
		last = h
		return ok && h.Status == status && h.Message == message
	}, 10*time.Second, time.Millisecond, "waiting for %s to be %s (%q)", name, status, message)
	return last
}

// healthChanges returns the statuses the host logged the plugin moving to,
// in order, and the level of each line.
func healthChanges(t *testing.T, log *testplugins.Log, name string) (statuses, levels []string) {
	t.Helper()
	recs, err := log.Records()
	require.NoError(t, err)
	for _, rec := range recs {
		if rec["msg"] == "plugsock: plugin health changed" && rec["plugin"] == name {
			statuses = append(statuses, rec["status"].(string)+" "+rec["message"].(string))
			levels = append(levels, rec["level"].(string))
		}
	}
	return statuses, levels
}

// A Go plugin's Health method is called on the socket's interval, and
// the socket reports each status it says, with its message, as it
// changes: healthy, degraded, unhealthy (an error is unhealthy with its
// text) and healthy again; over TCP and in-process alike. Each change is
// logged once, a warning when it is to unhealthy.
func TestHealthFollowsThePlugin(t *testing.T) {
	for _, transport := range []string{"tcp", "attach"} {
		t.Run(transport, func(t *testing.T) {
			log := new(testplugins.Log)
			h := newHost(t, transport, socket.Config{
				Logger:         slog.New(slog.NewJSONHandler(log, nil)),
				HealthInterval: 2 * time.Millisecond,
			})
			c := new(Checked)
			connected := time.Now()
			name := h.plugVia(transport, c, "checked")

			first := waitHealth(t, h.s, name, envelope.Healthy, "") // the zero Health is healthy
			assert.Equal(t, name, first.Plugin)
			assert.True(t, first.Checks)
			assert.False(t, first.LastCheck.IsZero(), "the check's time is kept")
			assert.False(t, first.Since.Before(connected), "since %v, before the plugin connected at %v", first.Since, connected)

			c.set(plugin.Health{Status: plugin.Degraded, Message: "cache cold"}, nil)
			degraded := waitHealth(t, h.s, name, envelope.Degraded, "cache cold")
			assert.True(t, degraded.Since.After(first.Since), "since moves with the status")

			c.set(plugin.Health{}, errors.New("database unreachable"))
			waitHealth(t, h.s, name, envelope.Unhealthy, "database unreachable")

			c.set(plugin.Health{Status: plugin.Unhealthy, Message: "disk full"}, nil)
			unhealthy := waitHealth(t, h.s, name, envelope.Unhealthy, "disk full")

			n := c.checks.Load()
			require.Eventually(t, func() bool {
				got, _ := h.s.Health(name)
				return got.LastCheck.After(unhealthy.LastCheck) && c.checks.Load() > n
			}, 10*time.Second, time.Millisecond, "checks go on")
			again, _ := h.s.Health(name)
			assert.Equal(t, unhealthy.Since, again.Since, "a status that stays keeps its since")

			c.set(plugin.Health{Status: plugin.Healthy, Message: "recovered"}, nil)
			waitHealth(t, h.s, name, envelope.Healthy, "recovered")

			all := h.s.Healths()
			require.Len(t, all, 1)
			assert.Equal(t, name, all[0].Plugin)
			assert.Equal(t, envelope.Healthy, all[0].Status)

			statuses, levels := healthChanges(t, log, name)
			assert.Equal(t, []string{"healthy ", "degraded cache cold", "unhealthy database unreachable", "healthy recovered"}, statuses,
				"one line per change of status; a new message alone is no change")
			assert.Equal(t, []string{"INFO", "INFO", "WARN", "INFO"}, levels)
		})
	}
}

// A check that gets no answer within HealthTimeout counts as unhealthy,
// with a message that says so; the plugin's Health is told to stop (its
// context ends), and the plugin stays connected: health is reported, not
// acted on.
func TestHealthTimeout(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HealthInterval: time.Hour, HealthTimeout: 50 * time.Millisecond})
	p := newHanging()
	name := h.plugVia("tcp", p, "hanging")
	recv(t, p.entered, "the first check")
	got := waitHealth(t, h.s, name, envelope.Unhealthy, "no answer to $/health within 50ms")
	assert.ErrorIs(t, recv(t, p.cancelled, "the check's cancellation"), context.Canceled, "the host cancelled the check it gave up on")
	assert.False(t, got.LastCheck.IsZero())
	var out string
	require.NoError(t, h.s.CallContext(context.Background(), name, "Hello", "you", &out))
	assert.Equal(t, "hello, you", out, "the plugin still answers calls")
}

// Plugins whose health is not checked report HealthUnknown with Checks
// false: one without a Health method, and one with it on a socket whose
// interval is off. Neither gets a $/health.
func TestHealthUnchecked(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HealthInterval: time.Millisecond})
	plain := h.plugVia("tcp", newCalc(), "plain")
	checked := new(Checked)
	name := h.plugVia("tcp", checked, "checked")
	require.Eventually(t, func() bool { return checked.checks.Load() >= 3 }, 10*time.Second, time.Millisecond)
	got, ok := h.s.Health(plain)
	require.True(t, ok)
	assert.Equal(t, socket.Health{Plugin: plain, Status: socket.HealthUnknown, Since: got.Since}, got)
	assert.False(t, got.Since.IsZero())
	all := h.s.Healths()
	require.Len(t, all, 2)
	assert.Equal(t, []string{name, plain}, []string{all[0].Plugin, all[1].Plugin}, "sorted by name")

	off := newHost(t, "tcp") // HealthInterval left zero: off
	quiet := new(Checked)
	name = off.plugVia("tcp", quiet, "quiet")
	got, ok = off.s.Health(name)
	require.True(t, ok)
	assert.Equal(t, socket.HealthUnknown, got.Status)
	assert.False(t, got.Checks)
	// A call goes after the handshake on the same connection: had a check
	// been sent at connect, it would have been answered by now.
	var out string
	require.NoError(t, off.s.CallContext(context.Background(), name, "Hello", "x", &out))
	assert.Zero(t, quiet.checks.Load(), "no $/health is sent with the interval off")

	_, ok = off.s.Health("nobody")
	assert.False(t, ok)
}

// The zero Socket reports no health and is up until it shuts down.
func TestHealthZeroSocket(t *testing.T) {
	var s socket.Socket
	_, ok := s.Health("calc")
	assert.False(t, ok)
	assert.Empty(t, s.Healths())
	assert.True(t, s.Up())
	require.NoError(t, s.Shutdown(""))
	assert.False(t, s.Up())
}

// healthPeer is a hand-written protocol 2 plugin that declares a health
// check and answers $/health with whatever answer says.
type healthPeer struct {
	conn   *envelope.Conn
	health atomic.Int64 // $/health requests seen
}

func dialHealthPeer(t *testing.T, h *host, name string, protocol int, caps map[string]json.RawMessage, answer func(c *envelope.Conn, m *envelope.Envelope)) *healthPeer {
	t.Helper()
	nc, err := net.Dial(h.addr.Network(), h.addr.String())
	require.NoError(t, err)
	rp := &healthPeer{}
	rp.conn = envelope.NewConn(nc, envelope.ConnOptions{Logger: quiet, Handler: func(c *envelope.Conn, m *envelope.Envelope) {
		switch {
		case !m.IsRequest():
		case m.Method == envelope.MethodHealth:
			rp.health.Add(1)
			answer(c, m)
		case m.Method == envelope.MethodShutdown:
			_ = c.Reply(m.ID, nil)
			c.Close()
		default:
			_ = c.Reply(m.ID, nil)
		}
	}})
	rp.conn.Start()
	t.Cleanup(func() {
		rp.conn.Close()
		<-rp.conn.Done()
		rp.conn.Wait()
	})
	hs := envelope.Handshake{Protocol: protocol, Capabilities: caps}
	hs.Name = name
	var res envelope.HandshakeResult
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, rp.conn.Call(ctx, envelope.MethodHandshake, hs, &res))
	rp.conn.SetProtocol(max(res.Protocol, envelope.Protocol1))
	return rp
}

var healthCap = map[string]json.RawMessage{envelope.CapabilityHealth: json.RawMessage("true")}

// Whatever a plugin answers $/health with, the socket keeps a status it
// knows and a bounded message: an answer that is not a HealthResult, or
// names another status, or an error, is unhealthy and the message says
// why.
func TestHealthMalformedAnswers(t *testing.T) {
	long := strings.Repeat("ü", envelope.MaxHealthMessage) // 2 KiB
	cases := []struct {
		name    string
		answer  func(c *envelope.Conn, m *envelope.Envelope)
		status  envelope.HealthStatus
		message string
	}{
		{"not an object", func(c *envelope.Conn, m *envelope.Envelope) { _ = c.Reply(m.ID, "ok") },
			envelope.Unhealthy, "malformed answer to $/health: json: cannot unmarshal string into Go value of type envelope.HealthResult"},
		{"null", func(c *envelope.Conn, m *envelope.Envelope) { _ = c.Reply(m.ID, nil) },
			envelope.Unhealthy, `malformed answer to $/health: status "" is not "healthy", "degraded" or "unhealthy"`},
		{"another status", func(c *envelope.Conn, m *envelope.Envelope) {
			_ = c.Reply(m.ID, map[string]any{"status": "fine", "message": "all good"})
		}, envelope.Unhealthy, `malformed answer to $/health: status "fine" is not "healthy", "degraded" or "unhealthy"`},
		{"a status of another type", func(c *envelope.Conn, m *envelope.Envelope) { _ = c.Reply(m.ID, map[string]any{"status": 1}) },
			envelope.Unhealthy, "malformed answer to $/health: json: cannot unmarshal number into Go struct field HealthResult.status of type envelope.HealthStatus"},
		{"an error", func(c *envelope.Conn, m *envelope.Envelope) {
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: $/health"))
		}, envelope.Unhealthy, "$/health answered error -32601: method not found: $/health"},
		{"a method error", func(c *envelope.Conn, m *envelope.Envelope) {
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodError, "queue backed up"))
		}, envelope.Unhealthy, "queue backed up"},
		{"degraded", func(c *envelope.Conn, m *envelope.Envelope) {
			_ = c.Reply(m.ID, envelope.HealthResult{Status: envelope.Degraded, Message: "one replica"})
		}, envelope.Degraded, "one replica"},
		{"a long message", func(c *envelope.Conn, m *envelope.Envelope) {
			_ = c.Reply(m.ID, envelope.HealthResult{Status: envelope.Healthy, Message: long})
		}, envelope.Healthy, strings.Repeat("ü", (envelope.MaxHealthMessage-len("…"))/2) + "…"},
	}
	h := newHost(t, "tcp", socket.Config{HealthInterval: time.Hour})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-")
			dialHealthPeer(t, h, name, envelope.Protocol2, healthCap, tc.answer)
			got := waitHealth(t, h.s, name, tc.status, tc.message)
			assert.LessOrEqual(t, len(got.Message), envelope.MaxHealthMessage)
			assert.True(t, utf8.ValidString(got.Message))
			assert.True(t, got.Checks)
		})
	}
}

// The capability counts only as written, "health": true, and only in
// protocol 2: a protocol 1 plugin, or one that says anything else, is not
// checked.
func TestHealthCapability(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HealthInterval: time.Millisecond})
	healthy := func(c *envelope.Conn, m *envelope.Envelope) {
		_ = c.Reply(m.ID, envelope.HealthResult{Status: envelope.Healthy})
	}
	checked := dialHealthPeer(t, h, "two", envelope.Protocol2, healthCap, healthy)
	unchecked := map[string]*healthPeer{
		"one":    dialHealthPeer(t, h, "one", 0, healthCap, healthy),
		"string": dialHealthPeer(t, h, "string", envelope.Protocol2, map[string]json.RawMessage{"health": json.RawMessage(`"true"`)}, healthy),
		"case":   dialHealthPeer(t, h, "case", envelope.Protocol2, map[string]json.RawMessage{"Health": json.RawMessage(`true`)}, healthy),
		"false":  dialHealthPeer(t, h, "false", envelope.Protocol2, map[string]json.RawMessage{"health": json.RawMessage(`false`), "other": json.RawMessage(`{"health":true}`)}, healthy),
	}
	require.Eventually(t, func() bool { return checked.health.Load() >= 3 }, 10*time.Second, time.Millisecond)
	got, _ := h.s.Health("two")
	assert.Equal(t, envelope.Healthy, got.Status)
	for name, rp := range unchecked {
		got, ok := h.s.Health(name)
		require.True(t, ok, name)
		assert.False(t, got.Checks, name)
		assert.Equal(t, socket.HealthUnknown, got.Status, name)
		assert.Zero(t, rp.health.Load(), "%s got a $/health", name)
	}
}

// A check in flight when the plugin goes is abandoned, and its timer
// stopped: nothing of the checks outlives the connection. Then the
// plugin's health is no longer reported. A check that hangs does not keep
// an unplugged plugin from leaving in good order.
func TestHealthStopsAtDisconnect(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	for _, how := range []string{"unplug", "cut"} {
		t.Run(how, func(t *testing.T) {
			log := new(testplugins.Log)
			h := newHost(t, "tcp", socket.Config{HealthInterval: time.Millisecond, HealthTimeout: time.Hour,
				Logger: slog.New(slog.NewJSONHandler(log, nil))})
			gone := h.callbacks()
			p := newHanging()
			st := h.plug(p, "hanging")
			recv(t, p.entered, "a check in flight")
			if how == "unplug" {
				h.s.Unplug("", st.name)
			} else {
				require.NoError(t, st.conn.Close())
			}
			disconnect := recv(t, gone.ch, "the disconnect")
			if how == "unplug" {
				// The check in flight holds no stop up: the plugin ends it
				// as the stop begins, well within the shutdown timeout.
				assert.Equal(t, st.name+" graceful=true", disconnect)
			} else {
				assert.Equal(t, st.name+" graceful=false", disconnect)
			}
			_, ok := h.s.Health(st.name)
			assert.False(t, ok)
			assert.Empty(t, h.s.Healths())
			statuses, _ := healthChanges(t, log, st.name)
			assert.Empty(t, statuses, "a check given up as the plugin goes says nothing of its health")
			require.NoError(t, h.s.Shutdown(""))
			h.wg.Wait()
		})
	}
	goleak.VerifyNone(t, ignore)
}

// Checks of a plugin never overlap, however short the interval: the next
// is sent an interval after the last one was answered. The plugin answers
// each a moment late, and notes any that arrives meanwhile.
func TestHealthChecksDoNotOverlap(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{HealthInterval: time.Microsecond})
	var pending atomic.Bool
	var count, overlaps atomic.Int64
	answer := func(c *envelope.Conn, m *envelope.Envelope) {
		if !pending.CompareAndSwap(false, true) {
			overlaps.Add(1)
		}
		time.AfterFunc(time.Millisecond, func() {
			count.Add(1)
			pending.Store(false)
			_ = c.Reply(m.ID, envelope.HealthResult{Status: envelope.Healthy})
		})
	}
	dialHealthPeer(t, h, "slow", envelope.Protocol2, healthCap, answer)
	require.Eventually(t, func() bool { return count.Load() >= 50 }, 10*time.Second, time.Millisecond)
	assert.Zero(t, overlaps.Load(), "a check was sent before the last was answered")
}
