package plugin

import (
	"context"
	"encoding/json"
	"reflect"

	"github.com/plugsock/plugsock/envelope"
)

// A method is a stream when its last parameter is a *Source, *Sink or
// *Stream, and it returns only an error:
//
//	func (c *Conn) Read(ctx context.Context, from Position, out *plugin.Source[Record]) error
//	func (c *Conn) Write(ctx context.Context, in *plugin.Sink[Record]) error
//	func (u *UDF) Process(ctx context.Context, s *plugin.Stream[Point, Point]) error
//
// The input between ctx and the stream is optional; it is what the host
// opens the stream with. The stream lasts until the method returns: its
// error, or nil, is how the stream ends for the host.

// Item is an item a stream delivered: its sequence number, the sender's
// position for it when it gave one, and its value.
type Item[T any] struct {
	Seq      uint64
	Position json.RawMessage
	Value    T
}

// Source is the stream parameter of a method that sends the host items of
// type T. One goroutine at a time may Send.
type Source[T any] struct{ s *envelope.Stream }

// Send sends v, waiting while the host has granted no credit (a slow host
// slows the method down; nothing is dropped), and returns its sequence
// number.
func (o *Source[T]) Send(ctx context.Context, v T) (uint64, error) { return o.s.Send(ctx, v) }

// SendAt is Send with a position of the method's own (any JSON value),
// which comes back with the item's Ack and in Unacked.
func (o *Source[T]) SendAt(ctx context.Context, position any, v T) (uint64, error) {
	return o.s.SendAt(ctx, position, v)
}

// Acked returns the next outcome of an item sent, acknowledged or
// rejected by the host, in the order they came (envelope.Stream.Acked).
func (o *Source[T]) Acked(ctx context.Context) (envelope.Ack, error) { return o.s.Acked(ctx) }

// Drain waits until the host has settled every item sent.
func (o *Source[T]) Drain(ctx context.Context) error { return o.s.Drain(ctx) }

// Unacked lists the items sent that the host has not settled.
func (o *Source[T]) Unacked() []envelope.Pending { return o.s.Unacked() }

// Cancel cancels the stream, telling the host reason.
func (o *Source[T]) Cancel(reason string) { o.s.Cancel(reason) }

func (o *Source[T]) bind(s *envelope.Stream) { o.s = s }

func (*Source[T]) items() (in, out reflect.Type) { return nil, reflect.TypeFor[T]() }

// Sink is the stream parameter of a method that receives items of type T
// from the host. One goroutine at a time may Recv.
type Sink[T any] struct{ s *envelope.Stream }

// Recv returns the next item, waiting for one; io.EOF once the host has
// closed its half and every item before has been returned. An item that
// does not decode into T is rejected, with the reason, and skipped.
func (i *Sink[T]) Recv(ctx context.Context) (Item[T], error) { return recv[T](ctx, i.s) }

// Ack acknowledges item seq. The host may send more only as items are
// settled: the window bounds the unsettled ones.
func (i *Sink[T]) Ack(seq uint64) error { return i.s.Ack(seq) }

// AckThrough acknowledges every item up to seq not settled yet.
func (i *Sink[T]) AckThrough(seq uint64) error { return i.s.AckThrough(seq) }

// Reject rejects item seq, telling the host reason.
func (i *Sink[T]) Reject(seq uint64, reason string) error { return i.s.Reject(seq, reason) }

// Cancel cancels the stream, telling the host reason.
func (i *Sink[T]) Cancel(reason string) { i.s.Cancel(reason) }

func (i *Sink[T]) bind(s *envelope.Stream) { i.s = s }

func (*Sink[T]) items() (in, out reflect.Type) { return reflect.TypeFor[T](), nil }

// Stream is the stream parameter of a method that both receives items of
// type In from the host and sends it items of type Out: a processor. It
// has the methods of a Sink[In] and of a Source[Out].
type Stream[In, Out any] struct {
	Sink[In]
	Source[Out]
}

// Cancel cancels the stream, telling the host reason.
func (p *Stream[In, Out]) Cancel(reason string) { p.Sink.s.Cancel(reason) }

func (p *Stream[In, Out]) bind(s *envelope.Stream) { p.Sink.s, p.Source.s = s, s }

func (*Stream[In, Out]) items() (in, out reflect.Type) {
	return reflect.TypeFor[In](), reflect.TypeFor[Out]()
}

func recv[T any](ctx context.Context, s *envelope.Stream) (Item[T], error) {
	for {
		it, err := s.Recv(ctx)
		if err != nil {
			return Item[T]{}, err
		}
		out := Item[T]{Seq: it.Seq, Position: it.Position}
		if err := it.Decode(&out.Value); err != nil {
			_ = s.Reject(it.Seq, "item does not decode: "+err.Error())
			continue
		}
		return out, nil
	}
}

// streamParam is what Source, Sink and Stream have in common.
type streamParam interface {
	bind(*envelope.Stream)
	items() (in, out reflect.Type)
}

// streamKind tells internal/rpc which parameters are streams.
type streamKind struct{}

var paramType = reflect.TypeFor[streamParam]()

func (streamKind) Items(t reflect.Type) (in, out reflect.Type, ok bool) {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct || !t.Implements(paramType) {
		return nil, nil, false
	}
	in, out = reflect.New(t.Elem()).Interface().(streamParam).items()
	return in, out, true
}

func (streamKind) New(t reflect.Type, s *envelope.Stream) reflect.Value {
	v := reflect.New(t.Elem())
	v.Interface().(streamParam).bind(s)
	return v
}
