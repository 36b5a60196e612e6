// Package firefly is an event transport plugin shaped like the ones
// Hyperledger FireFly delivers its events through: the host publishes
// events, and the transport hands each to its destination, acknowledging
// it once the destination has it, rejecting it when the destination
// failed, so that the host delivers it again, with every event after it.
//
// The destination here is a ledger that fails some first attempts on
// purpose: an event whose offset is a multiple of FailEvery is refused
// the first time it arrives, and taken the next. The ledger keys what it
// takes by topic and offset, so an event delivered twice is written once,
// and it keeps the order deliveries came in, so that a test can check
// that each redelivery started again from the first event not done.
package firefly

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
)

// Name and Version are what the transport connects as.
const (
	Name    = "firefly"
	Version = "1.0.0"
)

// Subscription is the name of the transport's subscription.
const Subscription = "firefly-transport"

// Transport is the plugin. Its zero value takes the topics under "ff."
// and fails no event.
type Transport struct {
	// Topic is its subscription's topic filter; "ff.*" when empty.
	Topic string
	// FailEvery makes the destination refuse the first delivery of every
	// event whose offset is a multiple of it; zero refuses none.
	FailEvery uint64

	mu     sync.Mutex
	ledger map[key]eventlog.Event
	tried  map[key]bool
	seen   []Delivery
	stats  Stats
}

type key struct {
	topic  string
	offset uint64
}

// Delivery is one event as it reached the transport.
type Delivery struct {
	Topic    string `json:"topic"`
	Offset   uint64 `json:"offset"`
	Rejected bool   `json:"rejected,omitempty"`
}

// Stats counts what the transport did.
type Stats struct {
	Delivered int `json:"delivered"` // deliveries received, redeliveries included
	Acked     int `json:"acked"`
	Rejected  int `json:"rejected"`
	Distinct  int `json:"distinct"` // events the ledger holds
	Gaps      int `json:"gaps"`     // gap notices: events retention dropped before delivery
}

// Subscriptions declares the transport's subscription.
func (t *Transport) Subscriptions() []plugin.Subscription {
	topic := t.Topic
	if topic == "" {
		topic = "ff.*"
	}
	return []plugin.Subscription{{Name: Subscription, Function: "Deliver", Filter: eventlog.Filter{Topic: topic}}}
}

// Deliver takes the subscription's events, one after another, and hands
// each to the destination.
func (t *Transport) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	for {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil // the host closed the stream: unplugged
		}
		if err != nil {
			return err
		}
		if err := t.send(it.Value); err != nil {
			if err := in.Reject(it.Seq, err.Error()); err != nil {
				return err
			}
			continue
		}
		if err := in.Ack(it.Seq); err != nil {
			return err
		}
	}
}

// send is the destination: it refuses the first attempt at some events.
func (t *Transport) send(e eventlog.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ledger == nil {
		t.ledger, t.tried = make(map[key]eventlog.Event), make(map[key]bool)
	}
	k := key{e.Topic, e.Offset}
	t.stats.Delivered++
	if e.Type == "plugsock.gap" {
		t.stats.Gaps++
	} else if t.FailEvery > 0 && e.Offset%t.FailEvery == 0 && !t.tried[k] {
		t.tried[k] = true
		t.stats.Rejected++
		t.seen = append(t.seen, Delivery{Topic: e.Topic, Offset: e.Offset, Rejected: true})
		return fmt.Errorf("destination unavailable for %s/%d; try again", e.Topic, e.Offset)
	}
	t.ledger[k] = e
	t.stats.Acked++
	t.stats.Distinct = len(t.ledger)
	t.seen = append(t.seen, Delivery{Topic: e.Topic, Offset: e.Offset})
	return nil
}

// Stats returns the counts.
func (t *Transport) Stats(context.Context, struct{}) (Stats, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats, nil
}

// Deliveries returns the deliveries in the order they came.
func (t *Transport) Deliveries(context.Context, struct{}) ([]Delivery, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Delivery{}, t.seen...), nil
}
