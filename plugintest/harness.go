package plugintest

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// DefaultCallTimeout bounds each call a Harness makes, so that a plugin
// that never answers fails the test instead of hanging it.
const DefaultCallTimeout = 10 * time.Second

// Harness is a socket with one Go plugin connected to it: what a plugin's
// author needs to call the plugin in unit tests exactly as a host would.
// Make one with New; it is torn down when the test ends.
type Harness struct {
	t       testing.TB
	s       *socket.Socket
	name    string
	timeout time.Duration

	stop      context.CancelFunc // ends the async pump
	asyncOnce sync.Once
	async     chan any
	wg        sync.WaitGroup // the plugin (over TCP) and the async pump
	closeOnce sync.Once
	closed    chan struct{}
}

// Option configures New: Config is the one there is.
type Option interface{ apply(*options) }

// Config holds the settings of New. Its zero value means every default: a
// field left zero keeps its default.
type Config struct {
	// Info is passed to the plugin's Start, as a plugin's main would pass
	// it: its name, version and refined descriptions.
	Info *envelope.PluginInfo

	// TCP connects the plugin over a loopback TCP connection, the way a
	// plugin in its own process connects, instead of the in-memory pipe of
	// Socket.Attach. The two behave the same; TCP adds real I/O.
	TCP bool

	// CallTimeout bounds each call; DefaultCallTimeout when zero or less.
	CallTimeout time.Duration

	// Socket is applied to the harness's socket, after the harness's own
	// logger: its zero fields leave the socket's defaults.
	Socket socket.Config

	// ContextKey is passed to Start: the plugin's methods then find the
	// trace id under it as well (see plugin.Plugin.Start). The plugin then
	// connects over TCP, as Socket.Attach takes no context key.
	ContextKey any

	// Services are registered on the socket as host services, each under
	// its key (Socket.RegisterName), before the plugin connects, so that
	// the plugin finds them in its handshake's answer and its methods can
	// call them (plugin.HostFrom). Registering one that cannot be a
	// service fails the test.
	Services map[string]any
}

type options struct {
	info     *envelope.PluginInfo
	tcp      bool
	timeout  time.Duration
	sockets  []socket.Options
	ctxKey   any
	services map[string]any
}

// apply overlays the settings c sets, those not left zero, on o.
func (c Config) apply(o *options) {
	if c.Info != nil {
		o.info = c.Info
	}
	if c.TCP {
		o.tcp = true
	}
	if c.CallTimeout > 0 {
		o.timeout = c.CallTimeout
	}
	// A zero socket.Config changes nothing, so it need not be told apart.
	o.sockets = append(o.sockets, c.Socket)
	if c.ContextKey != nil {
		o.ctxKey = c.ContextKey
	}
	for name, v := range c.Services {
		if o.services == nil {
			o.services = make(map[string]any)
		}
		o.services[name] = v
	}
}

// New connects the Go plugin v to a new socket and returns the harness,
// failing the test if v cannot be served (it has no callable methods, say)
// or is refused. The socket and the plugin log through t.Log. When the
// test ends the socket is shut down, and with it the plugin; no goroutine
// of either is left.
func New(t testing.TB, v any, opts ...Option) *Harness {
	t.Helper()
	o := options{timeout: DefaultCallTimeout}
	for _, opt := range opts {
		opt.apply(&o)
	}
	info := o.info
	if info == nil {
		info = &envelope.PluginInfo{}
	}
	tl := &testLog{t: t}
	log := slog.New(slog.NewTextHandler(tl, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := &Harness{t: t, s: new(socket.Socket), timeout: o.timeout, closed: make(chan struct{})}
	for name, v := range o.services {
		if err := h.s.RegisterName(name, v); err != nil {
			t.Fatalf("plugintest: %v", err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("plugintest: listening: %v", err)
	}
	h.s.Serve(l, append([]socket.Options{socket.Config{Logger: log}}, o.sockets...)...)
	t.Cleanup(func() {
		h.Close()
		tl.close()
	})

	if !o.tcp && o.ctxKey == nil {
		h.name, err = h.s.Attach(v, info)
		if err != nil {
			t.Fatalf("plugintest: attaching the plugin: %v", err)
		}
		return h
	}
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("plugintest: dialling the socket: %v", err)
	}
	connected := make(chan string, 1)
	failed := make(chan error, 1)
	p := &plugin.Plugin{Logger: log, OnConnect: func(name string) { connected <- name }}
	h.wg.Go(func() {
		if err := p.Start(v, info, conn, o.ctxKey); err != nil {
			failed <- err
		}
	})
	select {
	case h.name = <-connected:
	case err := <-failed:
		t.Fatalf("plugintest: starting the plugin: %v", err)
	}
	return h
}

// Name is the name the socket assigned the plugin.
func (h *Harness) Name() string { return h.name }

// Socket is the harness's socket, for what the Harness does not wrap.
func (h *Harness) Socket() *socket.Socket { return h.s }

// Info is what the plugin declared in its handshake, functions included,
// as the socket stores it.
func (h *Harness) Info() *envelope.PluginInfo { return h.s.PluginInfo(h.name) }

// Call calls method with in and decodes the answer into out (a pointer,
// or nil to discard it), bounded by the call timeout. Errors are what a
// host sees: an *envelope.Error with the method's own error text, or
// errors matching envelope.ErrMethodNotFound, envelope.ErrInvalidParams,
// envelope.ErrShutdown.
func (h *Harness) Call(method string, in, out any) error {
	return h.CallContext(context.Background(), method, in, out)
}

// CallContext is Call with a context: its trace id (envelope.WithTrace)
// reaches the method, and its end cancels the call.
func (h *Harness) CallContext(ctx context.Context, method string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	return h.s.CallContext(ctx, h.name, method, in, out)
}

// OpenStream opens the plugin's stream function method with in, as a host
// does (socket.Socket.OpenStream), and returns the host's end. ctx bounds
// the stream; the harness's call timeout does not, and the stream is
// cancelled when the harness is shut down.
func (h *Harness) OpenStream(ctx context.Context, method string, in any) (*envelope.Stream, error) {
	return h.s.OpenStream(ctx, h.name, method, in)
}

// Async returns the channel of what the plugin sends through its async
// hook, decoded as encoding/json decodes into an interface value (numbers
// are float64, objects map[string]any), in the order sent. It is closed
// when the harness is. Items are read from the socket only once Async has
// been called.
func (h *Harness) Async() <-chan any {
	h.asyncOnce.Do(func() {
		h.async = make(chan any)
		ctx, cancel := context.WithCancel(context.Background())
		h.stop = cancel
		h.wg.Go(func() {
			defer close(h.async)
			for {
				it, err := h.s.AsyncContext(ctx)
				if err != nil {
					return
				}
				switch it.Payload.(type) {
				case envelope.Connected, envelope.Disconnected:
					continue
				}
				select {
				case h.async <- it.Payload:
				case <-ctx.Done():
					return
				}
			}
		})
	})
	return h.async
}

// NextAsync waits for the next item from Async, failing the test if none
// comes within the call timeout.
func (h *Harness) NextAsync() any {
	h.t.Helper()
	select {
	case v, ok := <-h.Async():
		if !ok {
			h.t.Fatalf("plugintest: the harness is closed")
		}
		return v
	case <-time.After(h.timeout):
		h.t.Fatalf("plugintest: no async item from %s within %v", h.name, h.timeout)
		return nil
	}
}

// Unplug stops the plugin in good order, as a host's Unplug does, and
// reports whether it left gracefully: false too when it was not
// connected.
func (h *Harness) Unplug() (graceful bool) {
	done := make(chan bool, 1)
	h.s.RegisterCallback(func(info *envelope.PluginInfo, g bool) {
		if info.Name == h.name {
			select {
			case done <- g:
			default:
			}
		}
	})
	// Registered first, the callback hears of any disconnect after this.
	if h.s.PluginInfo(h.name) == nil {
		return false
	}
	h.s.Unplug("", h.name)
	// Unplug queues the disconnect callbacks without waiting for them.
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case g := <-done:
		return g
	case <-t.C:
		h.t.Errorf("plugintest: %s was unplugged, but its disconnect was not reported within %v", h.name, h.timeout)
		return false
	}
}

// Close shuts the socket down, which stops the plugin, and waits for
// everything the harness started. It is called when the test ends;
// calling it earlier, or again, is fine.
func (h *Harness) Close() {
	h.closeOnce.Do(func() {
		if err := h.s.Shutdown(""); err != nil {
			h.t.Errorf("plugintest: %v", err)
		}
		if h.stop != nil {
			h.stop()
		}
		h.wg.Wait()
		close(h.closed)
	})
}

// testLog writes log lines to t.Log until the test is over.
type testLog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}
