package socket

import (
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
)

// Defaults for the settings of Config.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultAsyncBuffer      = 4096
	DefaultAsyncWait        = time.Second
	DefaultCallTimeout      = 60 * time.Second
	DefaultHealthTimeout    = 5 * time.Second
	// DefaultRetentionInterval is how often retention is applied when
	// Config.RetentionAge or RetentionEvents is set (events.go).
	DefaultRetentionInterval = time.Minute
	// DefaultMaxSnapshotSize bounds a plugin's snapshot (state_snapshot.go).
	DefaultMaxSnapshotSize = eventlog.DefaultMaxEventSize
)

// Options configure a Socket: pass them to Serve. Config is the one to
// use; WithKeySequencer is shorthand for one.
type Options interface{ apply(*config) }

// Config holds a Socket's settings, given to Serve. Its zero value means
// every default: a field left zero keeps the setting as it was, which is
// the default on a new Socket. Where a setting can be turned off, a
// negative value turns it off. docs/security.md explains what each limit
// defends against.
type Config struct {
	// Logger is where the socket logs; slog.Default() when nil.
	Logger *slog.Logger

	// MaxFrameSize bounds the size of one message, incoming and outgoing.
	// Zero or less means envelope.DefaultMaxFrameSize (4 MiB). A message
	// over it costs only its call, never the connection: a call whose
	// request or answer is too large fails with an error that matches
	// envelope.ErrFrameTooLarge and names the limit, and the plugin's
	// next call goes through. Plugins are taken to have the same limit
	// (plugin.Plugin.MaxFrameSize), at least the default: raise both
	// alike for large payloads; a []byte grows by a third as base64, so
	// 64 MiB needs 128 MiB here (docs/protocol.md, "Framing").
	MaxFrameSize int

	// HandshakeTimeout bounds how long a new connection may take to send
	// its handshake. Zero or less means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// ShutdownTimeout bounds how long Unplug and Shutdown wait for plugins
	// to finish their calls and leave; past it they are cut off and
	// reported as not graceful. Zero or less means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// WriteTimeout bounds each write to a plugin; a plugin that stops
	// reading for longer is disconnected instead of stalling its callers.
	// It counts from when a write has to wait for the plugin to read
	// (envelope.ConnOptions.WriteTimeout). Zero means
	// DefaultWriteTimeout; a negative value turns it off.
	WriteTimeout time.Duration

	// CallTimeout bounds every call whose context has no deadline of its
	// own: Call, Broadcast, and CallContext and BroadcastContext given such
	// a context. A plugin that answers its heartbeat but never a call
	// would otherwise hold its callers forever, the heartbeat being no
	// help. A call that runs out of time fails with an error naming the
	// timeout and wrapping context.DeadlineExceeded, and the plugin is told
	// to cancel the method's context. A context's own deadline always
	// wins, longer or shorter. Zero means DefaultCallTimeout; a negative
	// value turns it off, leaving calls without a deadline to wait until
	// answered or disconnected.
	CallTimeout time.Duration

	// HeartbeatInterval and HeartbeatMisses set how the socket finds out
	// about a plugin that stops answering without hanging up (a frozen
	// process, a half-open TCP connection): after every interval in which
	// nothing came from the plugin it sends it a $/ping request, and when
	// misses intervals in a row pass without an answer, it closes the
	// connection. Calls waiting on the plugin then fail with an error
	// wrapping ErrShutdown and envelope.ErrUnresponsive, and the
	// disconnect is reported as not graceful. Waiting costs no goroutine
	// and no timer per plugin (envelope.StartHeartbeat).
	//
	// A zero interval means DefaultHeartbeatInterval and a negative one
	// turns heartbeats off; misses of zero or less mean
	// DefaultHeartbeatMisses.
	HeartbeatInterval time.Duration
	HeartbeatMisses   int

	// HealthInterval and HealthTimeout set how the socket checks the
	// health of plugins that have a health check (a Go plugin's Health
	// method; docs/protocol.md, "Health"): it sends each such plugin a
	// $/health request as it connects and then every interval after the
	// last check ended, and counts a check that gets no answer within the
	// timeout, an error answer or a malformed one as unhealthy, with a
	// message that says which. Socket.Health reports the result. Unlike
	// the heartbeat, an unhealthy plugin stays connected: what to do
	// about it is the application's call (a readiness probe, an alert).
	// Waiting costs no goroutine per plugin, only a timer.
	//
	// Checks are off until the application sets an interval, since only
	// it knows how often they are worth running; a negative interval
	// turns them off again. A timeout of zero or less means
	// DefaultHealthTimeout.
	HealthInterval time.Duration
	HealthTimeout  time.Duration

	// MaxInFlight bounds the calls to one plugin that may wait for an
	// answer at once (Call, CallContext and Broadcast together). A call
	// past the limit waits for room, in the order the calls came, for as
	// long as its context allows (the call timeout when it has no
	// deadline); one whose context ends first returns, without having
	// reached the plugin, an error wrapping both ErrOverloaded and the
	// context's error (context.DeadlineExceeded or context.Canceled). The
	// waiting calls are the callers' own goroutines, parked: the queue
	// costs the host nothing they did not already hold, and a plugin that
	// stops answering holds them no longer than their contexts do. Zero
	// means DefaultMaxInFlight; a negative value removes the limit.
	MaxInFlight int

	// StreamWindow is how many unsettled items a plugin may send each
	// stream the socket opens (OpenStream) before it must wait for the
	// host to settle some. Zero or less means
	// envelope.DefaultStreamWindow.
	StreamWindow int

	// MaxPlugins bounds the plugins connected at once. A plugin that
	// handshakes past the limit is refused with code
	// envelope.CodeOverloaded (its Start returns an error wrapping
	// ErrOverloaded) and the connection is closed. Zero means
	// DefaultMaxPlugins; a negative value removes the limit.
	MaxPlugins int

	// Token, when not empty, makes the socket require it in every
	// plugin's handshake (plugin.Plugin's Token field). A missing or wrong
	// token is refused with code envelope.CodeUnauthorized (the plugin's
	// Start returns an error wrapping envelope.ErrUnauthorized) and the
	// connection is closed. The comparison takes the same time whatever
	// the token sent, and the token never appears in a log line. Empty,
	// the default, requires none; a later Serve cannot take a token away.
	//
	// The token travels in the clear unless the listener encrypts it: over
	// a network, serve a tls.Listener (see docs/security.md).
	Token string

	// Validation makes the socket check every call's payload against the
	// input the plugin described in its handshake before sending it: the
	// function's inputSchema (JSON Schema 2020-12) when it sent one, else
	// its Entity. A payload that does not fit is refused without reaching
	// the plugin, with an error wrapping envelope.ErrInvalidParams and
	// typedesc.ErrInvalid that names what is wrong and what was expected:
	// for a schema, the JSON pointer of the member, as in
	// `/created_at: want an RFC 3339 date-time, got "yesterday"`. Methods
	// the plugin did not describe go out unchecked. The admin API, and so
	// the command line and the console, call through the socket and get
	// the same check, or none.
	//
	// It is off by default. A Go plugin's inputSchema says exactly what
	// encoding/json decodes, so the check refuses what the plugin would;
	// an Entity is stricter: a mandatory field that is missing is refused,
	// where the plugin would have taken it as its zero value. The check
	// costs one json.Marshal of the payload into bytes that are then sent
	// as they are, plus the validation of them (docs/security.md has the
	// figures). Without it the plugin still refuses a payload that does
	// not decode, with an invalid-params error that names the method and
	// the field.
	Validation bool

	// ValidateOutput makes the socket check every result of a function
	// that has an outputSchema against it. A result outside it is logged
	// (a warning naming the plugin, the method, the trace id and what is
	// wrong), counted in Stats.OutputInvalid, and returned to the caller
	// all the same: the plugin has answered, and the caller may be able
	// to use it. It is off by default; on, each such result is validated
	// before it is decoded.
	ValidateOutput bool

	// AsyncBuffer sets how many items Async can hold before the policy for
	// a full queue applies (see Socket.Async). Zero or less means
	// DefaultAsyncBuffer.
	AsyncBuffer int

	// AsyncBytes bounds the memory the items waiting in Async hold. A
	// plugin's item is kept as the JSON it arrived as, undecoded until
	// Async returns it, and counts as that JSON plus a fixed overhead per
	// item (about a hundred bytes, measured by the tests), so the bound is
	// memory and not only JSON: without it, a full queue of large items
	// could hold AsyncBuffer times the maximum frame size. An item larger
	// than the whole budget is still taken when no other data is queued,
	// so nothing is refused for its size alone. Past the bound the policy
	// for a full queue applies (see Socket.Async). Zero or less means
	// DefaultAsyncBytes.
	AsyncBytes int

	// KeySequencer lets a plugin whose name is taken in still: it is
	// applied to the name, then to its own result, up to KeyAttempts
	// times, and the first free name is assigned. Without it a taken name
	// is refused, and so it is with KeyAttempts zero.
	KeySequencer func(name string) string
	KeyAttempts  uint

	// PluginCalls lets protocol 2 plugins call one another through the
	// socket ($/call; plugin.Host.CallPlugin): it is asked for each such
	// call, with the calling plugin's assigned name, the assigned name of
	// the plugin the call would reach (a name@version or a plain name is
	// resolved first, as CallContext resolves it; the name as given when
	// it reaches none) and the method, and the call goes ahead only when
	// it returns true.
	// A refused call fails with an error matching envelope.ErrForbidden.
	// Nil, the default, refuses every one. It may be called concurrently.
	PluginCalls func(caller, callee, method string) bool

	// Configs are plugins' configurations, as JSON, by the name a plugin
	// asks for in its handshake. A protocol 2 plugin that declares a
	// configuration schema (a Go plugin's Configure method) is refused
	// when its configuration does not fit, and otherwise takes it before
	// its first call; with none held, it is checked as {} (see
	// docs/protocol.md, "Configuration"). Unlike the other settings,
	// configurations are the socket's, not a connection's: each entry
	// replaces that name's configuration for every handshake from now
	// on, an empty value removes it, and Socket.Configure replaces it
	// too. WithConfig is shorthand for one entry.
	Configs map[string]json.RawMessage

	// Observer, when set, is told about every call the socket makes to a
	// plugin's function and every request to a host service or $/call it
	// serves, as each starts and ends (see envelope.Observer): how a
	// tracer follows calls from the host into its plugins and back. The
	// context it returns for a call the socket makes is what the request
	// is sent with, so a W3C Trace Context it puts there reaches a
	// protocol 2 plugin. The module github.com/plugsock/plugsock/otel
	// gives one for OpenTelemetry. Nil, the default, observes nothing and
	// costs nothing. A plugin run with Attach is given it too.
	Observer envelope.Observer

	// Store is where the socket keeps its events, the committed offsets
	// of its subscriptions and its plugins' snapshots (Publish,
	// docs/protocol.md, "Events and state"): eventlog/bolt's for a host
	// whose events must survive it. Nil means one in memory, made for the
	// socket when its events are first used, which keeps nothing past the
	// process. The socket does not close a Store it is given. The first
	// Store a socket starts using stays its store: one given by a later
	// Serve is ignored, and logged.
	Store eventlog.Store

	// RetentionAge and RetentionEvents bound what each topic keeps: its
	// events younger than the age, and its latest RetentionEvents, which
	// ever keeps fewer. They are applied every RetentionInterval
	// (DefaultRetentionInterval when zero or less). A subscription that
	// had yet to take events retention drops is not skipped past them in
	// silence: it is delivered a gap notice first (an event of type
	// envelope.GapType naming the offsets lost), and the loss is logged.
	// Zero keeps events for ever; a negative value turns a bound off
	// again.
	RetentionAge      time.Duration
	RetentionEvents   int
	RetentionInterval time.Duration
	// RetentionBytes bounds each topic's bytes, as the sizes of its latest
	// events add up (eventlog.Event.Size); applied with the others, and
	// likewise zero for none, negative to turn it off again.
	RetentionBytes int64

	// EventPoll is how often each subscription looks in the Store for
	// events that other hosts sharing it appended (natsstore's JetStream:
	// several hosts, one log). Events published through this socket are
	// seen at once whatever it is. Zero means only those: right for a
	// store no other host writes to, such as eventlog/bolt's file.
	EventPoll time.Duration

	// SnapshotInterval is how often the socket asks each plugin that has
	// state (a Go plugin's Snapshot and Restore methods; capability
	// "state") for a snapshot, which it keeps in the Store, the latest
	// per plugin name, beside the one it always takes at Unplug. Before
	// each, the plugin's deliveries are paused until it has settled those
	// it holds, and its subscriptions' offsets are committed only once
	// the snapshot is stored, so that the state a plugin restores and the
	// events it is delivered after agree. Zero, the default, snapshots
	// only at Unplug and Shutdown; a negative value turns the interval off
	// again.
	SnapshotInterval time.Duration

	// MaxSnapshotSize bounds the snapshots kept, in bytes; a larger one
	// is refused, logged, and the previous one kept. Zero or less means
	// DefaultMaxSnapshotSize; a store may hold less.
	MaxSnapshotSize int

	// RestoreFailure says what becomes of a plugin whose restore fails
	// (it answers $/restore with an error, or none in time): refused, the
	// zero value, or started empty. Either way it is logged.
	RestoreFailure RestoreFailure
}

// apply overlays the settings c sets, those not left zero, on cfg.
func (c Config) apply(cfg *config) {
	if c.Logger != nil {
		cfg.log = c.Logger
	}
	if c.MaxFrameSize > 0 {
		cfg.maxFrame = c.MaxFrameSize
	}
	if c.HandshakeTimeout > 0 {
		cfg.handshakeTimeout = c.HandshakeTimeout
	}
	if c.ShutdownTimeout > 0 {
		cfg.shutdownTimeout = c.ShutdownTimeout
	}
	setOrOff(&cfg.writeTimeout, c.WriteTimeout)
	setOrOff(&cfg.callTimeout, c.CallTimeout)
	setOrOff(&cfg.heartbeat, c.HeartbeatInterval)
	if c.HeartbeatMisses > 0 {
		cfg.misses = c.HeartbeatMisses
	}
	setOrOff(&cfg.healthInterval, c.HealthInterval)
	if c.HealthTimeout > 0 {
		cfg.healthTimeout = c.HealthTimeout
	}
	setOrOff(&cfg.maxInFlight, c.MaxInFlight)
	setOrOff(&cfg.maxPlugins, c.MaxPlugins)
	if c.StreamWindow > 0 {
		cfg.streamWindow = c.StreamWindow
	}
	if c.Token != "" {
		sum := sha256.Sum256([]byte(c.Token))
		cfg.token, cfg.tokenText = &sum, c.Token
	}
	if c.Validation {
		cfg.validate = true
	}
	if c.ValidateOutput {
		cfg.validateOutput = true
	}
	if c.AsyncBuffer > 0 {
		cfg.asyncBuffer = c.AsyncBuffer
	}
	if c.AsyncBytes > 0 {
		cfg.asyncBytes = c.AsyncBytes
	}
	if c.KeySequencer != nil {
		cfg.sequencer, cfg.attempts = c.KeySequencer, c.KeyAttempts
	}
	if c.PluginCalls != nil {
		cfg.pluginCalls = c.PluginCalls
	}
	cfg.configs.apply(c.Configs)
	if c.Observer != nil {
		cfg.observer = c.Observer
	}
	if c.Store != nil {
		cfg.events.offer(c.Store) // events.go
	}
	setOrOff(&cfg.retentionAge, c.RetentionAge)
	setOrOff(&cfg.retentionEvents, c.RetentionEvents)
	setOrOff(&cfg.retentionBytes, c.RetentionBytes)
	if c.RetentionInterval > 0 {
		cfg.retentionInterval = c.RetentionInterval
	}
	setOrOff(&cfg.snapshotInterval, c.SnapshotInterval)
	if c.EventPoll > 0 {
		cfg.eventPoll = c.EventPoll
	}
	if c.MaxSnapshotSize > 0 {
		cfg.maxSnapshot = c.MaxSnapshotSize
	}
	if c.RestoreFailure != RestoreRefuse {
		cfg.restoreFailure = c.RestoreFailure
	}
}

// setOrOff sets a setting whose zero is off inside config from a Config
// field, where zero keeps it and a negative value turns it off.
func setOrOff[T int | int64 | time.Duration](dst *T, v T) {
	switch {
	case v > 0:
		*dst = v
	case v < 0:
		*dst = 0
	}
}

// config is the settings as the socket uses them: every default filled
// in, and zero meaning off where a setting can be off.
type config struct {
	log              *slog.Logger
	sequencer        func(string) string
	attempts         uint
	maxFrame         int
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration
	writeTimeout     time.Duration // zero: off
	asyncBuffer      int
	asyncWait        time.Duration
	callTimeout      time.Duration // zero: off
	healthInterval   time.Duration // zero: off (health.go)
	healthTimeout    time.Duration
	pluginCalls      func(caller, callee, method string) bool
	configs          *configStore // shared by every copy: the socket's (config.go)
	observer         envelope.Observer
	guards           // limits.go

	events            *eventsHub // shared by every copy: the socket's (events.go)
	retentionAge      time.Duration
	retentionEvents   int
	retentionBytes    int64
	retentionInterval time.Duration
	snapshotInterval  time.Duration // zero: off
	eventPoll         time.Duration // zero: off
	maxSnapshot       int
	restoreFailure    RestoreFailure
}

func defaults() config {
	return config{
		log:              slog.Default(),
		maxFrame:         envelope.DefaultMaxFrameSize,
		handshakeTimeout: DefaultHandshakeTimeout,
		shutdownTimeout:  DefaultShutdownTimeout,
		writeTimeout:     DefaultWriteTimeout,
		asyncBuffer:      DefaultAsyncBuffer,
		asyncWait:        DefaultAsyncWait,
		callTimeout:      DefaultCallTimeout,
		healthTimeout:    DefaultHealthTimeout,
		configs:          new(configStore),
		guards:           defaultGuards(),

		events:            new(eventsHub),
		retentionInterval: DefaultRetentionInterval,
		maxSnapshot:       DefaultMaxSnapshotSize,
	}
}

// WithKeySequencer is Config{KeySequencer: fn, KeyAttempts: attempts}:
// a plugin whose name is taken gets in still, under the first free name
// that applying fn to the name, then to its own result, up to attempts
// times, gives. Without it a taken name is refused.
func WithKeySequencer(fn func(name string) string, attempts uint) Options {
	return Config{KeySequencer: fn, KeyAttempts: attempts}
}
