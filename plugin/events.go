package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/internal/rpc"
)

// Events: a host publishes events to topics and delivers them to the
// plugins that subscribe (docs/protocol.md, "Events and state"). A
// subscription is delivered through one of the plugin's sink streams of
// eventlog.Event:
//
//	func (p *P) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
//		for {
//			it, err := in.Recv(ctx)
//			if err == io.EOF {
//				return nil // the host closed the stream: unplugged, or unsubscribed
//			}
//			if err != nil {
//				return err
//			}
//			if err := p.handle(ctx, it.Value); err != nil {
//				_ = in.Reject(it.Seq, err.Error()) // delivered again, with what follows it
//				continue
//			}
//			_ = in.Ack(it.Seq) // done: the host may commit past it
//		}
//	}
//
// and the value declares its subscriptions with a method
//
//	Subscriptions() []plugin.Subscription
//
// which go in the handshake, or makes them at run time with
// Host.Subscribe. Delivery is at least once and in order per topic: an
// acknowledgement marks an event done, the host commits the offset past
// a contiguous run of them, and a reject, or the plugin's going away with
// events unsettled, has the host deliver again from the first event not
// done, every event after it too. An event of type envelope.GapType stands
// for events the host's retention dropped before the subscription had
// them.

// Subscription is one of a plugin's subscriptions: its name, which the
// plugin's other instances (another version, another process of the same
// plugin) share, each event going to one of them; the sink stream method
// its events go to; and which events it takes.
type Subscription struct {
	Name     string
	Function string
	Filter   eventlog.Filter
}

// subscriber is a plugin value that declares subscriptions.
type subscriber interface {
	Subscriptions() []Subscription
}

// wire is the subscription as the handshake and Events.Subscribe send it.
func (sub Subscription) wire() envelope.Subscription {
	f := sub.Filter
	return envelope.Subscription{Name: sub.Name, Function: sub.Function, Filter: envelope.EventFilter{
		Topic: f.Topic, Type: f.Type, Action: f.Action, Key: f.Key, Attrs: maps.Clone(f.Attrs)}}
}

// findSubscriptions returns the subscriptions v declares, checked against
// its methods: each goes to one of its stream methods.
func findSubscriptions(v any, ms rpc.Methods) ([]envelope.Subscription, error) {
	sv, ok := v.(subscriber)
	if !ok {
		return nil, nil
	}
	subs := sv.Subscriptions()
	out := make([]envelope.Subscription, 0, len(subs))
	for _, sub := range subs {
		if m := ms[sub.Function]; m == nil || !m.IsStream() {
			return nil, fmt.Errorf("plugsock: subscription %q: %T has no stream method %q to deliver its events to", sub.Name, v, sub.Function)
		}
		out = append(out, sub.wire())
	}
	return out, nil
}

// subscribedHandshake is a handshake's params with the subscriptions
// beside them.
type subscribedHandshake struct {
	params any // what the handshake sends otherwise: an object
	subs   []envelope.Subscription
}

func (h subscribedHandshake) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(h.params)
	if err != nil {
		return nil, err
	}
	subs, err := json.Marshal(h.subs)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("plugsock: handshake params are not an object")
	}
	out := append(b[:len(b)-1:len(b)-1], nil...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"`+envelope.HandshakeSubscriptions+`":`...)
	out = append(out, subs...)
	return append(out, '}'), nil
}

// withSubscriptions returns the handshake's params with subs, when there
// are any.
func withSubscriptions(params any, subs []envelope.Subscription) any {
	if len(subs) == 0 {
		return params
	}
	return subscribedHandshake{params, subs}
}

// Subscribe makes the plugin an instance of sub at run time, as one its
// Subscriptions method declares: the host opens sub.Function, one of the
// plugin's sink streams, and delivers the subscription's events through
// it. A subscription of that name held by other connected plugins with
// another filter is refused, as is one the host cannot deliver; the
// error matches envelope.ErrInvalidParams.
func (h *Host) Subscribe(ctx context.Context, sub Subscription) error {
	return h.Call(ctx, envelope.EventsService+".Subscribe", sub.wire(), nil)
}

// Unsubscribe ends the plugin's part in the subscription name: the host
// closes its stream, and the method returns once it has settled what it
// holds. The subscription's offsets stay on the host, so subscribing
// again goes on from where it was.
func (h *Host) Unsubscribe(ctx context.Context, name string) error {
	return h.Call(ctx, envelope.EventsService+".Unsubscribe", envelope.UnsubscribeParams{Name: name}, nil)
}

// Publish publishes e to its topic on the host, and returns the offset it
// was given.
func (h *Host) Publish(ctx context.Context, e eventlog.Event) (uint64, error) {
	var res envelope.PublishResult
	if err := h.Call(ctx, envelope.EventsService+".Publish", e, &res); err != nil {
		return 0, err
	}
	return res.Offset, nil
}
