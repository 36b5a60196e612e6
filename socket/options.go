package socket

import (
	"log/slog"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// Defaults for the settings options change.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultAsyncBuffer      = 4096
	DefaultAsyncWait        = time.Second
	DefaultCallTimeout      = 60 * time.Second
)

// Options configure a Socket. Pass them to Serve; they apply to the whole
// socket, and a later Serve's options are applied on top.
type Options interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	log              *slog.Logger
	sequencer        func(string) string
	attempts         uint
	maxFrame         int
	handshakeTimeout time.Duration
	shutdownTimeout  time.Duration
	writeTimeout     time.Duration
	asyncBuffer      int
	asyncWait        time.Duration
	callTimeout      time.Duration
	guards           // limits.go
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
		guards:           defaultGuards(),
	}
}

// WithKeySequencer lets a plugin whose name is taken in still: fn is
// applied to the name, then to its own result, up to attempts times, and
// the first free name is assigned. Without it a taken name is refused.
func WithKeySequencer(fn func(name string) string, attempts uint) Options {
	return optionFunc(func(c *config) { c.sequencer, c.attempts = fn, attempts })
}

// WithLogger sets where the socket logs; slog.Default() otherwise.
func WithLogger(l *slog.Logger) Options {
	return optionFunc(func(c *config) {
		if l != nil {
			c.log = l
		}
	})
}

// WithMaxFrameSize bounds the size of one incoming message; a plugin that
// sends a larger one is disconnected. Default envelope.DefaultMaxFrameSize.
func WithMaxFrameSize(n int) Options {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxFrame = n
		}
	})
}

// WithHandshakeTimeout bounds how long a new connection may take to send
// its handshake. Default DefaultHandshakeTimeout.
func WithHandshakeTimeout(d time.Duration) Options {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.handshakeTimeout = d
		}
	})
}

// WithShutdownTimeout bounds how long Unplug and Shutdown wait for plugins
// to finish their calls and leave; past it they are cut off and reported
// as not graceful. Default DefaultShutdownTimeout.
func WithShutdownTimeout(d time.Duration) Options {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.shutdownTimeout = d
		}
	})
}

// WithWriteTimeout bounds each write to a plugin; a plugin that stops
// reading for longer is disconnected instead of stalling its callers.
// Default DefaultWriteTimeout; a negative value turns it off.
func WithWriteTimeout(d time.Duration) Options {
	return optionFunc(func(c *config) { c.writeTimeout = max(d, 0) })
}

// WithAsyncBuffer sets how many items Async can hold before the policy for
// a full queue applies (see Socket.Async). Default DefaultAsyncBuffer.
func WithAsyncBuffer(n int) Options {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.asyncBuffer = n
		}
	})
}

// WithCallTimeout bounds every call whose context has no deadline of its
// own: Call, Broadcast, and CallContext and BroadcastContext given such a
// context. A plugin that answers its heartbeat but never a call would
// otherwise hold its callers forever, the heartbeat being no help. A call
// that runs out of time fails with an error naming the timeout and
// wrapping context.DeadlineExceeded, and the plugin is told to cancel the
// method's context. A context's own deadline always wins, longer or
// shorter. Default DefaultCallTimeout; zero or less turns it off, leaving
// calls without a deadline to wait until answered or disconnected.
func WithCallTimeout(d time.Duration) Options {
	return optionFunc(func(c *config) { c.callTimeout = max(d, 0) })
}
