package envelope

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ConnOptions configure a Conn. The zero value is usable.
type ConnOptions struct {
	// Handler receives every request and notification, in the order they
	// arrived, on the connection's read loop, which reads nothing else
	// while it runs. It must not block unless it has called Detach first:
	// other work that takes time belongs on a goroutine the handler
	// starts. Once a Handler has detached, reading may move on while it
	// runs, and the Handler is called for the next messages meanwhile, so
	// a Handler that detaches must be safe for concurrent use. A request
	// must be answered with Reply or ReplyError. A nil Handler answers
	// requests with "method not found".
	Handler func(c *Conn, m *Envelope)
	// MaxFrameSize bounds an incoming frame's body; DefaultMaxFrameSize
	// when zero. A larger frame fails only its message: a request is
	// answered with CodeFrameTooLarge, a response fails its Call, anything
	// else is dropped. The peer's limit is taken to be the same, but at
	// least DefaultMaxFrameSize: a Call, Notify or Reply over it fails
	// with ErrFrameTooLarge before anything is written.
	MaxFrameSize int
	// WriteTimeout bounds each write when the connection supports write
	// deadlines (a net.Conn does). A peer that stops reading for longer is
	// cut off rather than allowed to block every writer. On a TCP or unix
	// socket the timeout starts when a write has to wait for room in the
	// kernel's buffer, and a write that the kernel takes at once has none;
	// on other streams a write is given at least three quarters of the
	// timeout, and at most all of it. Zero means none.
	WriteTimeout time.Duration
	// CallTimeout bounds the wait for the answer to a Call whose context
	// has no deadline of its own. When it passes, the Call ends as if its
	// context had: the peer is told to cancel, and Call returns
	// context.DeadlineExceeded. Zero or negative means none.
	CallTimeout time.Duration
	// Logger receives the reason a connection was closed for a protocol
	// violation, an error the peer reported with a null id (a warning),
	// and answers that came after their call gave up (at debug level).
	// slog.Default() when nil.
	Logger *slog.Logger
	// OnClose, when set, runs on the read loop once the connection has
	// ended and every pending Call has failed, just before Done closes.
	// err is what Err reports.
	OnClose func(err error)
}

// Conn multiplexes JSON-RPC 2.0 messages over one byte stream in both
// directions. One read loop parses each message once and routes it:
// responses to the Call waiting for them, everything else to the Handler.
// Writes go out whole, one frame per Write, under a mutex; on a TCP or
// unix stream socket, frames that wait for the writer go out together in
// one Write (see frameWriter).
//
// All methods are safe for concurrent use.
type Conn struct {
	rwc     io.ReadWriteCloser
	handler func(c *Conn, m *Envelope)
	onClose func(error)
	maxSize int
	wto     time.Duration
	cto     time.Duration // ConnOptions.CallTimeout
	log     *slog.Logger

	wmu    sync.Mutex
	gather *frameWriter // on byte streams, writes go through it instead (writer.go)
	quick  *quickWriter // on kernel sockets, the writes that need no deadline (quickwrite_unix.go)
	wdl    time.Time    // the write deadline last set; only the writer uses it

	proto atomic.Int32 // the protocol version spoken; zero means Protocol1

	mu       sync.Mutex
	seq      uint64
	hello    uint64 // the id of this side's $/handshake request, if it sent one
	pending  map[uint64]chan *Envelope
	progress map[uint64]ProgressFunc // the calls that asked for progress, by id
	notify   map[uint64]notice       // the calls sent with SendNotify, by id
	state    connState               // open, draining, closing, ended (state.go)

	fr      *FrameReader             // used only by the goroutine that is the reader
	handing atomic.Pointer[Envelope] // the message the reader is running the Handler for
	readers readers                  // the goroutines that take turns reading (handoff.go)
	heard   atomic.Uint64            // frames read: signs of life for a Heartbeat

	streams streamTable // the streams open on the connection (stream.go)

	done chan struct{}
}

// NewConn returns a Conn over rwc. Nothing is read until Start.
func NewConn(rwc io.ReadWriteCloser, opts ConnOptions) *Conn {
	c := &Conn{
		rwc:     rwc,
		handler: opts.Handler,
		onClose: opts.OnClose,
		maxSize: opts.MaxFrameSize,
		cto:     opts.CallTimeout,
		wto:     opts.WriteTimeout,
		log:     opts.Logger,
		pending: make(map[uint64]chan *Envelope),
		done:    make(chan struct{}),
	}
	if gathers(rwc) {
		c.gather = new(frameWriter)
		c.gather.init()
		c.quick = newQuickWriter(rwc)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.handler == nil {
		c.handler = func(c *Conn, m *Envelope) {
			if m.IsRequest() {
				_ = c.ReplyError(m.ID, Errorf(CodeMethodNotFound, "method not found: %s", m.Method))
			}
		}
	}
	return c
}

// SetProtocol sets the protocol version the connection speaks from now
// on: the one the handshake settled. A Conn starts with Protocol1. In
// Protocol2, Call and Notify send params as objects, with the call's
// metadata in params._meta, and RequestContext reads it. A Conn that
// calls $/handshake itself switches, as it reads the answer, to the
// protocol the answer names (at most Protocol), so that the very next
// message is read in it; the host's side, which answers, calls
// SetProtocol before it does.
func (c *Conn) SetProtocol(v int) { c.proto.Store(int32(v)) }

// Protocol returns the protocol version the connection speaks.
func (c *Conn) Protocol() int { return max(int(c.proto.Load()), Protocol1) }

// Start starts the read loop. It ends when the stream does, or on Close;
// then every pending Call fails and Done is closed.
func (c *Conn) Start() {
	c.fr = NewFrameReader(c.rwc, c.maxSize)
	c.readers.wg.Add(1)
	go c.run()
}

// Done is closed once the connection has ended and its read loop exited.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err reports why the connection ended: nil while it is open, io.EOF when
// the peer closed it between messages, ErrShutdown after Close, or the
// violation or I/O error that ended it.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.reason
}

// Close ends the connection. Calls still waiting fail with ErrShutdown.
func (c *Conn) Close() error {
	c.CloseWithError(ErrShutdown)
	return nil
}

// CloseWithError ends the connection and records reason as the cause that
// Err reports, unless a cause was already recorded.
func (c *Conn) CloseWithError(reason error) {
	c.closeWith(reason)
	_ = c.rwc.Close()
}

// readLoop reads and routes messages until the connection ends, when it
// returns false, or until the Handler detaches the goroutine it runs on
// (Detach), when it returns true once the Handler has returned: another
// goroutine is reading by then.
func (c *Conn) readLoop() (detached bool) {
	fr := c.fr
	var err error
	for {
		var body []byte
		var own bool
		if err = fr.await(); err != nil {
			break
		}
		if body, own, err = fr.readFrame(); err != nil {
			if tl, ok := err.(*tooLarge); ok && tl.err == nil {
				// Read through: the connection goes on (framelimit.go).
				c.oversized(tl)
				continue
			}
			if errors.Is(err, ErrProtocol) || errors.Is(err, ErrFrameTooLarge) {
				c.refuse(CodeParseError, err)
			}
			break
		}
		c.heard.Add(1)
		var m *Envelope
		if m, err = decode(body, own); err != nil {
			// Valid JSON that is not an acceptable message (a batch, a
			// wrong version) is an invalid request; anything else is
			// unparseable, as JSON-RPC 2.0 distinguishes them.
			code := int64(CodeInvalidRequest)
			if !json.Valid(body) {
				code = CodeParseError
			}
			c.refuse(code, err)
			break
		}
		if m.IsResponse() {
			if err = c.deliver(m); err != nil {
				c.refuse(CodeInvalidRequest, err)
				break
			}
		} else if m.Method == MethodProgress && m.IsNotification() {
			c.progressed(m)
		} else if isStreamMessage(m.Method) {
			c.streamMessage(m)
		} else {
			c.handing.Store(m)
			c.handler(c, m)
			if !c.handing.CompareAndSwap(m, nil) && !c.resume(m) {
				// The Handler detached, and reading has moved on to
				// another goroutine meanwhile.
				return true
			}
			if m.spent {
				m.recycle()
			}
		}
		if fr.r.Buffered() == 0 {
			// Nothing more has arrived: the next read will most likely
			// find nothing and park this goroutine. Let the goroutine
			// this message just woke (a caller waiting for an answer)
			// run first, so that it does not wait for that.
			runtime.Gosched()
		}
	}
	pending, notify := c.ended(err)
	_ = c.rwc.Close()
	for n, ch := range pending {
		ch <- nil
		notify[n].send()
	}
	c.endStreams()
	c.endReaders()
	if c.onClose != nil {
		c.onClose(c.Err())
	}
	close(c.done)
	return false
}

// refuse ends the connection for the protocol violation err and tells the
// peer why before hanging up; it may be a person writing a plugin by hand.
// The violation is recorded first so that a reply that cannot be written
// (the peer is often gone already) does not replace it as the reason Err
// reports.
func (c *Conn) refuse(code int64, err error) {
	if !c.violated(err) {
		// Closed on purpose already; the violation is an echo of that.
		return
	}
	c.log.Warn("plugsock: closing connection", "reason", err)
	_ = c.ReplyError(ID{}, &Error{Code: code, Message: err.Error()})
}

// deliver hands a response to the Call waiting for it. A late answer to a
// call that has given up is dropped; an answer to an id this side never
// sent is a protocol violation.
//
// This side's ids are the integers 1, 2, 3, ... A peer that reads them
// into a float may write them back as 3.0 or 3e0, so a numeric id is
// matched by its value, worked out exactly from its text; a string, a
// negative or fractional number, or a whole number above the last one
// sent, was never sent.
func (c *Conn) deliver(m *Envelope) error {
	if m.ID.IsZero() {
		// An error about a message of ours the peer could not read; it is
		// about to hang up.
		c.log.Warn("plugsock: peer reported an error", "code", m.Error.Code, "message", m.Error.Message)
		return nil
	}
	n, ok := m.ID.seq()
	c.mu.Lock()
	ch := c.pending[n]
	delete(c.pending, n)
	if c.progress != nil {
		// Progress reported after the answer is not the call's any more.
		delete(c.progress, n)
	}
	var nt notice
	notified := false
	if c.notify != nil {
		if nt, notified = c.notify[n]; notified {
			delete(c.notify, n)
		}
	}
	sent := c.seq
	hello := ch != nil && n == c.hello
	c.mu.Unlock()
	if hello && m.Result != nil {
		// The protocol changes with the message after this answer, which
		// this loop reads next: it cannot wait for the caller to switch.
		c.SetProtocol(answeredProtocol(m.Result))
	}
	switch {
	case !ok || n > sent:
		return fmt.Errorf("%w: response to id %s, which was never sent", ErrProtocol, truncate([]byte(m.ID.String())))
	case ch == nil && c.streamAnswered(n, m):
		// The end of a stream.
		return nil
	case ch == nil:
		// A late answer to a call that was cancelled or timed out.
		c.log.Debug("plugsock: response to a call no longer waiting", "id", n)
		return nil
	}
	ch <- m
	if notified {
		nt.send()
	}
	return nil
}

// closedErr is what calls get once the connection is gone.
func (c *Conn) closedErr() error {
	c.mu.Lock()
	r := c.state.reason
	c.mu.Unlock()
	switch {
	case r == nil || r == ErrShutdown:
		return ErrShutdown
	case errors.Is(r, io.EOF) || errors.Is(r, net.ErrClosed):
		return fmt.Errorf("%w: connection lost", ErrShutdown)
	default:
		return fmt.Errorf("%w: %w", ErrShutdown, r)
	}
}

// Call sends a request and waits for its answer, which it decodes into
// result (a pointer, or nil to discard it). The trace id in ctx
// (WithTrace) travels in the request's meta. When ctx ends first, Call
// sends $/cancelRequest for the request and returns ctx's error; a
// connection that ends first makes Call return an error wrapping
// ErrShutdown. An error answer is returned as an *Error.
//
// Requests are numbered 1, 2, 3, ... on each Conn, and no number is used
// twice. An answer is matched to its request by the number's value, so
// 3.0 and 3e0 answer request 3 too. An answer that arrives after Call has
// given up is dropped; an answer to an id never sent (a string, or a
// number that is not one of those) closes the connection as a protocol
// violation.
func (c *Conn) Call(ctx context.Context, method string, params, result any) error {
	p, err := c.send(ctx, method, params, true, notice{})
	if err != nil {
		return err
	}
	return p.Await(ctx, result)
}

// An AsyncCall is a request Send has written, whose answer Await waits
// for. It lets one goroutine have calls in flight on many connections at
// once, as a broadcast does, where Call would take a goroutine for each.
// The zero AsyncCall's Await returns ErrShutdown.
type AsyncCall struct {
	c  *Conn
	n  uint64
	ch chan *Envelope
	// deadline is the one the request carried, which tells the callee
	// giving up at it from the callee's own failure (timedOut).
	deadline time.Time
}

// Send is the first half of Call: it writes the request and returns.
// It waits for no other write: when one is under way, the request goes
// out on a goroutine of its own once that write is done, and Await waits
// for it too, so that a peer that stops reading holds up only its own
// calls. Every AsyncCall Send returns must be awaited, with the same ctx,
// or the call stays pending until the connection ends.
func (c *Conn) Send(ctx context.Context, method string, params any) (AsyncCall, error) {
	return c.send(ctx, method, params, false, notice{})
}

// SendNotify is Send that also sends tag on done once the call's answer
// has arrived, or the connection has ended without one, so that one
// goroutine can take the answers of calls on many connections in the
// order they come. A call that Await gives up on sends nothing. done must
// have room for every call that may still send on it: the connection's
// read loop waits for it.
func (c *Conn) SendNotify(ctx context.Context, method string, params any, done chan<- int, tag int) (AsyncCall, error) {
	return c.send(ctx, method, params, false, notice{done, tag})
}

// notice is where SendNotify's call is announced once it is answered.
type notice struct {
	done chan<- int
	tag  int
}

func (nt notice) send() {
	if nt.done != nil {
		nt.done <- nt.tag
	}
}

// send writes a request for Call (wait true: the frame joins the writes
// under way, and send returns once it is written), Send or SendNotify
// (nt.done set).
func (c *Conn) send(ctx context.Context, method string, params any, wait bool, nt notice) (AsyncCall, error) {
	if err := ctx.Err(); err != nil {
		return AsyncCall{}, err
	}
	ch := make(chan *Envelope, 1)
	c.mu.Lock()
	if !c.state.open() {
		c.mu.Unlock()
		return AsyncCall{}, c.closedErr()
	}
	c.seq++
	n := c.seq
	c.pending[n] = ch
	if nt.done != nil {
		if c.notify == nil {
			c.notify = make(map[uint64]notice)
		}
		c.notify[n] = nt
	}
	id := seqID(n)
	if method == MethodHandshake {
		c.hello = n
	}
	var md outMeta
	proto := c.Protocol()
	if proto >= Protocol2 && carriesMeta(method) {
		md = metaFor(ctx, c.cto)
		if fn := progressFrom(ctx); fn != nil {
			// The request's own id is its progress token: unique on the
			// connection, and what deliver finds it by.
			if c.progress == nil {
				c.progress = make(map[uint64]ProgressFunc)
			}
			c.progress[n] = fn
			md.token = id
		}
	}
	c.mu.Unlock()

	m := newMsg()
	var err error
	if proto >= Protocol2 {
		err = m.request2(id, method, params, &md)
	} else {
		err = m.request(id, method, params, TraceFrom(ctx))
	}
	if err == nil {
		err = c.sendable(m, "request", method)
	}
	if err == nil {
		wrote := true
		if wait {
			err = c.write(m.frame())
		} else {
			wrote, err = c.tryWrite(m.frame())
		}
		if !wrote {
			go func() {
				if c.write(m.frame()) != nil && c.forget(n) {
					ch <- nil // Await reports the connection's end
					nt.send()
				}
				m.free()
			}()
			return AsyncCall{c: c, n: n, ch: ch, deadline: md.deadline}, nil
		}
		if err != nil {
			err = c.closedErr()
		}
	}
	m.free()
	if err != nil {
		c.forget(n)
		return AsyncCall{}, err
	}
	return AsyncCall{c: c, n: n, ch: ch, deadline: md.deadline}, nil
}

// Await is the second half of Call: it waits for the answer to the
// request Send wrote and decodes it into result, as Call does. ctx must
// be the one given to Send. It may be called once.
func (p AsyncCall) Await(ctx context.Context, result any) error {
	c, ch := p.c, p.ch
	if c == nil {
		return ErrShutdown
	}
	var expired <-chan time.Time
	if c.cto > 0 {
		if _, ok := ctx.Deadline(); !ok {
			// A timer, not a context.WithTimeout, which cost eight
			// allocations a call where this costs none (callTimer).
			t, pooled := callTimer(c.cto)
			defer putCallTimer(t, pooled)
			expired = t.C
		}
	}
	if ctx.Done() == nil && expired == nil {
		// A context that never ends: a plain receive parks and wakes
		// for less than a select.
		return c.finish(<-ch, result)
	}
	var gaveUp error
	select {
	case r := <-ch:
		if timedOut(r, p.deadline) {
			// The caller's time is up as far as the callee is concerned:
			// it sees that as its own deadline passing, when it does.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-expired:
				return context.DeadlineExceeded
			}
		}
		return c.finish(r, result)
	case <-ctx.Done():
		gaveUp = ctx.Err()
	case <-expired:
		gaveUp = context.DeadlineExceeded
	}
	if c.forget(p.n) {
		_ = c.Notify(MethodCancel, CancelParams{ID: seqID(p.n)})
		return gaveUp
	}
	// The answer won the race; it is already in ch.
	if r := <-ch; !timedOut(r, p.deadline) {
		return c.finish(r, result)
	}
	return gaveUp
}

// callTimers keeps the timers of Await's call timeouts. A timer of
// the call's own is over 200 bytes, a seventh of what a small call
// allocates on its caller's side, and what a call allocates sets how
// often the collector runs. But not in a testing/synctest bubble: a timer
// made outside one keeps real time inside it, and one made inside must
// not be used outside.
var callTimers sync.Pool

// callTimer returns a timer set to fire after d, and whether it is to go
// back to callTimers.
func callTimer(d time.Duration) (*time.Timer, bool) {
	if fakeClock() {
		return time.NewTimer(d), false
	}
	if t, ok := callTimers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t, true
	}
	return time.NewTimer(d), true
}

// putCallTimer stops t and, when pooled, keeps it for another call. A
// stopped timer sends nothing afterwards (Go 1.23's timers); the drain is
// for a program that asks for the old ones with GODEBUG=asynctimerchan=1,
// whose stopped timer may have sent already.
func putCallTimer(t *time.Timer, pooled bool) {
	t.Stop()
	if !pooled {
		return
	}
	select {
	case <-t.C:
	default:
	}
	callTimers.Put(t)
}

// timedOut reports whether r is a callee's answer that it gave up at the
// deadline it was sent, which it finds a moment before the caller's timer
// does: the deadline travels truncated to the millisecond.
func timedOut(r *Envelope, deadline time.Time) bool {
	return r != nil && r.Error != nil && r.Error.Code == CodeRequestCancelled &&
		!deadline.IsZero() && time.Until(deadline) < time.Millisecond
}

// forget drops a pending call and reports whether it was still pending.
func (c *Conn) forget(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[id]; !ok {
		return false
	}
	delete(c.pending, id)
	delete(c.progress, id)
	delete(c.notify, id)
	return true
}

func (c *Conn) finish(r *Envelope, result any) error {
	if r == nil {
		return c.closedErr()
	}
	if r.Error != nil {
		return r.Error
	}
	// Nothing reads r once its result is decoded: an Unmarshaler copies
	// what it keeps, as encoding/json requires of it, and so do the
	// decoders of jsondec.go.
	defer r.recycle()
	if result == nil {
		return nil
	}
	if err := unmarshalValid(r.Result, result, r.valid); err != nil {
		return fmt.Errorf("decoding result: %w", err)
	}
	return nil
}

// Notify sends a notification.
func (c *Conn) Notify(method string, params any) error {
	m := newMsg()
	defer m.free()
	var err error
	if c.Protocol() >= Protocol2 {
		err = m.request2(ID{}, method, params, nil)
	} else {
		err = m.request(ID{}, method, params, "")
	}
	if err == nil {
		err = c.sendable(m, "notification", method)
	}
	if err != nil {
		return err
	}
	return c.write(m.frame())
}

// Reply answers the request with the given id with result. When result
// cannot be encoded the peer gets an internal error instead and Reply
// returns the encoding error.
func (c *Conn) Reply(id ID, result any) error {
	m := newMsg()
	defer m.free()
	if err := m.result(id, result); err != nil {
		_ = c.ReplyError(id, Errorf(CodeInternalError, "encoding result: %v", err))
		return fmt.Errorf("encoding result: %w", err)
	}
	if err := c.sendable(m, "result", ""); err != nil {
		_ = c.ReplyError(id, tooLargeError(err))
		return err
	}
	return c.write(m.frame())
}

// ReplyFirst answers the request with the given id with result, and runs
// first (when not nil) while no other message can be written: whatever
// first enables, such as calls to a peer that has just been admitted,
// cannot overtake this answer on the wire. first runs under the
// connection's write lock, so any lock it takes comes after that one: it
// must not write to c, and no goroutine may write to c while holding a
// lock first takes.
func (c *Conn) ReplyFirst(id ID, result any, first func()) error {
	m := newMsg()
	defer m.free()
	if err := m.result(id, result); err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	if err := c.sendable(m, "result", ""); err != nil {
		_ = c.ReplyError(id, tooLargeError(err))
		return err
	}
	return c.writeAfter(m.frame(), first)
}

// ReplyError answers the request with the given id with an error. The
// zero ID answers a message whose id could not be read.
func (c *Conn) ReplyError(id ID, e *Error) error {
	m := newMsg()
	defer m.free()
	m.error(id, e)
	if err := c.sendable(m, "error answer", ""); err != nil {
		m.b = m.b[:headroom]
		m.error(id, tooLargeError(err))
	}
	return c.write(m.frame())
}

// deadliner is what a net.Conn offers for write timeouts.
type deadliner interface{ SetWriteDeadline(time.Time) error }

func (c *Conn) write(b []byte) error { return c.writeAfter(b, nil) }

// writeAfter writes one whole frame, running first under the write lock.
func (c *Conn) writeAfter(b []byte, first func()) error {
	var err error
	if c.gather != nil {
		err = c.gather.write(b, first, c.writeRaw)
	} else {
		c.wmu.Lock()
		if first != nil {
			first()
		}
		err = c.writeRaw(b)
		c.wmu.Unlock()
	}
	return c.wrote(err)
}

// tryWrite writes b at once if no other write is under way or waiting
// for its turn, and reports whether it did.
func (c *Conn) tryWrite(b []byte) (bool, error) {
	if c.gather != nil {
		ok, err := c.gather.writeIfIdle(b, c.writeRaw)
		return ok, c.wrote(err)
	}
	if !c.wmu.TryLock() {
		return false, nil
	}
	err := c.writeRaw(b)
	c.wmu.Unlock()
	return true, c.wrote(err)
}

// wrote returns a write's error, after ending writing for good when
// there is one: a half-written frame leaves the stream unusable.
func (c *Conn) wrote(err error) error {
	if err != nil {
		c.writeFailed(fmt.Errorf("write: %w", err))
	}
	return err
}

// writeRaw writes whole frames; the caller lets one goroutine at a time in.
func (c *Conn) writeRaw(b []byte) error {
	if c.quick != nil {
		n, err := c.quick.write(b)
		if err != nil || n == len(b) {
			return err
		}
		return c.writeRest(b[n:])
	}
	if c.wto > 0 {
		if d, ok := c.rwc.(deadliner); ok {
			// The deadline is moved only once a quarter of the timeout
			// has gone by since it last was, so that each write has at
			// least three quarters of the timeout and at most all of
			// it: setting it on every write cost a call 2 % of its CPU
			// in timer updates (docs/performance.md, "Broadcast").
			if now := time.Now(); c.wdl.Sub(now) < c.wto-c.wto/4 {
				c.wdl = now.Add(c.wto)
				_ = d.SetWriteDeadline(c.wdl)
			}
		}
	}
	_, err := c.rwc.Write(b)
	return err
}

// writeRest writes the part of a frame that a kernel socket's full buffer
// did not take, waiting for room up to the write timeout, which starts
// now; the deadline is cleared once the rest is written, so that only a
// write that waits ever has one.
func (c *Conn) writeRest(b []byte) error {
	d := c.rwc.(deadliner)
	if c.wto > 0 {
		_ = d.SetWriteDeadline(time.Now().Add(c.wto))
	}
	_, err := c.rwc.Write(b)
	if c.wto > 0 && err == nil {
		_ = d.SetWriteDeadline(time.Time{})
	}
	return err
}

// writeQuick writes the frame b at once if it can without waiting: no
// other write is under way or waiting for its turn, and the connection is
// a kernel socket whose buffer takes b. It reports false, having written
// nothing, when it cannot. When the buffer took only part of b, it returns
// true and the rest, still holding the writer: the caller must hand the
// rest to finishQuick, which may wait.
func (c *Conn) writeQuick(b []byte) (ok bool, rest []byte) {
	if c.quick == nil || !c.gather.acquire() {
		return false, nil
	}
	n, err := c.quick.write(b)
	switch {
	case err == nil && n == 0:
		c.gather.release()
		return false, nil
	case err == nil && n < len(b):
		return true, b[n:]
	}
	c.gather.release()
	_ = c.wrote(err)
	return true, nil
}

// finishQuick writes what writeQuick left and lets the next write go.
func (c *Conn) finishQuick(rest []byte) {
	err := c.writeRest(rest)
	c.gather.release()
	_ = c.wrote(err)
}
