package socket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/internal/jsonscan"
	"github.com/plugsock/plugsock/internal/names"
	"github.com/plugsock/plugsock/typedesc"
)

// Events (docs/protocol.md, "Events and state"): the socket publishes
// events to topics in its Store, and delivers them to the plugins that
// subscribe. A subscription is named, has a filter, and is bound to a sink
// stream function of each plugin that takes part in it, its instances:
// per subscription one dispatcher (events_dispatch.go) reads the store
// from the offset after the one committed, filters, and sends each event
// to one instance with room for it, acknowledged or rejected there.
//
// The socket's events are a hub that every copy of its settings shares,
// as its configurations are (config.go). It is bound to the socket, and
// its store chosen, the first time events are used: a Publish, a plugin
// that declares subscriptions or state, or a protocol 2 handshake once a
// Store has been given. Binding registers the Events host service.
//
// Lock order: Socket.mu is never held while a hub's lock is taken; the
// hub's lock may be held while Socket.mu is (binding registers the
// service). A dispatcher takes neither: it is told things over its
// channel, and instances' goroutines tell the hub when they end.

// Limits on what plugins may ask of the hub: every byte from the network
// is hostile.
const (
	// maxSubscriptions bounds the subscriptions a socket holds at once;
	// maxPluginSubscriptions those of one plugin connection.
	maxSubscriptions       = 1024
	maxPluginSubscriptions = 64
	// maxSubscriptionName bounds a subscription's name, in bytes.
	maxSubscriptionName = 128
	// maxFilterAttrs bounds a filter's attributes; each name and value is
	// at most eventlog.MaxNameLen bytes.
	maxFilterAttrs = 32
	// maxSubscriptionsBytes bounds the handshake's "subscriptions"
	// member, as sent.
	maxSubscriptionsBytes = 64 << 10
)

// ErrEvents is what the errors of Publish and of the Events service
// wrap when the request is not one the socket can take: a bad topic,
// subscription or filter, a conflict with a subscription held.
var ErrEvents = errors.New("events")

type eventsHub struct {
	omu     sync.Mutex     // guards the four below: taken under Socket.mu (Config.apply), and under mu
	offered eventlog.Store // Config.Store, until the hub is bound
	chosen  eventlog.Store // the store binding took
	taken   bool           // the hub is bound: offers come too late
	ignored bool           // a Store offered after binding, which is not the one taken

	mu      sync.Mutex
	s       *Socket // nil until bound
	store   eventlog.Store
	own     bool // the store was made here: closed at the end
	subs    map[string]*dispatcher
	members map[*remote]*participant
	closed  bool
	done    chan struct{}  // closed by close
	wg      sync.WaitGroup // dispatchers, members' goroutines, retention
}

// offer takes Config.Store. A nil hub (a config made by hand) ignores it.
func (h *eventsHub) offer(st eventlog.Store) {
	if h == nil {
		return
	}
	h.omu.Lock()
	defer h.omu.Unlock()
	if h.taken {
		h.ignored = h.ignored || st != h.chosen
		return
	}
	h.offered = st
}

// events returns the socket's hub, bound.
func (s *Socket) events() (*eventsHub, error) {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return nil, ErrShutdown
	}
	h := s.config().events
	s.mu.Unlock()
	if err := h.bind(s); err != nil {
		return nil, err
	}
	return h, nil
}

// bind binds the hub to s, once: its store is the one offered, or a new
// one in memory, and the Events service is registered.
func (h *eventsHub) bind(s *Socket) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return ErrShutdown
	case h.s != nil:
		return nil
	}
	log := s.settings().log
	h.omu.Lock()
	st := h.offered
	if st == nil {
		st, h.own = eventlog.NewMemory(), true
	}
	h.chosen, h.taken = st, true
	h.omu.Unlock()
	if h.own {
		log.Info("plugsock: events and snapshots are kept in memory: nothing survives the host (Config.Store)")
	}
	h.s, h.store = s, st
	h.subs = make(map[string]*dispatcher)
	h.members = make(map[*remote]*participant)
	h.done = make(chan struct{})
	if err := s.RegisterName(envelope.EventsService, eventsService{s}); err != nil {
		log.Warn("plugsock: the Events service is not registered: plugins cannot subscribe at run time", "err", err)
	}
	h.wg.Add(1)
	go h.retain()
	return nil
}

// bound returns the hub's socket and store, or ok false when it is not
// bound or closed.
func (h *eventsHub) bound() (s *Socket, st eventlog.Store, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s, h.store, h.s != nil && !h.closed
}

// close ends the hub, at Shutdown, once every plugin is gone: each
// dispatcher commits what was acknowledged and ends, and a store made
// here is closed. A hub never bound has nothing to end.
func (h *eventsHub) close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	if h.s == nil || h.closed {
		h.closed = true
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.done)
	subs := slices.Collect(maps.Values(h.subs))
	st, own := h.store, h.own
	h.mu.Unlock()
	for _, d := range subs {
		d.stop()
	}
	h.wg.Wait()
	if own {
		_ = st.Close()
	}
	h.omu.Lock()
	ignored := h.ignored
	h.omu.Unlock()
	if ignored {
		h.s.settings().log.Warn("plugsock: a Config.Store given after the socket's events were in use was ignored")
	}
}

// Publish appends e to topic in the socket's Store, durably when the
// store is (eventlog/bolt's is), and returns the offset it was given; the
// subscriptions whose filter it matches are delivered it. e's Topic and
// Offset are set here; its Time is set to now when zero. An event the
// store refuses, for its topic or its size (eventlog.Event.Check), gives
// an error matching ErrEvents and eventlog.ErrInvalid or ErrTooLarge.
func (s *Socket) Publish(ctx context.Context, topic string, e eventlog.Event) (uint64, error) {
	h, err := s.events()
	if err != nil {
		return 0, fmt.Errorf("plugsock: publish to %q: %w", topic, err)
	}
	e.Topic = topic
	if err := e.Check(0); err != nil {
		return 0, fmt.Errorf("plugsock: publish: %w: %w", ErrEvents, err)
	}
	if err := h.store.Append(ctx, &e); err != nil {
		if errors.Is(err, eventlog.ErrInvalid) || errors.Is(err, eventlog.ErrTooLarge) {
			err = fmt.Errorf("%w: %w", ErrEvents, err)
		}
		return 0, fmt.Errorf("plugsock: publish to %q: %w", topic, err)
	}
	h.published(topic)
	return e.Offset, nil
}

// published wakes the dispatchers whose filter takes topic.
func (h *eventsHub) published(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.subs {
		if topicMatch(d.filter.Topic, topic) {
			d.pokeTopic(topic)
		}
	}
}

// topicMatch reports whether a filter's topic takes topic: equal, or a
// prefix ending in "*"; "" takes every topic.
func topicMatch(pattern, topic string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(topic, prefix)
	}
	return pattern == "" || pattern == topic
}

// laneKey is the name a subscription's offset in one topic is committed
// under: "name/topic". Subscription names have no "/". A key longer than
// the store allows names the topic by its SHA-256 instead.
func laneKey(sub, topic string) string {
	if k := sub + "/" + topic; len(k) <= eventlog.MaxNameLen {
		return k
	}
	sum := sha256.Sum256([]byte(topic))
	return sub + "/#" + hex.EncodeToString(sum[:16])
}

// TopicInfo is a topic of the socket's store.
type TopicInfo struct {
	Topic string `json:"topic"`
	// First and Last are the offsets retained; both 0 when none is.
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// Topics lists the topics of the socket's store, sorted.
func (s *Socket) Topics(ctx context.Context) ([]TopicInfo, error) {
	h, err := s.events()
	if err != nil {
		return nil, err
	}
	ts, err := h.store.Topics(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugsock: topics: %w", err)
	}
	out := make([]TopicInfo, 0, len(ts))
	for _, t := range ts {
		first, last, err := h.store.Bounds(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("plugsock: topics: %w", err)
		}
		out = append(out, TopicInfo{Topic: t, First: first, Last: last})
	}
	return out, nil
}

// SubscriptionInfo is a subscription as the socket sees it.
type SubscriptionInfo struct {
	Name   string               `json:"name"`
	Filter envelope.EventFilter `json:"filter"`
	// Instances are the assigned names of the plugins it delivers to,
	// sorted; none while no plugin that takes part is connected.
	Instances []string `json:"instances"`
	// Topics are its offsets in each topic it takes, sorted by topic.
	Topics []SubscriptionTopic `json:"topics"`
	// Held reports that its offsets are committed only as a plugin's
	// snapshot is stored: one of its instances has state.
	Held bool `json:"held,omitempty"`
}

// SubscriptionTopic is a subscription's progress through one topic.
type SubscriptionTopic struct {
	Topic string `json:"topic"`
	// Committed is the offset committed to the store: every event up to
	// it is done, even after a restart.
	Committed uint64 `json:"committed"`
	// Acked is the offset every event up to which has been acknowledged
	// (or filtered out); Committed follows it.
	Acked uint64 `json:"acked"`
	// Last is the topic's last offset, and Lag the events after Acked.
	Last uint64 `json:"last"`
	Lag  uint64 `json:"lag"`
	// InFlight counts the events delivered and not yet settled.
	InFlight int `json:"inFlight"`
}

// Subscriptions lists the socket's subscriptions, by name: those it
// delivers now, and those only its store remembers (a plugin that
// subscribed before the host restarted), with their committed offsets.
func (s *Socket) Subscriptions(ctx context.Context) ([]SubscriptionInfo, error) {
	h, err := s.events()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	ds := slices.Collect(maps.Values(h.subs))
	h.mu.Unlock()
	byName := make(map[string]*SubscriptionInfo)
	for _, d := range ds {
		info, err := d.info(ctx)
		if err != nil {
			return nil, fmt.Errorf("plugsock: subscriptions: %w", err)
		}
		byName[info.Name] = &info
	}
	stored, err := h.store.Subscriptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugsock: subscriptions: %w", err)
	}
	for key, off := range stored {
		name, topic, ok := strings.Cut(key, "/")
		if !ok {
			continue // not a subscription of the socket's
		}
		info := byName[name]
		if info == nil {
			info = &SubscriptionInfo{Name: name, Instances: []string{}}
			byName[name] = info
		}
		if slices.ContainsFunc(info.Topics, func(t SubscriptionTopic) bool { return laneKey(name, t.Topic) == key }) ||
			strings.HasPrefix(topic, "#") {
			continue
		}
		_, last, err := h.store.Bounds(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("plugsock: subscriptions: %w", err)
		}
		info.Topics = append(info.Topics, SubscriptionTopic{Topic: topic, Committed: off, Acked: off, Last: last, Lag: last - min(off, last)})
	}
	out := make([]SubscriptionInfo, 0, len(byName))
	for _, info := range byName {
		slices.SortFunc(info.Topics, func(a, b SubscriptionTopic) int { return strings.Compare(a.Topic, b.Topic) })
		if info.Topics == nil {
			info.Topics = []SubscriptionTopic{}
		}
		out = append(out, *info)
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// retain applies retention on its interval until the hub closes.
func (h *eventsHub) retain() {
	defer h.wg.Done()
	for {
		cfg := h.s.settings()
		t := time.NewTimer(cfg.retentionInterval)
		select {
		case <-h.done:
			t.Stop()
			return
		case <-t.C:
		}
		if cfg.retentionAge <= 0 && cfg.retentionEvents <= 0 && cfg.retentionBytes <= 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.retentionInterval)
		if err := h.retainOnce(ctx, cfg.retentionAge, cfg.retentionEvents, cfg.retentionBytes); err != nil {
			cfg.log.Warn("plugsock: retention failed", "err", err)
		}
		cancel()
	}
}

func (h *eventsHub) retainOnce(ctx context.Context, age time.Duration, events int, bytes int64) error {
	ts, err := h.store.Topics(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := eventlog.Retain(ctx, h.store, t, age, events); err != nil {
			return fmt.Errorf("topic %q: %w", t, err)
		}
		if err := eventlog.RetainBytes(ctx, h.store, t, bytes); err != nil {
			return fmt.Errorf("topic %q: %w", t, err)
		}
	}
	return nil
}

// pluginEvents is what a plugin's handshake declares of events and
// state.
type pluginEvents struct {
	asked    string // the name it asked for: its snapshots are kept under it
	stateful bool   // capability "state", protocol 2
	subs     []envelope.Subscription
}

// readEvents reads a protocol 2 handshake's subscriptions and state
// capability, checks them against the functions it describes and the
// subscriptions held, and binds the hub when there is anything to do. It
// returns nil for a plugin with neither, or the refusal.
func (r *remote) readEvents(params []byte, fns map[string]typedesc.Function, asked string, proto int, caps []byte) (*pluginEvents, *envelope.Error) {
	if proto < envelope.Protocol2 {
		return nil, nil
	}
	malformed := func(err error) *envelope.Error {
		return envelope.Errorf(envelope.CodeInvalidParams, "malformed handshake: %v", err)
	}
	raw, err := scanMember(params, envelope.HandshakeSubscriptions)
	if err != nil {
		return nil, malformed(err)
	}
	ev := &pluginEvents{asked: asked, stateful: capable(caps, envelope.CapabilityState)}
	if raw != nil {
		if len(raw) > maxSubscriptionsBytes {
			return nil, malformed(fmt.Errorf("subscriptions: %d bytes; at most %d allowed", len(raw), maxSubscriptionsBytes))
		}
		if err := json.Unmarshal(raw, &ev.subs); err != nil {
			return nil, malformed(fmt.Errorf("subscriptions: %w", err))
		}
		if len(ev.subs) > maxPluginSubscriptions {
			return nil, malformed(fmt.Errorf("subscriptions: %d of them; at most %d allowed", len(ev.subs), maxPluginSubscriptions))
		}
		seen := make(map[string]bool, len(ev.subs))
		for _, sub := range ev.subs {
			if err := checkSubscription(sub, fns); err != nil {
				return nil, malformed(fmt.Errorf("subscriptions: %w", err))
			}
			if seen[sub.Name] {
				return nil, malformed(fmt.Errorf("subscriptions: %q appears twice", sub.Name))
			}
			seen[sub.Name] = true
		}
	}
	h := r.cfg.events
	h.omu.Lock()
	given := h.offered != nil
	h.omu.Unlock()
	if len(ev.subs) == 0 && !ev.stateful {
		if given {
			_ = h.bind(r.s) // the Events service, for plugins that subscribe later
		}
		return nil, nil
	}
	if err := h.bind(r.s); err != nil {
		return nil, envelope.Errorf(envelope.CodeShuttingDown, "socket is shutting down")
	}
	for _, sub := range ev.subs {
		if err := h.conflict(sub); err != nil {
			return nil, envelope.Errorf(envelope.CodeInvalidParams, "subscription %q: %v", sub.Name, err)
		}
	}
	return ev, nil
}

// scanMember returns the raw member name of a handshake's params, matched
// by its exact name; nil when it is absent or null. scanHandshake has
// checked the params are an object, or null.
func scanMember(params []byte, name string) (raw []byte, err error) {
	i := jsonscan.Space(params, 0)
	if i == len(params) || params[i] != '{' {
		return nil, nil
	}
	seen := false
	jsonscan.Members(params, i, func(m jsonscan.Member) bool {
		if !jsonscan.KeyIs(params[m.Key:m.KeyEnd], name) {
			return true
		}
		if seen {
			err = fmt.Errorf("member %q appears twice", name)
			return false
		}
		seen = true
		if val := params[m.Val:m.End]; string(val) != "null" {
			raw = val
		}
		return true
	})
	return raw, err
}

// capable reports whether a handshake's capabilities set the member name
// to true.
func capable(caps []byte, name string) bool {
	found := false
	jsonscan.Members(caps, 0, func(m jsonscan.Member) bool {
		if jsonscan.KeyIs(caps[m.Key:m.KeyEnd], name) {
			found = string(caps[m.Val:m.End]) == "true"
			return false
		}
		return true
	})
	return found
}

// checkSubscription checks a subscription a plugin asks for: its name,
// its filter's bounds, and its function, which must be one of the
// plugin's sink streams.
func checkSubscription(sub envelope.Subscription, fns map[string]typedesc.Function) error {
	if err := names.Check(sub.Name); err != nil {
		return fmt.Errorf("name %q: %w", sub.Name, err)
	}
	if len(sub.Name) > maxSubscriptionName {
		return fmt.Errorf("name %q: %d bytes; at most %d allowed", sub.Name[:32]+"...", len(sub.Name), maxSubscriptionName)
	}
	f := sub.Filter
	if t := strings.TrimSuffix(f.Topic, "*"); t != "" {
		if err := eventlog.CheckTopic(t); err != nil {
			return fmt.Errorf("%q: filter: %w", sub.Name, err)
		}
	}
	for _, s := range []string{f.Type, f.Action, f.Key} {
		if len(s) > eventlog.MaxNameLen {
			return fmt.Errorf("%q: filter: a type, action or key of %d bytes; at most %d allowed", sub.Name, len(s), eventlog.MaxNameLen)
		}
	}
	if len(f.Attrs) > maxFilterAttrs {
		return fmt.Errorf("%q: filter: %d attributes; at most %d allowed", sub.Name, len(f.Attrs), maxFilterAttrs)
	}
	for k, v := range f.Attrs {
		if len(k) > eventlog.MaxNameLen || len(v) > eventlog.MaxNameLen {
			return fmt.Errorf("%q: filter: an attribute of more than %d bytes", sub.Name, eventlog.MaxNameLen)
		}
	}
	fn, ok := fns[sub.Function]
	switch {
	case !ok:
		return fmt.Errorf("%q: no function %q to deliver its events to", sub.Name, sub.Function)
	case fn.Stream == nil || fn.Stream.Shape() != "sink":
		return fmt.Errorf("%q: function %q is not a sink stream, which events are delivered through", sub.Name, sub.Function)
	}
	return nil
}

// sameFilter reports whether two filters choose the same events.
func sameFilter(a, b envelope.EventFilter) bool {
	return a.Topic == b.Topic && a.Type == b.Type && a.Action == b.Action && a.Key == b.Key && maps.Equal(a.Attrs, b.Attrs)
}

// conflict says why sub cannot join the subscription of its name, if
// it cannot: that is delivering to instances with another filter.
func (h *eventsHub) conflict(sub envelope.Subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := h.subs[sub.Name]; d != nil && d.members > 0 && !sameFilter(d.wire, sub.Filter) {
		return fmt.Errorf("%w: the subscription is held by connected plugins with another filter", ErrEvents)
	}
	return nil
}

// member is a plugin connection that takes part in subscriptions or has
// state.
type participant struct {
	r     *remote
	ev    *pluginEvents
	insts map[string]*consumer // by subscription name; guarded by the hub's mu

	snap  sync.Mutex // one snapshot at a time (state_snapshot.go)
	final bool       // the snapshot of its Unplug is taken: no more; guarded by snap
}

// join attaches a plugin that has gone live to the subscriptions it
// declared, and keeps it as a member until it is gone.
func (h *eventsHub) join(r *remote, ev *pluginEvents) {
	if h == nil || ev == nil {
		return
	}
	m, err := h.member(r, ev)
	if err != nil {
		return // the hub is closed: the socket is shutting down
	}
	for _, sub := range ev.subs {
		if err := h.attach(m, sub); err != nil {
			r.cfg.log.Warn("plugsock: subscription not joined", "plugin", r.info.Name, "subscription", sub.Name, "err", err)
		}
	}
}

// member returns r's member, made and watched if need be.
func (h *eventsHub) member(r *remote, ev *pluginEvents) (*participant, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.s == nil {
		return nil, ErrShutdown
	}
	if m := h.members[r]; m != nil {
		return m, nil
	}
	if ev == nil {
		ev = &pluginEvents{asked: r.info.Name}
	}
	m := &participant{r: r, ev: ev, insts: make(map[string]*consumer)}
	h.members[r] = m
	h.wg.Add(1)
	go h.watch(m)
	return m, nil
}

// watch takes the member's snapshots on the connection's interval, and
// forgets it once its connection is gone.
func (h *eventsHub) watch(m *participant) {
	defer h.wg.Done()
	var tick <-chan time.Time
	every := m.r.cfg.snapshotInterval
	if m.ev.stateful && every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			h.snapshot(m, "interval")
		case <-m.r.gone:
			h.mu.Lock()
			delete(h.members, m.r)
			h.mu.Unlock()
			return
		case <-h.done:
			return
		}
	}
}

// attach makes m an instance of sub, creating the subscription or
// taking it over when no connected plugin holds it.
func (h *eventsHub) attach(m *participant, sub envelope.Subscription) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrShutdown
	}
	if m.insts[sub.Name] != nil {
		h.mu.Unlock()
		return fmt.Errorf("%w: the plugin takes part in it already", ErrEvents)
	}
	if len(m.insts) >= maxPluginSubscriptions {
		h.mu.Unlock()
		return fmt.Errorf("%w: the plugin takes part in %d subscriptions, the limit", ErrEvents, maxPluginSubscriptions)
	}
	d := h.subs[sub.Name]
	var old *dispatcher
	switch {
	case d != nil && d.members > 0 && !sameFilter(d.wire, sub.Filter):
		h.mu.Unlock()
		return fmt.Errorf("%w: the subscription is held by connected plugins with another filter", ErrEvents)
	case d != nil && !sameFilter(d.wire, sub.Filter):
		old, d = d, nil // nobody holds it: it takes the new filter
		delete(h.subs, sub.Name)
	case d == nil && len(h.subs) >= maxSubscriptions:
		if !h.evictIdle() {
			h.mu.Unlock()
			return fmt.Errorf("%w: the socket holds %d subscriptions, the limit", ErrEvents, maxSubscriptions)
		}
	}
	if d == nil {
		d = newDispatcher(h, sub.Name, sub.Filter)
		h.subs[sub.Name] = d
		h.wg.Add(1)
		go d.run()
	}
	in := newConsumer(h, d, m, sub.Function)
	m.insts[sub.Name] = in
	d.members++
	h.mu.Unlock()
	if old != nil {
		old.stop()
	}
	d.join(in)
	return nil
}

// evictIdle drops one subscription no plugin holds, to make room; with
// the hub's mu held. Its offsets stay in the store.
func (h *eventsHub) evictIdle() bool {
	for name, d := range h.subs {
		if d.members == 0 {
			delete(h.subs, name)
			h.wg.Go(d.stop) // not here: it waits for the dispatcher, which may want mu
			return true
		}
	}
	return false
}

// detach forgets an instance that has ended. A subscription its last
// instance unsubscribed from ends too; its offsets stay in the store.
func (h *eventsHub) detach(in *consumer) {
	h.mu.Lock()
	if m := in.m; m.insts[in.d.name] == in {
		delete(m.insts, in.d.name)
	}
	in.d.members--
	var idle *dispatcher
	if in.d.members == 0 && in.unsubscribed.Load() && h.subs[in.d.name] == in.d {
		delete(h.subs, in.d.name)
		idle = in.d
	}
	h.mu.Unlock()
	if idle != nil {
		h.wg.Go(idle.stop) // not here: this runs on one of its instance's goroutines
	}
}

// subscribe is Events.Subscribe: the plugin called caller joins sub.
func (h *eventsHub) subscribe(caller string, sub envelope.Subscription) error {
	r, err := h.s.lookup(caller)
	if err != nil {
		return err
	}
	if err := checkSubscription(sub, r.info.Functions); err != nil {
		return fmt.Errorf("%w: %w", ErrEvents, err)
	}
	m, err := h.member(r, nil)
	if err != nil {
		return err
	}
	return h.attach(m, sub)
}

// unsubscribe is Events.Unsubscribe: the plugin's instance of the
// subscription is closed, and settles what it holds first.
func (h *eventsHub) unsubscribe(caller, name string) error {
	r, err := h.s.lookup(caller)
	if err != nil {
		return err
	}
	h.mu.Lock()
	var in *consumer
	if m := h.members[r]; m != nil {
		in = m.insts[name]
	}
	h.mu.Unlock()
	if in == nil {
		return fmt.Errorf("%w: the plugin takes no part in subscription %q", ErrEvents, name)
	}
	in.unsubscribed.Store(true)
	in.close()
	return nil
}

// eventsService is the Events host service.
type eventsService struct{ s *Socket }

// Subscribe makes the calling plugin an instance of a subscription, as
// one its handshake declares.
func (e eventsService) Subscribe(ctx context.Context, sub envelope.Subscription) (struct{}, error) {
	h, err := e.s.events()
	if err == nil {
		err = h.subscribe(PluginFrom(ctx), sub)
	}
	return struct{}{}, serviceError(err)
}

// Unsubscribe ends the calling plugin's part in a subscription; the
// subscription's offsets stay.
func (e eventsService) Unsubscribe(ctx context.Context, in envelope.UnsubscribeParams) (struct{}, error) {
	h, err := e.s.events()
	if err == nil {
		err = h.unsubscribe(PluginFrom(ctx), in.Name)
	}
	return struct{}{}, serviceError(err)
}

// Publish publishes an event to its topic, as Socket.Publish does.
func (e eventsService) Publish(ctx context.Context, ev eventlog.Event) (envelope.PublishResult, error) {
	off, err := e.s.Publish(ctx, ev.Topic, ev)
	return envelope.PublishResult{Offset: off}, serviceError(err)
}

// serviceError is the answer of the Events service for err: invalid
// params for a request it cannot take.
func serviceError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrEvents):
		return envelope.Errorf(envelope.CodeInvalidParams, "%s", strings.TrimPrefix(err.Error(), "plugsock: "))
	case errors.Is(err, ErrShutdown):
		return envelope.Errorf(envelope.CodeShuttingDown, "%v", err)
	}
	return err
}

// filterOf is the eventlog filter of a wire one.
func filterOf(f envelope.EventFilter) eventlog.Filter {
	return eventlog.Filter{Topic: f.Topic, Type: f.Type, Action: f.Action, Key: f.Key, Attrs: maps.Clone(f.Attrs)}
}

// gapEvent is the notice a subscription is delivered in place of the
// events from through through that retention dropped before it had them.
func gapEvent(topic string, from, through uint64) eventlog.Event {
	data, _ := json.Marshal(envelope.Gap{From: from, Through: through})
	return eventlog.Event{Topic: topic, Offset: through, Time: time.Now(), Type: envelope.GapType,
		Attrs: map[string]string{"from": fmt.Sprint(from), "through": fmt.Sprint(through)}, Data: data}
}
