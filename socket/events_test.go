package socket_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/eventlog/bolt"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// got is an event a Consumer was delivered, with the stream it came on,
// for the test to settle.
type got struct {
	ev   eventlog.Event
	seq  uint64
	sink *plugin.Sink[eventlog.Event]
}

func (g got) ack() error              { return g.sink.Ack(g.seq) }
func (g got) reject(why string) error { return g.sink.Reject(g.seq, why) }

// Consumer is a plugin that subscribes, and hands every event it is
// delivered to the test on got, unsettled, or settles it itself with
// auto.
type Consumer struct {
	subs []plugin.Subscription
	got  chan got
	auto func(ev eventlog.Event) (reject string) // when set, settles each event: "" acks
}

func newConsumer(subs ...plugin.Subscription) *Consumer {
	return &Consumer{subs: subs, got: make(chan got, 4096)}
}

func (c *Consumer) Subscriptions() []plugin.Subscription { return c.subs }

// Deliver is the sink the subscriptions deliver to.
func (c *Consumer) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	for {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		g := got{ev: it.Value, seq: it.Seq, sink: in}
		if c.auto != nil {
			if why := c.auto(it.Value); why != "" {
				_ = g.reject(why)
			} else {
				_ = g.ack()
			}
		}
		c.got <- g
	}
}

// Ping is a plain function, so that the plugin has one.
func (c *Consumer) Ping(context.Context, struct{}) (string, error) { return "pong", nil }

func sub(name, topic string) plugin.Subscription {
	return plugin.Subscription{Name: name, Function: "Deliver", Filter: eventlog.Filter{Topic: topic}}
}

func publish(t *testing.T, s *socket.Socket, topic string, n int) {
	t.Helper()
	for i := range n {
		_, err := s.Publish(context.Background(), topic, eventlog.Event{Type: "order", Key: fmt.Sprint(i),
			Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
		require.NoError(t, err)
	}
}

func committed(t *testing.T, st eventlog.Store, key string) func() uint64 {
	return func() uint64 {
		c, err := st.Committed(context.Background(), key)
		require.NoError(t, err)
		return c
	}
}

// next waits for the next event delivered.
func next(t *testing.T, c *Consumer) got {
	t.Helper()
	return recv(t, c.got, "an event delivered")
}

func TestEventsAreDeliveredInOrderAndCommitted(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	publish(t, h.s, "orders", 50) // before the plugin is there
	c := newConsumer(sub("billing", "orders"))
	c.auto = func(eventlog.Event) string { return "" }
	h.plug(c, "billing")
	publish(t, h.s, "orders", 150) // and while it is
	for i := uint64(1); i <= 200; i++ {
		g := next(t, c)
		require.Equal(t, i, g.ev.Offset, "in order")
		require.Equal(t, "orders", g.ev.Topic)
		want := i - 1
		if i > 50 {
			want = i - 51
		}
		require.JSONEq(t, fmt.Sprintf(`{"i":%d}`, want), string(g.ev.Data))
	}
	require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == 200 }, 5*time.Second, time.Millisecond)
	subs, err := h.s.Subscriptions(context.Background())
	require.NoError(t, err)
	require.Len(t, subs, 1)
	assert.Equal(t, "billing", subs[0].Name)
	assert.Equal(t, []string{"billing"}, subs[0].Instances)
	assert.Equal(t, []socket.SubscriptionTopic{{Topic: "orders", Committed: 200, Acked: 200, Last: 200}}, subs[0].Topics)
}

// plugAs connects v as the plugin name at version.
func (h *host) plugAs(v any, name, version string) *started {
	h.t.Helper()
	conn, err := net.Dial(h.addr.Network(), h.addr.String())
	require.NoError(h.t, err)
	st := &started{conn: conn, err: make(chan error, 1)}
	connected := make(chan string, 1)
	st.p = &plugin.Plugin{Logger: quiet, OnConnect: func(n string) { connected <- n }}
	h.wg.Go(func() { st.err <- st.p.Start(v, &envelope.PluginInfo{Name: name, Version: version}, conn, nil) })
	select {
	case st.name = <-connected:
	case err := <-st.err:
		h.t.Fatalf("plugin %q did not connect: %v", name, err)
	case <-time.After(10 * time.Second):
		h.t.Fatalf("plugin %q did not connect in time", name)
	}
	return st
}

// The committed offset moves only past a contiguous run of acknowledged
// events, whatever order the acknowledgements come in.
func TestEventsCommitOnlyPastAContiguousRun(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	c := newConsumer(sub("billing", "orders"))
	h.plug(c, "billing")
	publish(t, h.s, "orders", 5)
	var gs []got
	for range 5 {
		gs = append(gs, next(t, c))
	}
	acked := func(want uint64) {
		t.Helper()
		require.Eventually(t, func() bool {
			subs, err := h.s.Subscriptions(context.Background())
			return err == nil && len(subs) == 1 && subs[0].Topics[0].Acked == want
		}, 5*time.Second, time.Millisecond)
		require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == want }, 5*time.Second, time.Millisecond)
	}
	require.NoError(t, gs[2].ack()) // 3
	require.NoError(t, gs[4].ack()) // 5
	require.NoError(t, gs[1].ack()) // 2
	// Nothing moves while 1 is out, once the three acks are in.
	require.Eventually(t, func() bool {
		subs, err := h.s.Subscriptions(context.Background())
		return err == nil && subs[0].Topics[0].InFlight == 2 // 1 and 4
	}, 5*time.Second, time.Millisecond)
	subs, err := h.s.Subscriptions(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(0), subs[0].Topics[0].Acked)
	require.Equal(t, uint64(0), committed(t, st, "billing/orders")())
	require.NoError(t, gs[0].ack()) // 1: 1-3 are done, 4 is not
	acked(3)
	require.NoError(t, gs[3].ack()) // 4: all five
	acked(5)
}

// A reject delivers again from the first event not acknowledged, every
// event after it too, in order.
func TestEventsRejectRedeliversFromTheAcknowledgedOffset(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	c := newConsumer(sub("billing", "orders"))
	var mu sync.Mutex
	rejected := false
	c.auto = func(ev eventlog.Event) string {
		mu.Lock()
		defer mu.Unlock()
		if ev.Offset == 3 && !rejected {
			rejected = true
			return "not yet"
		}
		return ""
	}
	h.plug(c, "billing")
	publish(t, h.s, "orders", 6)
	var seen []uint64
	threes := 0
	for threes < 2 || seen[len(seen)-1] != 6 {
		seen = append(seen, next(t, c).ev.Offset)
		if seen[len(seen)-1] == 3 {
			threes++
		}
	}
	// 1 2 3(rejected) then, perhaps after some of 4-6 went out before the
	// reject arrived, 3 4 5 6 again in order.
	require.Equal(t, []uint64{1, 2, 3}, seen[:3])
	i := len(seen) - 4
	require.Equal(t, []uint64{3, 4, 5, 6}, seen[i:], "redelivered from 3: %v", seen)
	for k, off := range seen[3:i] {
		require.Equal(t, uint64(4+k), off, "before the reject took: %v", seen)
	}
	require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == 6 }, 5*time.Second, time.Millisecond)
	select {
	case g := <-c.got:
		t.Fatalf("event %d delivered after everything was acknowledged", g.ev.Offset)
	default:
	}
}

// Two instances of one plugin share its subscription: each event goes to
// one of them.
func TestEventsCompetingConsumersEachEventOnce(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	a, b := newConsumer(sub("billing", "orders")), newConsumer(sub("billing", "orders"))
	a.auto = func(eventlog.Event) string { return "" }
	b.auto = a.auto
	pa := h.plugAs(a, "billing", "1.0.0")
	pb := h.plugAs(b, "billing", "1.1.0")
	require.Equal(t, "billing@1.1.0", pb.name)
	require.Eventually(t, func() bool {
		subs, err := h.s.Subscriptions(context.Background())
		return err == nil && len(subs) == 1 && len(subs[0].Instances) == 2
	}, 5*time.Second, time.Millisecond)
	const n = 600
	publish(t, h.s, "orders", n)
	counts := map[uint64]int{}
	per := map[string]int{}
	for len(counts) < n {
		select {
		case g := <-a.got:
			counts[g.ev.Offset]++
			per[pa.name]++
		case g := <-b.got:
			counts[g.ev.Offset]++
			per[pb.name]++
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d events delivered", len(counts), n)
		}
	}
	require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == n }, 5*time.Second, time.Millisecond)
	for off, k := range counts {
		require.Equal(t, 1, k, "event %d delivered %d times", off, k)
	}
	assert.Greater(t, per[pa.name], n/10, "both take part: %v", per)
	assert.Greater(t, per[pb.name], n/10, "both take part: %v", per)
	assert.Empty(t, a.got)
	assert.Empty(t, b.got)
}

// An instance that goes away with events unsettled has them delivered
// again, to the instance left.
func TestEventsDisconnectRedeliversToTheOtherInstance(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	a, b := newConsumer(sub("billing", "orders")), newConsumer(sub("billing", "orders"))
	pa := h.plugAs(a, "billing", "1.0.0") // holds what it gets
	publish(t, h.s, "orders", 10)
	var held []uint64
	for range 10 {
		held = append(held, next(t, a).ev.Offset)
	}
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, held)
	b.auto = func(eventlog.Event) string { return "" }
	h.plugAs(b, "billing", "1.1.0")
	require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == 0 }, time.Second, time.Millisecond)
	_ = pa.conn.Close() // a dies holding 1..10
	var again []uint64
	for len(again) < 10 {
		again = append(again, next(t, b).ev.Offset)
	}
	require.Equal(t, held, again, "redelivered in order, to the instance left")
	require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == 10 }, 5*time.Second, time.Millisecond)
}

// A filter takes topics by prefix, and events by type and attributes;
// the offset moves past the events it leaves out.
func TestEventsFilterByTopicPrefixTypeAndAttrs(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	c := newConsumer(plugin.Subscription{Name: "eu-orders", Function: "Deliver", Filter: eventlog.Filter{
		Topic: "orders.*", Type: "order", Attrs: map[string]string{"region": "eu"}}})
	c.auto = func(eventlog.Event) string { return "" }
	h.plug(c, "shop")
	ctx := context.Background()
	want := map[string][]uint64{}
	for i := range 40 {
		topic := []string{"orders.a", "orders.b", "payments"}[i%3]
		region := []string{"eu", "us"}[i/3%2]
		typ := "order"
		if i%7 == 0 {
			typ = "refund"
		}
		off, err := h.s.Publish(ctx, topic, eventlog.Event{Type: typ, Attrs: map[string]string{"region": region}})
		require.NoError(t, err)
		if topic != "payments" && region == "eu" && typ == "order" {
			want[topic] = append(want[topic], off)
		}
	}
	gotten := map[string][]uint64{}
	for n := len(want["orders.a"]) + len(want["orders.b"]); n > 0; n-- {
		g := next(t, c)
		assert.Equal(t, "eu", g.ev.Attrs["region"])
		gotten[g.ev.Topic] = append(gotten[g.ev.Topic], g.ev.Offset)
	}
	require.Equal(t, want, gotten, "in order per topic, and only what the filter takes")
	require.Eventually(t, func() bool {
		return committed(t, st, "eu-orders/orders.a")() == 14 && committed(t, st, "eu-orders/orders.b")() == 13
	}, 5*time.Second, time.Millisecond, "past the events left out")
	n, err := st.Committed(ctx, "eu-orders/payments")
	require.NoError(t, err)
	assert.Zero(t, n, "a topic the filter does not take has no offset")
	assert.Empty(t, c.got)
}

// A subscription that fell behind retention is told, with a gap notice
// naming what it lost, before it goes on.
func TestEventsGapNoticeAfterRetention(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	logs := new(logBuffer)
	h := newHost(t, "tcp", socket.Config{Store: st, Logger: logs.logger(), RetentionEvents: 3, RetentionInterval: 5 * time.Millisecond})
	ctx := context.Background()
	publish(t, h.s, "orders", 12)
	require.NoError(t, st.Commit(ctx, "billing/orders", 2)) // it had 1 and 2, then left
	require.Eventually(t, func() bool {
		first, _, err := st.Bounds(ctx, "orders")
		return err == nil && first == 10
	}, 5*time.Second, time.Millisecond, "retention keeps the last 3")
	c := newConsumer(sub("billing", "orders"))
	c.auto = func(eventlog.Event) string { return "" }
	h.plug(c, "billing")
	gap := next(t, c).ev
	assert.Equal(t, envelope.GapType, gap.Type)
	assert.Equal(t, uint64(9), gap.Offset, "the last offset lost")
	var data envelope.Gap
	require.NoError(t, json.Unmarshal(gap.Data, &data))
	assert.Equal(t, envelope.Gap{From: 3, Through: 9}, data)
	for off := uint64(10); off <= 12; off++ {
		require.Equal(t, off, next(t, c).ev.Offset)
	}
	require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == 12 }, 5*time.Second, time.Millisecond)
	logs.waitFor(t, 1, "lost events to retention", "from=3", "through=9")

	// A subscription new to a topic is owed nothing retention dropped
	// before it began.
	fresh := newConsumer(sub("audit", "orders"))
	fresh.auto = c.auto
	h.plug(fresh, "audit")
	assert.Equal(t, uint64(10), next(t, fresh).ev.Offset)
}

// Joiner subscribes and unsubscribes at run time, through the host's
// Events service.
type Joiner struct{ *Consumer }

type JoinIn struct {
	Name  string `json:"name"`
	Topic string `json:"topic"`
}

func (j *Joiner) Join(ctx context.Context, in JoinIn) (struct{}, error) {
	return struct{}{}, plugin.HostFrom(ctx).Subscribe(ctx, sub(in.Name, in.Topic))
}

func (j *Joiner) Leave(ctx context.Context, in JoinIn) (struct{}, error) {
	return struct{}{}, plugin.HostFrom(ctx).Unsubscribe(ctx, in.Name)
}

func (j *Joiner) Emit(ctx context.Context, in JoinIn) (uint64, error) {
	return plugin.HostFrom(ctx).Publish(ctx, eventlog.Event{Topic: in.Topic, Type: "emitted"})
}

func TestEventsSubscribeAtRunTime(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	j := &Joiner{newConsumer()}
	j.auto = func(eventlog.Event) string { return "" }
	p := h.plug(j, "joiner")
	ctx := context.Background()
	assert.Contains(t, hostOfPlugin(t, p).Services(), "Events.Subscribe", "a socket with a Store offers the service")
	require.NoError(t, h.s.CallContext(ctx, "joiner", "Join", JoinIn{Name: "late", Topic: "news"}, nil))
	var off uint64
	require.NoError(t, h.s.CallContext(ctx, "joiner", "Emit", JoinIn{Topic: "news"}, &off))
	assert.Equal(t, uint64(1), off, "a plugin publishes too")
	g := next(t, j.Consumer)
	assert.Equal(t, "emitted", g.ev.Type)

	err := h.s.CallContext(ctx, "joiner", "Join", JoinIn{Name: "late", Topic: "news"}, nil)
	require.ErrorIs(t, err, envelope.ErrInvalidParams, "once is enough")
	assert.ErrorContains(t, err, "takes part in it already")
	err = h.s.CallContext(ctx, "joiner", "Join", JoinIn{Name: "bad name", Topic: "news"}, nil)
	require.ErrorIs(t, err, envelope.ErrInvalidParams)

	require.Eventually(t, func() bool { return committed(t, st, "late/news")() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, h.s.CallContext(ctx, "joiner", "Leave", JoinIn{Name: "late"}, nil))
	require.Eventually(t, func() bool {
		subs, err := h.s.Subscriptions(ctx)
		return err == nil && len(subs) == 1 && len(subs[0].Instances) == 0
	}, 5*time.Second, time.Millisecond, "gone from the live ones; its offset stays")
	publish(t, h.s, "news", 1)
	require.NoError(t, h.s.CallContext(ctx, "joiner", "Join", JoinIn{Name: "late", Topic: "news"}, nil))
	assert.Equal(t, uint64(2), next(t, j.Consumer).ev.Offset, "subscribing again goes on from its offset")
}

// hostOfPlugin is the Host a started plugin sees.
func hostOfPlugin(t *testing.T, p *started) *plugin.Host {
	t.Helper()
	h := p.p.Host()
	require.NotNil(t, h)
	return h
}

// Source is a plugin whose only stream is a source: no subscription can
// be delivered to it.
type Source struct{ subs []plugin.Subscription }

func (s *Source) Subscriptions() []plugin.Subscription { return s.subs }
func (s *Source) Emit(ctx context.Context, out *plugin.Source[eventlog.Event]) error {
	return nil
}

func TestEventsHandshakeRefusesWhatCannotBeDelivered(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	h := newHost(t, "tcp", socket.Config{Store: st})
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"source", &Source{[]plugin.Subscription{{Name: "s", Function: "Emit"}}}, `function "Emit" is not a sink stream`},
		{"prefix", newConsumer(plugin.Subscription{Name: "s", Function: "Deliver", Filter: eventlog.Filter{Topic: "a b*"}}), "filter"},
		{"twice", newConsumer(sub("s", "a"), sub("s", "b")), `"s" appears twice`},
		{"longname", newConsumer(sub(string(make([]byte, 200)), "a")), "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial(h.addr.Network(), h.addr.String())
			require.NoError(t, err)
			err = startPlugin(tc.v, tc.name, conn)
			require.ErrorIs(t, err, envelope.ErrInvalidParams)
			assert.ErrorContains(t, err, tc.want)
		})
	}

	// A subscription held by a connected plugin keeps its filter.
	c := newConsumer(sub("billing", "orders"))
	h.plug(c, "billing")
	// The plugin's side hears it is connected before the host has made it
	// live and joined it to its subscription: wait for the join, or the
	// other plugin would take the subscription first.
	require.Eventually(t, func() bool {
		subs, err := h.s.Subscriptions(context.Background())
		require.NoError(t, err)
		return len(subs) == 1 && slices.Equal(subs[0].Instances, []string{"billing"})
	}, 10*time.Second, time.Millisecond)
	conn, err := net.Dial(h.addr.Network(), h.addr.String())
	require.NoError(t, err)
	refused := make(chan error, 1)
	go func() { refused <- startPlugin(newConsumer(sub("billing", "payments")), "other", conn) }()
	select {
	case err = <-refused:
	case <-time.After(10 * time.Second):
		_ = conn.Close()
		<-refused
		t.Fatal("a plugin asking for a held subscription with another filter was let in")
	}
	require.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.ErrorContains(t, err, "another filter")
}

// Offsets are durable: a host that starts again on the same file goes on
// from the offset after the one committed, and redelivers nothing
// committed.
func TestEventsOffsetsSurviveAHostRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugsock.db")
	run := func(publishN int, ackUpTo uint64, want []uint64) {
		st, err := bolt.Open(path)
		require.NoError(t, err)
		defer st.Close()
		h := newHost(t, "tcp", socket.Config{Store: st})
		publish(t, h.s, "orders", publishN)
		c := newConsumer(sub("billing", "orders"))
		h.plug(c, "billing")
		for _, off := range want {
			g := next(t, c)
			require.Equal(t, off, g.ev.Offset)
			if off <= ackUpTo {
				require.NoError(t, g.ack())
			}
		}
		require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == ackUpTo }, 5*time.Second, time.Millisecond)
		require.NoError(t, h.s.Shutdown(""))
	}
	run(20, 12, seq(1, 20)) // 13..20 delivered, never acknowledged
	run(5, 25, seq(13, 25)) // after the restart: 13 on, none of 1..12
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// Quitter's stream returns an error after it has acknowledged two events,
// the first time.
type Quitter struct {
	*Consumer
	mu   sync.Mutex
	runs int
}

func (q *Quitter) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	q.mu.Lock()
	q.runs++
	first := q.runs == 1
	q.mu.Unlock()
	for n := 0; ; n++ {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if first && n == 3 {
			return fmt.Errorf("lost my destination") // 4 goes unsettled
		}
		_ = in.Ack(it.Seq)
		q.got <- got{ev: it.Value, seq: it.Seq, sink: in}
	}
}

// A stream that ends while its plugin is connected is opened again, and
// delivers from the first event not done.
func TestEventsStreamThatEndsIsOpenedAgain(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	logs := new(logBuffer)
	h := newHost(t, "tcp", socket.Config{Store: st, Logger: logs.logger()})
	q := &Quitter{Consumer: newConsumer(sub("billing", "orders"))}
	h.plug(q, "billing")
	publish(t, h.s, "orders", 6)
	var seen []uint64
	for len(seen) < 6 {
		seen = append(seen, next(t, q.Consumer).ev.Offset)
	}
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6}, seen, "4 comes again on the stream opened anew, then the rest")
	logs.waitFor(t, 1, "opening it again", "lost my destination")
	require.Eventually(t, func() bool { return committed(t, st, "billing/orders")() == 6 }, 5*time.Second, time.Millisecond)
}

func TestEventsPublishRefusals(t *testing.T) {
	logs := new(logBuffer)
	h := newHost(t, "tcp", socket.Config{Logger: logs.logger()})
	ctx := context.Background()
	_, err := h.s.Publish(ctx, "a b", eventlog.Event{})
	require.ErrorIs(t, err, socket.ErrEvents)
	require.ErrorIs(t, err, eventlog.ErrInvalid)
	_, err = h.s.Publish(ctx, "t", eventlog.Event{Data: json.RawMessage(`{`)})
	require.ErrorIs(t, err, eventlog.ErrInvalid)
	_, err = h.s.Publish(ctx, "t", eventlog.Event{Data: json.RawMessage(`"` + string(make([]byte, 2<<20)) + `"`)})
	require.ErrorIs(t, err, eventlog.ErrTooLarge)
	off, err := h.s.Publish(ctx, "t", eventlog.Event{})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), off)
	logs.waitFor(t, 1, "kept in memory")

	// A Store given once events are in use is not taken.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	late := eventlog.NewMemory()
	defer late.Close()
	h.s.Serve(l, socket.Config{Store: late})
	off, err = h.s.Publish(ctx, "t", eventlog.Event{})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), off, "still the first store")
	require.NoError(t, h.s.Shutdown(""))
	logs.waitFor(t, 1, "was ignored")
	_, err = h.s.Publish(ctx, "t", eventlog.Event{})
	require.ErrorIs(t, err, socket.ErrShutdown)
}
