package socket

import (
	"crypto/sha256"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// applied is the settings a new socket ends up with after opts.
func applied(opts ...Options) config {
	c := defaults()
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// TestConfigZeroValueIsTheDefaults: Config{} changes nothing, so a socket
// served with it has exactly a zero Socket's settings, and a zero field of
// a later Config keeps what an earlier one set.
func TestConfigZeroValueIsTheDefaults(t *testing.T) {
	var zero Socket
	assert.Equal(t, defaults(), *zero.config(), "a zero Socket has the defaults")
	assert.Equal(t, defaults(), applied(Config{}))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var s Socket
	s.Serve(l, Config{})
	t.Cleanup(func() { _ = s.Shutdown("") })
	assert.Equal(t, *zero.config(), *s.settings(), "Serve with Config{} is Serve without options")

	set := Config{
		MaxFrameSize: 1 << 10, HandshakeTimeout: time.Second, ShutdownTimeout: 2 * time.Second,
		WriteTimeout: 3 * time.Second, CallTimeout: 4 * time.Second,
		HeartbeatInterval: 5 * time.Second, HeartbeatMisses: 6, MaxInFlight: 7, MaxPlugins: 8,
		Token: "t", Validation: true, AsyncBuffer: 9, AsyncBytes: 10,
	}
	assert.Equal(t, applied(set), applied(set, Config{}), "zero fields keep what an earlier Config set")
}

// TestConfigFields: each field sets its setting; zero or less, for one
// that cannot be turned off, is the default; negative, for one that can,
// turns it off.
func TestConfigFields(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	seq := func(name string) string { return name + "-1" }
	sum := sha256.Sum256([]byte("s3cret"))
	d := defaults()
	for _, tc := range []struct {
		name string
		cfg  Config
		got  func(c config) any
		want any
	}{
		{"Logger", Config{Logger: log}, func(c config) any { return c.log }, log},
		{"MaxFrameSize", Config{MaxFrameSize: 100}, func(c config) any { return c.maxFrame }, 100},
		{"MaxFrameSize negative", Config{MaxFrameSize: -1}, func(c config) any { return c.maxFrame }, envelope.DefaultMaxFrameSize},
		{"HandshakeTimeout", Config{HandshakeTimeout: time.Second}, func(c config) any { return c.handshakeTimeout }, time.Second},
		{"HandshakeTimeout negative", Config{HandshakeTimeout: -1}, func(c config) any { return c.handshakeTimeout }, DefaultHandshakeTimeout},
		{"ShutdownTimeout", Config{ShutdownTimeout: time.Second}, func(c config) any { return c.shutdownTimeout }, time.Second},
		{"ShutdownTimeout negative", Config{ShutdownTimeout: -1}, func(c config) any { return c.shutdownTimeout }, DefaultShutdownTimeout},
		{"WriteTimeout", Config{WriteTimeout: time.Second}, func(c config) any { return c.writeTimeout }, time.Second},
		{"WriteTimeout off", Config{WriteTimeout: -1}, func(c config) any { return c.writeTimeout }, time.Duration(0)},
		{"CallTimeout", Config{CallTimeout: time.Second}, func(c config) any { return c.callTimeout }, time.Second},
		{"CallTimeout off", Config{CallTimeout: -1}, func(c config) any { return c.callTimeout }, time.Duration(0)},
		{"HeartbeatInterval", Config{HeartbeatInterval: time.Second}, func(c config) any { return [2]any{c.heartbeat, c.misses} }, [2]any{time.Second, DefaultHeartbeatMisses}},
		{"HeartbeatInterval off", Config{HeartbeatInterval: -1}, func(c config) any { return c.heartbeat }, time.Duration(0)},
		{"HeartbeatMisses", Config{HeartbeatMisses: 2}, func(c config) any { return [2]any{c.heartbeat, c.misses} }, [2]any{DefaultHeartbeatInterval, 2}},
		{"HeartbeatMisses negative", Config{HeartbeatMisses: -1}, func(c config) any { return c.misses }, DefaultHeartbeatMisses},
		{"MaxInFlight", Config{MaxInFlight: 3}, func(c config) any { return c.maxInFlight }, 3},
		{"MaxInFlight off", Config{MaxInFlight: -1}, func(c config) any { return c.maxInFlight }, 0},
		{"MaxPlugins", Config{MaxPlugins: 3}, func(c config) any { return c.maxPlugins }, 3},
		{"MaxPlugins off", Config{MaxPlugins: -1}, func(c config) any { return c.maxPlugins }, 0},
		{"Token", Config{Token: "s3cret"}, func(c config) any { return [2]any{*c.token, c.tokenText} }, [2]any{sum, "s3cret"}},
		{"Validation", Config{Validation: true}, func(c config) any { return c.validate }, true},
		{"AsyncBuffer", Config{AsyncBuffer: 3}, func(c config) any { return c.asyncBuffer }, 3},
		{"AsyncBuffer negative", Config{AsyncBuffer: -1}, func(c config) any { return c.asyncBuffer }, DefaultAsyncBuffer},
		{"AsyncBytes", Config{AsyncBytes: 3}, func(c config) any { return c.asyncBytes }, 3},
		{"AsyncBytes negative", Config{AsyncBytes: -1}, func(c config) any { return c.asyncBytes }, DefaultAsyncBytes},
		{"KeySequencer", Config{KeySequencer: seq, KeyAttempts: 3}, func(c config) any { return [2]any{c.sequencer("p"), c.attempts} }, [2]any{"p-1", uint(3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := applied(tc.cfg)
			assert.Equal(t, tc.want, tc.got(got))
			// Every other setting is left at its default.
			got.log, got.maxFrame, got.handshakeTimeout, got.shutdownTimeout = d.log, d.maxFrame, d.handshakeTimeout, d.shutdownTimeout
			got.writeTimeout, got.callTimeout, got.heartbeat, got.misses = d.writeTimeout, d.callTimeout, d.heartbeat, d.misses
			got.maxInFlight, got.maxPlugins, got.token, got.tokenText = d.maxInFlight, d.maxPlugins, d.token, d.tokenText
			got.validate, got.asyncBuffer, got.asyncBytes = d.validate, d.asyncBuffer, d.asyncBytes
			got.sequencer, got.attempts = nil, 0
			assert.Equal(t, d, got)
		})
	}
	// Turned off, a setting is turned on again by a later positive value.
	assert.Equal(t, time.Second, applied(Config{CallTimeout: -1}, Config{CallTimeout: time.Second}).callTimeout)
}

// TestWithKeySequencerIsAConfig: the original design's option is a
// Config with the two fields set.
func TestWithKeySequencerIsAConfig(t *testing.T) {
	seq := func(name string) string { return name + "x" }
	o, ok := WithKeySequencer(seq, 4).(Config)
	require.True(t, ok, "WithKeySequencer returns a Config")
	assert.Equal(t, "px", o.KeySequencer("p"))
	o.KeySequencer = nil
	assert.Equal(t, Config{KeyAttempts: 4}, o, "the two fields and nothing else")
}

// TestLaunchConfig: LaunchConfig{} is the defaults, and each field sets
// its setting.
func TestLaunchConfig(t *testing.T) {
	launch := func(opts ...LaunchOption) launchConfig {
		c := launchDefaults()
		for _, o := range opts {
			o.applyLaunch(&c)
		}
		return c
	}
	d := launchDefaults()
	assert.Equal(t, d, launch(LaunchConfig{}), "LaunchConfig{} is the defaults")
	assert.Equal(t, d, launch(LaunchConfig{RestartLimit: 0, RestartWindow: -1, RestartBackoff: -1, RestartMaxDelay: -1, StopGrace: -1, StartTimeout: -1}),
		"zero or less is the default, but for RestartLimit")

	for _, tc := range []struct {
		name string
		cfg  LaunchConfig
		edit func(c *launchConfig)
	}{
		{"Restart", LaunchConfig{Restart: RestartNever}, func(c *launchConfig) { c.policy = RestartNever }},
		{"RestartLimit", LaunchConfig{RestartLimit: 2, RestartWindow: time.Hour}, func(c *launchConfig) { c.limit, c.window = 2, time.Hour }},
		{"RestartLimit none", LaunchConfig{RestartLimit: -1}, func(c *launchConfig) { c.limit = 0 }},
		{"RestartBackoff", LaunchConfig{RestartBackoff: time.Second, RestartMaxDelay: time.Minute}, func(c *launchConfig) { c.firstDelay, c.maxDelay = time.Second, time.Minute }},
		{"RestartBackoff above the maximum", LaunchConfig{RestartBackoff: time.Hour}, func(c *launchConfig) { c.firstDelay, c.maxDelay = time.Hour, time.Hour }},
		{"StopGrace", LaunchConfig{StopGrace: time.Second}, func(c *launchConfig) { c.grace = time.Second }},
		{"StartTimeout", LaunchConfig{StartTimeout: time.Second}, func(c *launchConfig) { c.startTimeout = time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := launchDefaults()
			tc.edit(&want)
			assert.Equal(t, want, launch(tc.cfg))
			assert.Equal(t, want, launch(tc.cfg, LaunchConfig{}), "a later zero LaunchConfig keeps it")
		})
	}
}
