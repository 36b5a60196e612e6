package mcpplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugsock/plugsock/internal/backoff"
	"github.com/plugsock/plugsock/socket"
)

// Remote is an MCP server reached by URL and plugged into a socket as a
// plugin (Dial). Its methods are safe for concurrent use.
type Remote struct {
	url   string
	cfg   *settings
	sock  *socket.Socket
	leave chan struct{} // closed by Close
	once  sync.Once
	done  chan struct{} // closed when the plugin has ended for good

	mu   sync.Mutex
	name string
	err  error // why it ended; set before done closes
}

// Dial connects to the MCP server at url over MCP's Streamable HTTP
// transport (the go-sdk's StreamableClientTransport), and plugs it into s
// as a plugin whose functions are the server's tools, as Launch does for
// a server it starts. It returns once the plugin has handshaken, or the
// error of the first attempt (no retry): the server cannot be reached,
// does not initialize or list its tools within cfg.Timeout, or the socket
// refuses the handshake.
//
// From then on the plugin keeps itself connected, on a goroutine of its
// own, until ctx ends or Close is called (either leaves the socket in good
// order), or the socket stops it (Unplug, or Shutdown), which is for
// good: it does not come back. When the server's
// session ends (the server went away, restarted and forgot the session,
// or its HTTP stream failed past the go-sdk's retries), the plugin leaves
// the socket, as a crashed plugin does (not gracefully), and Dial's
// goroutine connects to the server again, with a new session, after
// cfg.RetryBackoff, doubling up to cfg.RetryMaxDelay, with jitter, for as
// long as it takes; once it is back the plugin handshakes again with the
// tools as they are then. Each response body, but for event streams,
// whose events are bounded instead, is bounded by cfg.MaxMessageSize.
func Dial(ctx context.Context, s *socket.Socket, url string, cfg Config) (*Remote, error) {
	set := cfg.settings(nil)
	set.Logger = set.Logger.With("url", url)
	r := &Remote{url: url, cfg: set, sock: s, leave: make(chan struct{}), done: make(chan struct{})}
	srv, err := r.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugsock: MCP server %s: %w", url, err)
	}
	first := make(chan error, 1)
	// The end of ctx is a Close, but for what Err says.
	stop := context.AfterFunc(ctx, func() { r.once.Do(func() { close(r.leave) }) })
	go func() {
		defer stop()
		r.run(ctx, srv, first)
	}()
	if err := <-first; err != nil {
		<-r.done
		return nil, fmt.Errorf("plugsock: MCP server %s: %w", url, err)
	}
	return r, nil
}

// Name is the name the socket last assigned the plugin.
func (r *Remote) Name() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.name
}

// Close unplugs the plugin, in good order (the calls in flight get
// Config.LeaveTimeout to finish), ends its session with the server and
// its goroutine, and returns once they have.
func (r *Remote) Close() {
	r.once.Do(func() { close(r.leave) })
	<-r.done
}

// Done is closed once the plugin has ended for good: closed, stopped by
// the socket, or its Dial's ctx ended. Err then says why.
func (r *Remote) Done() <-chan struct{} { return r.done }

// Err is nil while the plugin runs and after Close; once it has ended
// otherwise, it says why: errors.Is(err, socket.ErrShutdown) when the
// socket unplugged it or shut down, ctx's error when Dial's ctx ended.
func (r *Remote) Err() error {
	select {
	case <-r.done:
	default:
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// connect starts a session with the server.
func (r *Remote) connect(ctx context.Context) (*server, error) {
	t := &mcp.StreamableClientTransport{Endpoint: r.url, HTTPClient: limitedClient(r.cfg.HTTPClient, int64(r.cfg.MaxMessageSize)),
		MaxEventSize: r.cfg.MaxMessageSize}
	return connect(ctx, t, r.cfg)
}

// run keeps the plugin connected, server session after server session,
// until it ends for good; first hears how the first handshake went.
func (r *Remote) run(ctx context.Context, srv *server, first chan<- error) {
	defer close(r.done)
	connected := false
	onConnect := func(name string) {
		r.mu.Lock()
		r.name = name
		r.mu.Unlock()
		if !connected {
			connected = true
			first <- nil
		}
	}
	for attempt := 0; ; {
		// Not ctx, whose end closes leave: the plugin then leaves in good
		// order instead of being cut off.
		err := srv.serve(context.WithoutCancel(ctx), r.sock.Pipe, "", r.leave, onConnect)
		srv.close()
		switch {
		case !connected:
			first <- err
			return
		case errors.Is(err, errLeft):
			if ctx.Err() != nil {
				r.end(ctx.Err())
			}
			return
		case errors.Is(err, errStopped) || errors.Is(err, socket.ErrShutdown):
			r.end(fmt.Errorf("plugsock: MCP server %s: %w", r.url, socket.ErrShutdown))
			return
		case ctx.Err() != nil:
			r.end(ctx.Err())
			return
		}
		r.cfg.Logger.Warn("plugsock: MCP server lost; reconnecting", "plugin", r.Name(), "err", err)
		for srv = nil; srv == nil; attempt++ {
			t := time.NewTimer(backoff.Delay(attempt, r.cfg.RetryBackoff, r.cfg.RetryMaxDelay))
			select {
			case <-t.C:
			case <-r.leave:
				t.Stop()
				if ctx.Err() != nil {
					r.end(ctx.Err())
				}
				return
			}
			if srv, err = r.connect(ctx); err != nil {
				r.cfg.Logger.Warn("plugsock: MCP server still unreachable", "plugin", r.Name(), "attempt", attempt+1, "err", err)
			}
		}
		attempt = 0
	}
}

func (r *Remote) end(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// limitedClient is base (http.DefaultClient when nil) with every response
// body but an event stream's bounded by max bytes: the go-sdk reads a JSON
// body whole.
func limitedClient(base *http.Client, max int64) *http.Client {
	if base == nil {
		base = http.DefaultClient
	}
	c := *base
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = limitTransport{rt: rt, max: max}
	return &c
}

type limitTransport struct {
	rt  http.RoundTripper
	max int64
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = &limitedBody{ReadCloser: resp.Body, left: t.max}
	}
	return resp, nil
}

// errTooLarge is the error of reading a response body past the limit.
var errTooLarge = errors.New("response body larger than Config.MaxMessageSize")

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more tells a body that goes on
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return n, errTooLarge
	}
	return n, err
}
