package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// Event types of the /api/events stream.
const (
	EventConnected    = "connected"    // a plugin finished its handshake
	EventDisconnected = "disconnected" // a plugin is gone; Graceful says how
	EventAsync        = "async"        // a plugin pushed data through its async hook
)

// subscriberBuffer is how many events one stream may fall behind before
// it starts losing them.
const subscriberBuffer = 256

// subscriber is one open /api/events stream. Its events are written by the
// request's own goroutine; Publish only queues them.
type subscriber struct {
	ch      chan []byte
	dropped atomic.Uint64 // lost since the stream was last told
}

// Event is one item of the /api/events stream, as Client.Events decodes
// it.
type Event struct {
	// Type is EventConnected, EventDisconnected or EventAsync.
	Type string `json:"-"`
	// Name is the plugin's name.
	Name string `json:"name"`
	// Payload is the plugin's info (name and version) for connected and
	// disconnected, and the data the plugin sent for async.
	Payload json.RawMessage `json:"payload"`
	// Graceful is set for disconnected: true when the plugin left in
	// good order, false for a crash or a dropped connection.
	Graceful bool `json:"graceful,omitempty"`
}

// eventData is the data line of an event; graceful appears only on
// disconnected events.
type eventData struct {
	Name     string `json:"name"`
	Payload  any    `json:"payload"`
	Graceful *bool  `json:"graceful,omitempty"`
}

// encodeEvent renders item as one server-sent event, ready to write.
func encodeEvent(item *envelope.AsyncData) ([]byte, error) {
	typ, data := EventAsync, eventData{Name: item.Name, Payload: item.Payload}
	switch p := item.Payload.(type) {
	case envelope.Connected:
		typ, data.Payload = EventConnected, p.Info.DeepCopy(false)
	case *envelope.Connected:
		typ, data.Payload = EventConnected, p.Info.DeepCopy(false)
	case envelope.Disconnected:
		typ, data.Payload, data.Graceful = EventDisconnected, p.Info.DeepCopy(false), &p.Graceful
	case *envelope.Disconnected:
		typ, data.Payload, data.Graceful = EventDisconnected, p.Info.DeepCopy(false), &p.Graceful
	}
	// json.Marshal writes no newlines, so the data fits one data: line.
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", typ, b), nil
}

// Publish sends item to every open /api/events stream. It never blocks: a
// stream that has fallen subscriberBuffer events behind loses the event,
// and is told how many it lost with a comment line before its next event.
// The host program owns the Socket's single Async reader and calls
// Publish for each item (or lets Forward do so). Publish after Close does
// nothing.
func (a *Server) Publish(item *envelope.AsyncData) {
	if item == nil {
		return
	}
	ev, err := encodeEvent(item)
	if err != nil {
		a.log.Warn("plugsock admin: cannot encode event; dropped", "plugin", item.Name, "err", err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	for sub := range a.subs {
		select {
		case sub.ch <- ev:
		default:
			a.dropped.Add(1)
			if sub.dropped.Add(1) == 1 {
				a.log.Warn("plugsock admin: event stream is too slow; dropping events", "buffer", subscriberBuffer)
			}
		}
	}
}

// Forward reads the socket's async items and publishes each one until ctx
// ends (it returns ctx's error) or the socket is shut down and drained (it
// returns nil). It is for hosts that have no other use for Socket.Async:
// run it on a goroutine of the host's own. Only one goroutine may read a
// Socket's Async, so a host that reads it itself calls Publish instead.
func (a *Server) Forward(ctx context.Context) error {
	for {
		item, err := a.s.AsyncContext(ctx)
		if errors.Is(err, envelope.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		a.Publish(item)
	}
}

// Close ends every open event stream and refuses new ones with 503. Every
// other route keeps working. Call it before shutting down the http.Server
// (or register it with http.Server.RegisterOnShutdown), since event
// streams never end on their own. Close is idempotent.
func (a *Server) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.closed {
		a.closed = true
		close(a.done)
	}
}

// events streams server-sent events until the client goes away or Close.
func (a *Server) events(w http.ResponseWriter, r *http.Request) {
	sub := &subscriber{ch: make(chan []byte, subscriberBuffer)}
	a.mu.Lock()
	closed := a.closed
	if !closed {
		a.subs[sub] = struct{}{}
	}
	a.mu.Unlock()
	if closed {
		a.fail(w, r, http.StatusServiceUnavailable, 0, "event streams are closed")
		return
	}
	defer func() {
		a.mu.Lock()
		delete(a.subs, sub)
		a.mu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // keep reverse proxies from holding events back
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	// A stream outlives the http.Server's WriteTimeout, which bounds one
	// answer. Instead each write gets its own deadline, so a client that
	// stops reading is dropped instead of holding this goroutine; the
	// connection may serve other requests afterwards, so the deadline is
	// lifted on the way out.
	writeTimeout := max(2*a.heartbeat, 10*time.Second)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := w.Write(b)
		return err == nil
	}
	// Events are lost only while the queue is full, so the gap lies after
	// everything queued by then: the stream is told once it has caught up.
	tellDropped := func() bool {
		if n := sub.dropped.Swap(0); n > 0 {
			return write(fmt.Appendf(nil, ": dropped %d events: this stream fell behind\n\n", n))
		}
		return true
	}
	// The first line tells the client it is subscribed: no event
	// published after it arrives is missed.
	if !write([]byte(": subscribed\n\n")) {
		return
	}
	if err := rc.Flush(); err != nil {
		a.log.Warn("plugsock admin: event stream cannot be flushed", "err", err)
		return
	}
	heartbeat := time.NewTicker(a.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.done:
			return
		case ev := <-sub.ch:
			ok := write(ev)
			// Write whatever else is waiting before flushing once.
			for more := true; ok && more; {
				select {
				case ev := <-sub.ch:
					ok = write(ev)
				default:
					more = false
				}
			}
			if !ok || !tellDropped() {
				return
			}
		case <-heartbeat.C:
			if !tellDropped() || !write([]byte(": heartbeat\n\n")) {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
