package admin

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of the http.Server that HTTPServer returns. A host that builds its
// own server for the admin API should use the same: without them, slow or
// idle clients hold connections, and the goroutines behind them, forever.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	// Calls and event streams lift it once the body is read: it bounds
	// the client, not the plugin's work.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds writing an answer. A call's answer gets
	// it from when the plugin has answered; an event stream instead gives
	// each write its own deadline.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxHeaderBytes bounds a request's headers (net/http's own
	// default is 1 MiB); the API needs a few hundred bytes.
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultMaxConns is how many connections LimitListener lets
	// plugsock serve hold open at once.
	DefaultMaxConns = 64
)

// HTTPServer returns an http.Server that serves a with the limits above
// and ends a's event streams when it is shut down (RegisterOnShutdown).
// Set ErrorLog and any other field before serving; wrap the listener in
// LimitListener to cap connections.
func (a *Server) HTTPServer() *http.Server {
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(a.Close)
	return srv
}

// LimitListener returns a Listener that holds at most n connections from l
// open at once. A connection beyond that is answered "503 Service
// Unavailable" and closed at once, rather than left waiting in the
// kernel's queue, so a client learns why. n < 1 means 1.
func LimitListener(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, slots: make(chan struct{}, max(n, 1))}
}

type limitListener struct {
	net.Listener
	slots chan struct{} // one token per open connection
}

// busyAnswer is written to a connection refused for want of a slot.
var busyAnswer = func() []byte {
	body := `{"error":{"code":0,"message":"the admin server has too many connections open; retry shortly"}}` + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"+
		"Connection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		// A new connection's send buffer takes these few bytes without
		// waiting; the deadline covers a peer that shrank it to nothing.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(busyAnswer)
		_ = c.Close()
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
