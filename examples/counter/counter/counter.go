// Package counter is a stateful stream processor shaped like a Kapacitor
// UDF: it keeps a running count, per event type, of the events the host
// delivers it, and gives the count to the host to keep (Snapshot), and
// takes it back when it starts again (Restore), so that a restart, even a
// SIGKILL, loses no count and counts nothing twice.
//
// That holds because the host snapshots at a barrier: it pauses the
// events it delivers to the plugin until the plugin has acknowledged
// those it holds, takes the snapshot, stores it, and only then commits
// the subscription's offset past the events the snapshot covers. A
// plugin killed between two snapshots is restored from the last one, and
// delivered again every event after it.
package counter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sync"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
)

// Name and Version are what the counter connects as.
const (
	Name    = "counter"
	Version = "1.0.0"
)

// Subscription is the name of the counter's subscription.
const Subscription = "counter"

// Counter is the plugin. Its zero value counts the events of the topic
// "points".
type Counter struct {
	// Topic is the topic it counts; "points" when empty.
	Topic string

	mu     sync.Mutex
	counts map[string]int // by event type
	total  int
}

// Counts is what Counts returns: the running counts.
type Counts struct {
	Total  int            `json:"total"`
	ByType map[string]int `json:"byType"`
}

// Subscriptions declares the counter's subscription.
func (c *Counter) Subscriptions() []plugin.Subscription {
	topic := c.Topic
	if topic == "" {
		topic = "points"
	}
	return []plugin.Subscription{{Name: Subscription, Function: "Count", Filter: eventlog.Filter{Topic: topic}}}
}

// Count takes the events and counts them, acknowledging each once
// counted.
func (c *Counter) Count(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	for {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		c.mu.Lock()
		if c.counts == nil {
			c.counts = make(map[string]int)
		}
		c.counts[it.Value.Type]++
		c.total++
		c.mu.Unlock()
		if err := in.Ack(it.Seq); err != nil {
			return err
		}
	}
}

// Counts returns the running counts.
func (c *Counter) Counts(context.Context, struct{}) (Counts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Counts{Total: c.total, ByType: maps.Clone(c.counts)}, nil
}

// Snapshot returns the counts, as JSON.
func (c *Counter) Snapshot(context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return json.Marshal(Counts{Total: c.total, ByType: c.counts})
}

// Restore takes the counts of a snapshot. One that does not decode leaves
// the counter as it was, empty, and says why.
func (c *Counter) Restore(_ context.Context, data []byte) error {
	var s Counts
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("counter: snapshot does not decode: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total, c.counts = s.Total, s.ByType
	return nil
}
