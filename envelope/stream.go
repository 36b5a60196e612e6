package envelope

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/plugsock/plugsock/internal/jsonscan"
)

// Streams (protocol 2; docs/protocol.md, "Streams"): a call whose request
// carries params._meta.stream opens a stream, named by the request's id,
// which lives until the callee answers that request or either side
// cancels it. Items flow either way as $/stream/item notifications, each
// with a sequence number of its own direction; the receiver lets the
// sender have a window of unsettled items by granting credit
// ($/stream/credit), settles items by acknowledging or rejecting them
// ($/stream/ack), and either side may close its half ($/stream/close) or
// cancel the whole ($/stream/cancel).
//
// The contract of this file: the read loop routes stream messages here
// and never blocks on them, whatever a stream's application does; a
// stream's memory is bounded by its window on the receiving side and by
// maxTrack on the sending side, whatever the peer grants or sends; and
// every stream ends, with its unacknowledged items known, when its call
// is answered, when it is cancelled, or when the connection ends.

// Stream messages.
const (
	MethodStreamItem   = "$/stream/item"
	MethodStreamCredit = "$/stream/credit"
	MethodStreamAck    = "$/stream/ack"
	MethodStreamClose  = "$/stream/close"
	MethodStreamCancel = "$/stream/cancel"
)

// DefaultStreamWindow is the number of unsettled items a receiver lets a
// sender have when no other window is set.
const DefaultStreamWindow = 128

// maxTrack bounds what a sender keeps per stream: the items it has sent
// that are not yet settled, and the reports of settled ones that Acked has
// not yet returned. A peer that grants more credit than that, and never
// settles, makes Send wait rather than the sender's memory grow.
const maxTrack = 1024

// maxPending bounds the bytes of the items (and the close) Send has
// queued for the flusher and it has not yet written: past it Send waits,
// so that a peer that grants credit and stops reading holds the sender
// back, as a blocked write would, instead of its memory growing.
const maxPending = 256 << 10

// maxCredit bounds the credit a peer may grant in all: a larger grant is
// a violation, not an integer that wraps.
const maxCredit = 1 << 40

// Errors of streams.
var (
	// ErrStreamCancelled is what a stream's operations return, wrapped
	// with the reason, once either side cancelled it.
	ErrStreamCancelled = errors.New("stream cancelled")
	// ErrStreamClosed is what Send returns once this side has closed its
	// half, or the stream has ended.
	ErrStreamClosed = errors.New("stream closed for sending")
)

// Item is one item a stream delivered.
type Item struct {
	// Seq is the item's sequence number: 1 for the first item of its
	// direction, then one more for each.
	Seq uint64
	// Position is the sender's own position for the item, when it gave
	// one (SendAt), as the JSON it sent; nil otherwise.
	Position json.RawMessage
	// Value is the item, as JSON.
	Value json.RawMessage
}

// Decode decodes the item's value into v.
func (it Item) Decode(v any) error { return unmarshal(it.Value, v) }

// Ack is the outcome of one item this side sent: acknowledged, or
// rejected with the receiver's reason.
type Ack struct {
	Seq      uint64
	Position json.RawMessage // as given to SendAt; nil for Send
	Rejected bool
	Reason   string
}

// Pending is an item this side sent that has not been settled.
type Pending struct {
	Seq      uint64
	Position json.RawMessage
}

// StreamStats is a stream's state, for monitoring.
type StreamStats struct {
	ID       string    `json:"id"`       // the opening request's id, as JSON
	Method   string    `json:"method"`   // the function the stream belongs to
	Opened   time.Time `json:"opened"`   // when this side opened or accepted it
	Sent     uint64    `json:"sent"`     // items this side sent
	Acked    uint64    `json:"acked"`    // of those, acknowledged
	Rejected uint64    `json:"rejected"` // of those, rejected
	Received uint64    `json:"received"` // items this side received
	Settled  uint64    `json:"settled"`  // of those, acknowledged or rejected by this side
	Credit   int64     `json:"credit"`   // items this side may still send
	Window   int64     `json:"window"`   // items the peer may still send
}

// pending is an item sent and not yet settled.
type pendingItem struct {
	seq     uint64
	pos     json.RawMessage
	settled bool
}

// ackOp is an acknowledgement waiting to be written: every item up to
// through, or the one item seq, rejected when reject is set.
type ackOp struct {
	through, seq uint64
	reject       *string
}

// A Stream is one stream of a call, seen from one side: the opener's
// (OpenStream) or the callee's (AcceptStream). It has a sending half and
// a receiving half; which of them a function uses is its shape (a source
// only sends from the plugin, a sink only receives there, a processor
// does both).
//
// One goroutine at a time may Send and CloseSend, and one at a time may
// Recv; the other methods are safe for concurrent use with them and with
// each other.
type Stream struct {
	c      *Conn
	id     ID     // the opening request's id: the stream's name on the wire
	key    uint64 // the opener's request number; zero on the callee's side
	method string
	opened time.Time
	window int64 // the unsettled items this side lets the peer have

	onEnd func() // the callee's: cancels the method's context; the opener's: stops watching ctx

	wmu sync.Mutex // held while this stream's control messages are built and written (flush)

	mu sync.Mutex
	// The sending half.
	credit   int64
	sent     uint64
	txClosed bool
	pend     []byte        // item and close frames waiting for the flusher
	spare    []byte        // the buffer pend was, kept for the next batch
	track    []pendingItem // sent and not settled, in seq order, from thead on
	thead    int
	acked    uint64
	rejected uint64
	reports  []Ack // settled, not yet returned by Acked, from rhead on
	rhead    int
	reading  bool // Acked has been called: reports are never dropped
	// The receiving half.
	recvd    uint64
	granted  int64
	settled  int64
	through  uint64              // every item up to it is settled
	above    map[uint64]struct{} // settled items above through
	queue    []Item              // received, not yet returned by Recv, from qhead on
	qhead    int
	rxClosed bool
	ops      []ackOp
	cancel   []byte // a $/stream/cancel frame to write, once
	queued   bool   // in the connection's list of streams to flush
	// The end.
	err  error // why it ended: io.EOF when its call was answered with a result
	done chan struct{}

	txWait, rxWait, ackWait chan struct{}
}

// streamTable is a connection's streams, and those waiting to have their
// control messages written.
type streamTable struct {
	mu       sync.Mutex
	opened   map[uint64]*Stream // by the opener's request number
	accepted map[ID]*Stream     // by the request id, as the opener wrote it
	dirty    []*Stream
	kick     chan struct{}
	running  bool           // the flusher goroutine has been started
	closed   bool           // the connection has ended: no flusher starts
	flusher  sync.WaitGroup // Conn.Wait waits for it
}

// OpenStream opens a stream: it sends a request for method with params
// (in protocol 2's form, as for Call) whose _meta asks for a stream and
// grants the callee window items of credit (DefaultStreamWindow when zero
// or less). It returns as soon as the request is written. The stream
// ends when the callee answers (Err reports the answer's error, or nil),
// when either side cancels it, when the connection ends, or when ctx
// does, which cancels it with ctx's error as the reason. The call timeout
// does not apply: a stream lasts as long as ctx allows.
func (c *Conn) OpenStream(ctx context.Context, method string, params any, window int) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.Protocol() < Protocol2 {
		return nil, fmt.Errorf("%s: streams need protocol 2; the peer speaks protocol %d", method, c.Protocol())
	}
	if window <= 0 {
		window = DefaultStreamWindow
	}
	c.mu.Lock()
	if !c.state.open() {
		c.mu.Unlock()
		return nil, c.closedErr()
	}
	c.seq++
	n := c.seq
	c.mu.Unlock()
	s := newStream(c, seqID(n), method, int64(window))
	s.key = n
	s.granted = int64(window) // in the request
	md := metaFor(ctx, 0)
	md.window = int64(window)
	m := newMsg()
	defer m.free()
	if err := m.request2(s.id, method, params, &md); err != nil {
		return nil, err
	}
	// Registered before the request goes out, so that the first item the
	// callee sends finds it.
	c.addStream(s)
	if err := c.write(m.frame()); err != nil {
		err = c.closedErr()
		s.end(err, true)
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { s.Cancel(context.Cause(ctx).Error()) })
	s.mu.Lock()
	if s.err == nil {
		s.onEnd = func() { stop() }
	} else {
		stop()
	}
	s.mu.Unlock()
	return s, nil
}

// StreamRequested reports whether request m, read by RequestContext,
// asks to open a stream.
func (m *Envelope) StreamRequested() bool { return m.proto >= Protocol2 && m.meta2.Stream }

// AcceptStream accepts the stream that request m (read by RequestContext)
// opens, letting the opener have window unsettled items
// (DefaultStreamWindow when zero or less). It must be called on the read
// loop, in the Handler, before the Handler returns or detaches, so that
// the stream's messages that follow the request find it. onEnd, when not
// nil, runs once when the stream ends other than by Finish: cancelled by
// the opener, or by the connection's end; it should cancel the method's
// context. The callee answers m once its method has returned, after
// calling Finish.
func (c *Conn) AcceptStream(m *Envelope, window int, onEnd func()) (*Stream, error) {
	if !m.StreamRequested() {
		return nil, fmt.Errorf("%w: %s is a stream; open it with params._meta.stream", ErrInvalidParams, m.Method)
	}
	if window <= 0 {
		window = DefaultStreamWindow
	}
	s := newStream(c, m.ID, m.Method, int64(window))
	s.credit = m.meta2.Window
	s.onEnd = onEnd
	c.streams.mu.Lock()
	if _, dup := c.streams.accepted[m.ID]; dup {
		c.streams.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: a stream with id %s is open already", ErrInvalidParams, m.Method, m.ID)
	}
	c.streams.mu.Unlock()
	c.addStream(s)
	// The window, granted in a $/stream/credit (granted is still zero, so
	// the whole window is free), which the flusher writes.
	s.mu.Lock()
	s.dirty()
	s.mu.Unlock()
	return s, nil
}

func newStream(c *Conn, id ID, method string, window int64) *Stream {
	return &Stream{c: c, id: id, method: method, window: window, opened: time.Now(), done: make(chan struct{})}
}

// Method is the function the stream belongs to.
func (s *Stream) Method() string { return s.method }

// Done is closed once the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err reports why the stream ended: nil while it is open and when its
// call was answered with a result; the answer's error; an error wrapping
// ErrStreamCancelled, with the reason, when either side cancelled it; or
// one wrapping ErrShutdown when the connection ended first.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == io.EOF {
		return nil
	}
	return s.err
}

// Send sends v as the next item, waiting while the peer has granted no
// credit, and returns its sequence number. It returns once the item is
// queued for the connection's stream writer, which writes what queued
// meanwhile together; a connection that fails first leaves it unacked,
// and the stream ends.
func (s *Stream) Send(ctx context.Context, v any) (uint64, error) {
	return s.send(ctx, nil, v)
}

// SendAt is Send with a position of the sender's own, any JSON value (a
// Conduit record's position, say), which travels with the item and comes
// back with its Ack and in Unacked.
func (s *Stream) SendAt(ctx context.Context, position, v any) (uint64, error) {
	pos, err := json.Marshal(position)
	if err != nil {
		return 0, fmt.Errorf("encoding the position: %w", err)
	}
	return s.send(ctx, pos, v)
}

func (s *Stream) send(ctx context.Context, pos json.RawMessage, v any) (uint64, error) {
	m := newMsg()
	defer m.free()
	m.str(`{"jsonrpc":"2.0","method":"` + MethodStreamItem + `","params":{"stream":`)
	m.id(s.id)
	m.str(`,"item":`)
	if err := m.value(v); err != nil {
		return 0, fmt.Errorf("encoding the item: %w", err)
	}
	if pos != nil {
		m.str(`,"position":`)
		m.b = append(m.b, pos...)
	}
	// Refused here, before it has a sequence number, rather than dropped
	// by the peer as a notification over its limit, which would leave the
	// stream waiting for an item that never comes.
	if n, limit := len(m.b)-headroom+len(`,"seq":}}`)+20, s.c.sendLimit(); n > limit {
		return 0, fmt.Errorf("%w: stream item of %d bytes exceeds the limit of %d bytes (MaxFrameSize)", ErrFrameTooLarge, n, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.err != nil {
			return 0, s.sendErr()
		}
		if s.txClosed {
			return 0, fmt.Errorf("%w: this side closed it", ErrStreamClosed)
		}
		kept := len(s.track) - s.thead
		if s.reading {
			kept += len(s.reports) - s.rhead
		}
		if s.credit > 0 && kept < maxTrack && len(s.pend) < maxPending {
			break
		}
		if err := s.await(ctx, &s.txWait); err != nil {
			return 0, err
		}
	}
	s.credit--
	s.sent++
	seq := s.sent
	s.track = append(s.track, pendingItem{seq: seq, pos: pos})
	m.str(`,"seq":`)
	m.b = strconv.AppendUint(m.b, seq, 10)
	m.str(`}}`)
	// Written by the flusher, with what else is waiting: a sender that
	// keeps sending has its items go out many to a write, where a write
	// per item cost most of an item's time in system calls.
	s.pend = append(s.pend, m.frame()...)
	s.dirty()
	return seq, nil
}

func (s *Stream) sendErr() error {
	if s.err == io.EOF {
		return fmt.Errorf("%w: the stream has ended", ErrStreamClosed)
	}
	return s.err
}

// CloseSend closes this side's half: the peer's Recv returns io.EOF once
// it has the items sent before. Items sent still get their acks.
func (s *Stream) CloseSend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txClosed || s.err != nil {
		return nil
	}
	s.txClosed = true
	m := newMsg()
	defer m.free()
	m.str(`{"jsonrpc":"2.0","method":"` + MethodStreamClose + `","params":{"stream":`)
	m.id(s.id)
	m.str(`}}`)
	// After the items, in the same queue.
	s.pend = append(s.pend, m.frame()...)
	s.dirty()
	return nil
}

// Recv returns the next item the peer sent, waiting for one. Once the
// peer has closed its half, or answered the stream's call, it returns
// what came before and then io.EOF; once the stream is cancelled or the
// connection lost, the error saying so (the items not yet returned are
// dropped: they were not settled, so the sender has them as unacked). Each
// item must be settled (Ack, AckThrough or Reject) for the peer to be
// granted credit to send more: the window bounds the unsettled ones.
func (s *Stream) Recv(ctx context.Context) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.qhead == len(s.queue) {
		switch {
		case s.err != nil:
			return Item{}, s.err
		case s.rxClosed:
			return Item{}, io.EOF
		}
		if err := s.await(ctx, &s.rxWait); err != nil {
			return Item{}, err
		}
	}
	it := s.queue[s.qhead]
	s.queue[s.qhead] = Item{}
	s.qhead++
	if s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
	}
	return it, nil
}

// Ack acknowledges the received item seq.
func (s *Stream) Ack(seq uint64) error { return s.settle(seq, false, "", false) }

// AckThrough acknowledges every received item up to seq that is not
// settled yet.
func (s *Stream) AckThrough(seq uint64) error { return s.settle(seq, true, "", false) }

// Reject rejects the received item seq, with a reason for the sender.
func (s *Stream) Reject(seq uint64, reason string) error { return s.settle(seq, false, reason, true) }

func (s *Stream) settle(seq uint64, cumulative bool, reason string, reject bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil && s.err != io.EOF:
		return s.err
	case seq == 0 || seq > s.recvd:
		return fmt.Errorf("stream %s: cannot settle item %d: %d received", s.id, seq, s.recvd)
	}
	if s.err != nil {
		return nil // answered: the sender has gone, and has its unacked items
	}
	if cumulative {
		if seq <= s.through {
			return nil
		}
		n := int64(seq - s.through)
		for k := range s.above {
			if k <= seq {
				delete(s.above, k)
				n--
			}
		}
		s.through = seq
		s.settled += n
		s.advance()
		s.queueOp(ackOp{through: s.through})
		return nil
	}
	if _, done := s.above[seq]; done || seq <= s.through {
		return nil // settled already
	}
	s.settled++
	if seq == s.through+1 {
		s.through = seq
		s.advance()
	} else {
		if s.above == nil {
			s.above = make(map[uint64]struct{})
		}
		s.above[seq] = struct{}{}
	}
	switch {
	case reject:
		r := reason
		s.queueOp(ackOp{seq: seq, reject: &r})
	case seq <= s.through:
		s.queueOp(ackOp{through: s.through})
	default:
		s.queueOp(ackOp{seq: seq})
	}
	return nil
}

// advance moves through past the settled items above it.
func (s *Stream) advance() {
	for {
		if _, ok := s.above[s.through+1]; !ok {
			return
		}
		delete(s.above, s.through+1)
		s.through++
	}
}

// queueOp adds an acknowledgement to write; a cumulative one after another
// replaces it.
func (s *Stream) queueOp(op ackOp) {
	if n := len(s.ops); n > 0 && op.reject == nil && op.seq == 0 && s.ops[n-1].reject == nil && s.ops[n-1].seq == 0 {
		s.ops[n-1] = op
	} else {
		s.ops = append(s.ops, op)
	}
	s.dirty()
}

// Acked returns the next outcome of an item this side sent, in the order
// they came, waiting for one; io.EOF once the stream has ended and every
// outcome has been returned. Outcomes are kept from the stream's start:
// up to 1024 before the first call of Acked (older ones are dropped then,
// for a sender that never asks), and, from the first call on, every one:
// Send waits while 1024 items are unsettled or unread here.
func (s *Stream) Acked(ctx context.Context) (Ack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reading = true
	for s.rhead == len(s.reports) {
		if s.err != nil {
			return Ack{}, io.EOF
		}
		if err := s.await(ctx, &s.ackWait); err != nil {
			return Ack{}, err
		}
	}
	a := s.reports[s.rhead]
	s.reports[s.rhead] = Ack{}
	s.rhead++
	if s.rhead == len(s.reports) {
		s.reports, s.rhead = s.reports[:0], 0
	}
	wake(&s.txWait)
	return a, nil
}

// Unacked lists the items this side sent that have been neither
// acknowledged nor rejected, in order: once the stream has ended, those
// an application should deliver again.
func (s *Stream) Unacked() []Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Pending
	for _, p := range s.track[s.thead:] {
		if !p.settled {
			out = append(out, Pending{Seq: p.seq, Position: p.pos})
		}
	}
	return out
}

// Drain waits until every item this side has sent is settled, the stream
// ends, or ctx does.
func (s *Stream) Drain(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.unsettledLocked() > 0 {
		if s.err != nil {
			return s.sendErr()
		}
		if err := s.await(ctx, &s.ackWait); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stream) unsettledLocked() int {
	n := 0
	for _, p := range s.track[s.thead:] {
		if !p.settled {
			n++
		}
	}
	return n
}

// Stats returns the stream's counts.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StreamStats{
		ID: s.id.String(), Method: s.method, Opened: s.opened,
		Sent: s.sent, Acked: s.acked, Rejected: s.rejected,
		Received: s.recvd, Settled: uint64(s.settled),
		Credit: s.credit, Window: s.granted - int64(s.recvd),
	}
}

// Cancel cancels the stream with reason, which the peer is told; it ends
// at once on this side, and its operations return an error wrapping
// ErrStreamCancelled. Cancelling an ended stream does nothing.
func (s *Stream) Cancel(reason string) {
	s.cancelWith(reason, nil)
}

// Fail ends the stream with e, which the peer's operations return: an
// error, where Cancel is a decision.
func (s *Stream) Fail(e *Error) {
	if e == nil {
		e = Errorf(CodeInternalError, "stream failed")
	}
	s.cancelWith(e.Message, e)
}

func (s *Stream) cancelWith(reason string, e *Error) {
	m := newMsg()
	m.str(`{"jsonrpc":"2.0","method":"` + MethodStreamCancel + `","params":{"stream":`)
	m.id(s.id)
	m.str(`,"reason":`)
	m.quote(reason)
	if e != nil {
		m.str(`,"error":`)
		if err := m.value(e); err != nil {
			m.str(`{"code":-32603,"message":"stream failed"}`)
		}
	}
	m.str(`}}`)
	frame := append([]byte(nil), m.frame()...)
	m.free()
	var err error = e
	if e == nil {
		err = fmt.Errorf("%w by this side: %s", ErrStreamCancelled, reason)
	}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.cancel = frame
	s.dirty()
	s.mu.Unlock()
	s.end(err, true)
}

// Finish ends the callee's side once its method has returned: it writes
// the acknowledgements and credit still to be sent, so that they precede
// the answer, and forgets the stream. The callee then answers the
// request.
func (s *Stream) Finish() {
	s.flush()
	s.end(io.EOF, false)
}

// end ends the stream with err; discard drops the items not yet received
// by Recv. It runs once; later calls do nothing.
func (s *Stream) end(err error, discard bool) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	s.txClosed = true
	s.pend, s.spare = nil, nil // Finish has written them; otherwise the peer is gone or told to stop
	if discard {
		s.queue, s.qhead = nil, 0
	}
	onEnd := s.onEnd
	s.onEnd = nil
	wake(&s.txWait)
	wake(&s.rxWait)
	wake(&s.ackWait)
	close(s.done)
	s.mu.Unlock()
	s.c.dropStream(s)
	if onEnd != nil {
		onEnd()
	}
}

// await parks the caller until slot is signalled, ctx ends or the stream
// does. It is called, and returns, with s.mu held.
func (s *Stream) await(ctx context.Context, slot *chan struct{}) error {
	if *slot == nil {
		*slot = make(chan struct{})
	}
	ch := *slot
	s.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-s.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	return err
}

// wake signals the waiters on slot, if any; with s.mu held.
func wake(slot *chan struct{}) {
	if *slot != nil {
		close(*slot)
		*slot = nil
	}
}

// dirty queues the stream for the flusher; with s.mu held.
func (s *Stream) dirty() {
	if s.queued {
		return
	}
	s.queued = true
	t := &s.c.streams
	t.mu.Lock()
	t.dirty = append(t.dirty, s)
	if !t.running && !t.closed {
		t.running = true
		t.kick = make(chan struct{}, 1)
		t.flusher.Add(1)
		go s.c.flushStreams(t.kick)
	}
	kick := t.kick
	t.mu.Unlock()
	if kick == nil {
		return
	}
	select {
	case kick <- struct{}{}:
	default:
	}
}

// flush writes the items Send queued and the stream's control messages:
// the acknowledgements made, the credit they free, and a cancellation. Credit is granted once a
// quarter of the window is free, so a busy stream sends one grant per
// many items; a receiver that has settled everything still leaves the
// sender three quarters of the window, so nothing waits on a grant held
// back.
func (s *Stream) flush() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	m := newMsg()
	defer m.free()
	s.mu.Lock()
	s.queued = false
	ops := s.ops
	s.ops = nil
	// The items first, then the acknowledgements and credit, which are
	// about the other direction, then a cancellation.
	out := s.pend
	s.pend = s.spare[:0]
	s.spare = nil
	var grant int64
	if s.err == nil || s.err == io.EOF {
		free := s.settled + s.window - s.granted
		if free > 0 && free >= max(1, s.window/4) {
			grant = free
			s.granted += free
		}
	}
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	for _, op := range ops {
		m.b = m.b[:headroom]
		m.str(`{"jsonrpc":"2.0","method":"` + MethodStreamAck + `","params":{"stream":`)
		m.id(s.id)
		switch {
		case op.seq == 0:
			m.str(`,"through":`)
			m.b = strconv.AppendUint(m.b, op.through, 10)
		default:
			m.str(`,"seq":`)
			m.b = strconv.AppendUint(m.b, op.seq, 10)
			if op.reject != nil {
				m.str(`,"reject":`)
				m.quote(*op.reject)
			}
		}
		m.str(`}}`)
		out = append(out, m.frame()...)
	}
	if grant > 0 {
		m.b = m.b[:headroom]
		m.str(`{"jsonrpc":"2.0","method":"` + MethodStreamCredit + `","params":{"stream":`)
		m.id(s.id)
		m.str(`,"credit":`)
		m.b = strconv.AppendInt(m.b, grant, 10)
		m.str(`}}`)
		out = append(out, m.frame()...)
	}
	out = append(out, cancel...)
	if len(out) > 0 {
		_ = s.c.write(out)
	}
	s.mu.Lock()
	if s.spare == nil && cap(out) <= 2*maxPending {
		s.spare = out[:0]
	}
	wake(&s.txWait) // room for Send again
	s.mu.Unlock()
}

// flushStreams writes the control messages of the streams queued by
// dirty until the connection ends. The connection owns it.
func (c *Conn) flushStreams(kick chan struct{}) {
	defer c.streams.flusher.Done()
	for {
		select {
		case <-kick:
		case <-c.done:
			return
		}
		for {
			t := &c.streams
			t.mu.Lock()
			dirty := t.dirty
			t.dirty = nil
			t.mu.Unlock()
			if len(dirty) == 0 {
				break
			}
			for _, s := range dirty {
				s.flush()
			}
		}
	}
}

func (c *Conn) addStream(s *Stream) {
	t := &c.streams
	t.mu.Lock()
	if s.key != 0 {
		if t.opened == nil {
			t.opened = make(map[uint64]*Stream)
		}
		t.opened[s.key] = s
	} else {
		if t.accepted == nil {
			t.accepted = make(map[ID]*Stream)
		}
		t.accepted[s.id] = s
	}
	t.mu.Unlock()
}

func (c *Conn) dropStream(s *Stream) {
	t := &c.streams
	t.mu.Lock()
	if s.key != 0 {
		if t.opened[s.key] == s {
			delete(t.opened, s.key)
		}
	} else if t.accepted[s.id] == s {
		delete(t.accepted, s.id)
	}
	t.mu.Unlock()
}

// Streams returns the connection's open streams, ordered by when they were
// opened.
func (c *Conn) Streams() []*Stream {
	t := &c.streams
	t.mu.Lock()
	out := make([]*Stream, 0, len(t.opened)+len(t.accepted))
	for _, s := range t.opened {
		out = append(out, s)
	}
	for _, s := range t.accepted {
		out = append(out, s)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].opened.Before(out[j].opened) })
	return out
}

// endStreams ends every stream once the connection has: their items not
// yet received are dropped, and their unacknowledged ones stay in Unacked.
func (c *Conn) endStreams() {
	t := &c.streams
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	err := c.closedErr()
	for _, s := range c.Streams() {
		s.end(err, true)
	}
}

// streamAnswered ends the stream opened by request n with its answer m;
// false when no stream has that request.
func (c *Conn) streamAnswered(n uint64, m *Envelope) bool {
	t := &c.streams
	t.mu.Lock()
	s := t.opened[n]
	t.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	s.rxClosed = true
	s.mu.Unlock()
	if m.Error != nil {
		s.end(m.Error, false)
	} else {
		s.end(io.EOF, false)
	}
	return true
}

// isStreamMessage reports whether method is one of the stream messages,
// which the read loop routes to their streams rather than to the Handler.
func isStreamMessage(method string) bool {
	switch method {
	case MethodStreamItem, MethodStreamCredit, MethodStreamAck, MethodStreamClose, MethodStreamCancel:
		return true
	}
	return false
}

// streamParams is a stream message's params, as read.
type streamParams struct {
	stream   []byte
	seq      uint64
	hasSeq   bool
	through  uint64
	hasThru  bool
	credit   int64
	position json.RawMessage
	item     json.RawMessage
	hasItem  bool
	reject   *string
	reason   string
	err      json.RawMessage
}

// readStreamParams reads p by hand: items are read on every one.
func readStreamParams(p []byte) (sp streamParams, err error) {
	i := jsonscan.Space(p, 0)
	if i == len(p) || p[i] != '{' {
		return sp, errors.New("params must be an object")
	}
	_, ok := jsonscan.Members(p, i, func(mb jsonscan.Member) bool {
		key, val := p[mb.Key:mb.KeyEnd], p[mb.Val:mb.End]
		switch {
		case isKey(key, "stream"):
			sp.stream = val
		case isKey(key, "seq"):
			sp.seq, sp.hasSeq = plainUint(val)
			if !sp.hasSeq {
				err = fmt.Errorf("seq: want a positive integer, got %s", truncate(val))
			}
		case isKey(key, "through"):
			sp.through, sp.hasThru = plainUint(val)
			if !sp.hasThru {
				err = fmt.Errorf("through: want a positive integer, got %s", truncate(val))
			}
		case isKey(key, "credit"):
			n, ok := plainUint(val)
			if !ok || n > maxCredit {
				err = fmt.Errorf("credit: want an integer from 0 to %d, got %s", int64(maxCredit), truncate(val))
			}
			sp.credit = int64(n)
		case isKey(key, "position"):
			if string(val) != "null" {
				sp.position = val
			}
		case isKey(key, "item"):
			sp.item, sp.hasItem = val, true
		case isKey(key, "reject"):
			r, ok := readString(val)
			if !ok {
				err = fmt.Errorf("reject: want a string, got %s", jsonKind(val[0]))
			}
			sp.reject = &r
		case isKey(key, "reason"):
			sp.reason, _ = readString(val)
		case isKey(key, "error"):
			sp.err = val
		}
		return err == nil
	})
	switch {
	case err != nil:
		return sp, err
	case !ok:
		return sp, errors.New("params are not a JSON object")
	case sp.stream == nil:
		return sp, errors.New(`"stream" is missing`)
	}
	return sp, nil
}

// streamMessage routes a stream message to its stream, on the read loop.
// A message about a stream that has ended (or never was) is dropped: the
// two sides' messages cross. A message that breaks a stream's rules fails
// that stream, not the connection.
func (c *Conn) streamMessage(m *Envelope) {
	if m.IsRequest() {
		_ = c.ReplyError(m.ID, Errorf(CodeInvalidRequest, "%s is a notification; send it without an id", m.Method))
		return
	}
	sp, err := readStreamParams(m.Params)
	if err != nil {
		c.log.Debug("plugsock: malformed stream message dropped", "method", m.Method, "err", err)
		if s := c.findStream(sp.stream); s != nil {
			s.Fail(Errorf(CodeInvalidParams, "%s: %v", m.Method, err))
		}
		return
	}
	s := c.findStream(sp.stream)
	if s == nil {
		c.log.Debug("plugsock: message about a stream not open dropped", "method", m.Method, "stream", string(truncate(sp.stream)))
		return
	}
	var bad string
	switch m.Method {
	case MethodStreamItem:
		bad = s.received(&sp)
	case MethodStreamCredit:
		bad = s.granted2(sp.credit)
	case MethodStreamAck:
		bad = s.acknowledged(&sp)
	case MethodStreamClose:
		s.mu.Lock()
		s.rxClosed = true
		wake(&s.rxWait)
		s.mu.Unlock()
	case MethodStreamCancel:
		var e *Error
		if sp.err != nil && string(sp.err) != "null" {
			e = new(Error)
			if unmarshal(sp.err, e) != nil || e.Message == "" {
				e = Errorf(CodeInternalError, "stream failed: %s", sp.reason)
			}
		}
		if e != nil {
			s.end(e, true)
		} else {
			s.end(fmt.Errorf("%w by the peer: %s", ErrStreamCancelled, sp.reason), true)
		}
	}
	if bad != "" {
		s.Fail(Errorf(CodeInvalidRequest, "%s: %s", m.Method, bad))
	}
}

func (c *Conn) findStream(raw []byte) *Stream {
	if raw == nil {
		return nil
	}
	id := rawID(raw)
	t := &c.streams
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := id.seq(); ok && t.opened != nil {
		if s := t.opened[n]; s != nil {
			return s
		}
	}
	return t.accepted[id]
}

// received takes an item in; on the read loop. It returns what is wrong
// with it, if anything.
func (s *Stream) received(sp *streamParams) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return ""
	case !sp.hasSeq || !sp.hasItem:
		return `an item needs "seq" and "item"`
	case s.rxClosed:
		return fmt.Sprintf("item %d after the sender closed its half", sp.seq)
	case sp.seq != s.recvd+1:
		return fmt.Sprintf("item %d out of order: want %d", sp.seq, s.recvd+1)
	case int64(s.recvd) >= s.granted:
		return fmt.Sprintf("item %d sent without credit: %d granted", sp.seq, s.granted)
	}
	s.recvd = sp.seq
	s.queue = append(s.queue, Item{Seq: sp.seq, Position: sp.position, Value: sp.item})
	wake(&s.rxWait)
	return ""
}

// granted2 adds the peer's grant of credit; on the read loop.
func (s *Stream) granted2(n int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.credit+n > maxCredit {
		return fmt.Sprintf("credit above %d", int64(maxCredit))
	}
	s.credit += n
	wake(&s.txWait)
	return ""
}

// acknowledged settles items this side sent; on the read loop.
func (s *Stream) acknowledged(sp *streamParams) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return ""
	}
	switch {
	case sp.hasThru && sp.hasSeq, !sp.hasThru && !sp.hasSeq:
		return `an ack has "through" or "seq", one of them`
	case sp.hasThru && sp.through > s.sent, sp.hasSeq && sp.seq > s.sent:
		return fmt.Sprintf("acknowledges an item not sent: %d sent", s.sent)
	case sp.hasThru && sp.reject != nil:
		return `"reject" goes with "seq"`
	}
	live := s.track[s.thead:]
	if sp.hasThru {
		for i := range live {
			if live[i].seq > sp.through {
				break
			}
			s.settledOne(&live[i], false, "")
		}
	} else {
		i := sort.Search(len(live), func(i int) bool { return live[i].seq >= sp.seq })
		if i < len(live) && live[i].seq == sp.seq {
			r := ""
			if sp.reject != nil {
				r = *sp.reject
			}
			s.settledOne(&live[i], sp.reject != nil, r)
		}
	}
	for s.thead < len(s.track) && s.track[s.thead].settled {
		s.track[s.thead] = pendingItem{}
		s.thead++
	}
	if s.thead == len(s.track) {
		s.track, s.thead = s.track[:0], 0
	} else if s.thead > len(s.track)/2 && s.thead > 64 {
		n := copy(s.track, s.track[s.thead:])
		s.track, s.thead = s.track[:n], 0
	}
	wake(&s.ackWait)
	wake(&s.txWait)
	return ""
}

func (s *Stream) settledOne(p *pendingItem, rejected bool, reason string) {
	if p.settled {
		return
	}
	p.settled = true
	if rejected {
		s.rejected++
	} else {
		s.acked++
	}
	if !s.reading && len(s.reports)-s.rhead >= maxTrack {
		// Nobody has asked for outcomes: keep the latest.
		s.reports[s.rhead] = Ack{}
		s.rhead++
	}
	s.reports = append(s.reports, Ack{Seq: p.seq, Position: p.pos, Rejected: rejected, Reason: reason})
	if s.rhead > 64 && s.rhead > len(s.reports)/2 {
		n := copy(s.reports, s.reports[s.rhead:])
		s.reports, s.rhead = s.reports[:n], 0
	}
}
