package socket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
)

// Delivery. Each subscription has one dispatcher, a goroutine that owns
// everything about it: for each topic the subscription takes, a lane (its
// committed offset, how far its events are acknowledged, the next to
// deliver), and the instances it delivers to. Everyone else tells it
// things over its channel: the hub that an instance joins, an instance's
// goroutines how its events were settled and that it ended, Publish that
// a topic has news.
//
// An event goes to one instance with room for it (fewer than
// eventWindow unsettled), round robin, over the instance's sink stream,
// which a goroutine of the instance's own writes to: the dispatcher never
// waits on a plugin. The lane's acknowledged offset moves only past a
// contiguous run of settled events, as FireFly's does, and is committed
// to the store at most every commitEvery under load, at once otherwise.
//
// A reject, or an instance that ends with events unsettled, rewinds the
// lane to the event after the acknowledged offset: every event from there
// is delivered again, in order, so a consumer that keeps the last value
// per key still ends up right. The deliveries made before the rewind are
// of an earlier epoch; their outcomes no longer count. A lane rejected
// again and again without progress waits longer each time before it is
// redelivered, up to maxRedeliveryDelay.
//
// A subscription with an instance that has state is held: its offsets are
// committed only once that plugin's snapshot is stored (a barrier,
// state_snapshot.go), and an instance with state that ends rewinds to the
// committed offset, from which the state it restores goes on.

// commitEvery is the least time between two commits of a subscription
// under load: each costs the store a durable write (an fsync for
// eventlog/bolt), so that acknowledgements arriving faster share one. A
// variable for the measurement that chose it (events_measure_test.go).
var commitEvery = 5 * time.Millisecond

const (
	// eventWindow bounds the events delivered to one instance and not yet
	// settled: it is how many an instance holds up when it stops.
	eventWindow = 64
	// maxAhead bounds the events of a lane delivered and not yet
	// settled, or settled past one that is not: how far a subscription
	// runs ahead of an instance that holds an event without settling it.
	maxAhead = 4096
	// readBatch is how many events a lane reads at once; maxBuffered
	// bounds those read and not yet delivered, over every lane.
	readBatch   = 32
	maxBuffered = 256
	// filterBudget bounds the events a dispatcher skips as filtered out
	// before it looks at its channel again.
	filterBudget = 4096
	// The wait before events rejected are redelivered: doubled for each
	// reject in a row without progress, from minRedeliveryDelay.
	minRedeliveryDelay = 10 * time.Millisecond
	maxRedeliveryDelay = 2 * time.Second
	// storeRetry is how long a lane waits after the store failed it.
	storeRetry = 100 * time.Millisecond
)

type dispatcher struct {
	h      *eventsHub
	name   string
	wire   envelope.EventFilter // as plugins declared it; read-only
	filter eventlog.Filter
	store  eventlog.Store
	log    *slog.Logger

	members int // instances attached and not yet detached; guarded by h.mu

	in   chan func() // run on the dispatcher's goroutine
	poke chan struct{}
	pmu  sync.Mutex
	news map[string]struct{} // topics published to since the last look; guarded by pmu

	ctx     context.Context // ends when it stops
	cancel  context.CancelFunc
	quit    chan struct{}
	stopped sync.Once
	done    chan struct{}
	insts   sync.WaitGroup // the instances' goroutines

	// Owned by run.
	lanes      map[string]*lane
	order      []*lane // round robin
	li         int
	instances  []*consumer // round robin
	ii         int
	held       bool // an instance has state: commits wait for its snapshots
	buffered   int
	dirty      bool // a lane acknowledged past its committed offset
	lastCommit time.Time
	commitT    *time.Timer
	commitDue  bool
	holdT      *time.Timer
	more       bool // fill stopped for its budget, not for want of work
}

// lane is a subscription's progress through one topic; the dispatcher's.
type lane struct {
	topic    string
	key      string // its offset's name in the store (laneKey)
	floor    uint64 // below it, nothing was owed: where it began
	durable  uint64 // committed to the store
	acked    uint64 // every event up to it is settled (or filtered out), in this epoch
	cursor   uint64 // the next offset to deliver
	epoch    uint64
	out      []slot           // delivered in this epoch, from acked+1 on, by offset
	buf      []eventlog.Event // read from cursor on, not yet delivered
	dry      bool             // the store had nothing from cursor on
	rejects  int              // rewinds in a row without progress
	holdTill time.Time        // no delivery before
}

type slot struct {
	offset  uint64
	settled bool
}

// delivery is an event given to an instance: which, and in which epoch.
type delivery struct {
	l      *lane
	offset uint64
	epoch  uint64
}

func newDispatcher(h *eventsHub, name string, f envelope.EventFilter) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &dispatcher{
		h: h, name: name, wire: f, filter: filterOf(f), store: h.store,
		log: h.s.settings().log.With("subscription", name),
		in:  make(chan func(), 256), poke: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, quit: make(chan struct{}), done: make(chan struct{}),
		lanes: make(map[string]*lane),
	}
}

// send hands fn to the dispatcher's goroutine; false once it has stopped.
func (d *dispatcher) send(fn func()) bool {
	select {
	case d.in <- fn:
		return true
	case <-d.quit:
		return false
	}
}

// stop ends the dispatcher, committing what is acknowledged, and waits
// for it and its instances' goroutines.
func (d *dispatcher) stop() {
	d.stopped.Do(func() { close(d.quit) })
	<-d.done
}

// pokeTopic tells the dispatcher that topic has new events.
func (d *dispatcher) pokeTopic(topic string) {
	d.pmu.Lock()
	if d.news == nil {
		d.news = make(map[string]struct{})
	}
	d.news[topic] = struct{}{}
	d.pmu.Unlock()
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// join adds an instance, and starts its goroutines.
func (d *dispatcher) join(in *consumer) {
	if !d.send(func() {
		// An instance whose connection has ended hands its end over
		// only once its goroutine is done with its stream, and that can
		// come after the plugin has connected again. It ends here first,
		// so that what its end does (for one with state, a rewind to the
		// offset its snapshot covers) is done before the newcomer, often
		// the same plugin restored from that snapshot, is delivered
		// anything: done after, it would deliver again what the
		// newcomer had settled.
		for _, x := range slices.Clone(d.instances) {
			if err := x.m.r.conn.Err(); err != nil {
				d.ended(x, err)
			}
		}
		if len(d.instances) == 0 {
			d.resumeFromStore()
		}
		d.instances = append(d.instances, in)
		d.held = d.held || in.m.ev.stateful
		d.insts.Add(1)
		go in.run()
	}) {
		in.h.detach(in)
	}
}

func (d *dispatcher) run() {
	defer d.h.wg.Done()
	defer close(d.done)
	d.commitT = time.NewTimer(time.Hour)
	d.commitT.Stop()
	d.holdT = time.NewTimer(time.Hour)
	d.holdT.Stop()
	d.open()
	var poll <-chan time.Time
	if every := d.h.s.settings().eventPoll; every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		poll = t.C
	}
	for {
		d.fill()
		var idle <-chan time.Time
		if d.more {
			idle = closedTime
		}
		select {
		case <-poll:
			// Other hosts may have appended: look again, and for new topics.
			for _, l := range d.order {
				l.dry = false
			}
			d.open()
		case fn := <-d.in:
			fn()
			// Take what else has come before delivering again.
			for range 64 {
				select {
				case fn := <-d.in:
					fn()
					continue
				default:
				}
				break
			}
		case <-d.poke:
			d.takeNews()
		case <-d.commitT.C:
			d.commitDue = false
			d.commit()
		case <-d.holdT.C:
		case <-idle:
		case <-d.quit:
			d.finish()
			return
		}
	}
}

// closedTime is a channel always ready, for a select that must not wait.
var closedTime = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// resumeFromStore moves each lane up to the offset committed in the
// store, when that is past where the lane is: with no instance here, the
// subscription may have gone on through another host sharing the store,
// and it resumes where that one committed, not where this one last was.
func (d *dispatcher) resumeFromStore() {
	for _, l := range d.order {
		c, err := d.store.Committed(d.ctx, l.key)
		if err != nil || c <= l.acked {
			continue
		}
		l.floor, l.acked, l.durable, l.cursor = c, c, c, c+1
		l.out, l.buf, l.dry = nil, nil, false
		l.epoch++
	}
}

// open makes the lanes of the topics the store has that the filter takes.
func (d *dispatcher) open() {
	if t := d.filter.Topic; t != "" && !strings.HasSuffix(t, "*") {
		d.lane(t)
		return
	}
	ts, err := d.store.Topics(d.ctx)
	if err != nil {
		if d.ctx.Err() == nil {
			d.log.Warn("plugsock: subscription cannot list the topics; it takes those published to from now on", "err", err)
		}
		return
	}
	for _, t := range ts {
		if topicMatch(d.filter.Topic, t) {
			d.lane(t)
		}
	}
}

// lane returns the lane of topic, made from the store's committed offset
// if need be: a subscription new to a topic begins at its first event
// retained, not owed those retention dropped before.
func (d *dispatcher) lane(topic string) *lane {
	if l := d.lanes[topic]; l != nil {
		return l
	}
	l := &lane{topic: topic, key: laneKey(d.name, topic)}
	c, err := d.store.Committed(d.ctx, l.key)
	if err != nil {
		if d.ctx.Err() == nil {
			d.log.Warn("plugsock: subscription cannot read its committed offset; it waits", "topic", topic, "err", err)
		}
		return nil
	}
	if c == 0 {
		if first, _, err := d.store.Bounds(d.ctx, topic); err == nil && first > 1 {
			c = first - 1
		}
	} else {
		l.durable = c
	}
	l.floor, l.acked, l.cursor = c, c, c+1
	d.lanes[topic] = l
	d.order = append(d.order, l)
	return l
}

// takeNews marks the lanes of the topics published to as having events,
// making those of new topics.
func (d *dispatcher) takeNews() {
	d.pmu.Lock()
	news := d.news
	d.news = nil
	d.pmu.Unlock()
	for t := range news {
		if l := d.lanes[t]; l != nil {
			l.dry = false
		} else if topicMatch(d.filter.Topic, t) {
			d.lane(t)
		}
	}
}

// fill delivers what it can: the next event of the lanes in turn to the
// next instance with room, until either runs out.
func (d *dispatcher) fill() {
	d.more = false
	budget := filterBudget
	now := time.Now()
	for {
		in := d.nextInstance()
		if in == nil {
			return
		}
		l, ev, gap, ok := d.nextEvent(now, &budget)
		if !ok {
			return
		}
		d.assign(in, l, ev, gap)
	}
}

// nextInstance returns the next instance, round robin, with room for an
// event; nil when none has.
func (d *dispatcher) nextInstance() *consumer {
	n := len(d.instances)
	for k := range n {
		i := (d.ii + k) % n
		if in := d.instances[i]; in.room() {
			d.ii = i + 1
			return in
		}
	}
	return nil
}

// nextEvent returns the next event of the lanes, round robin, ready to
// be delivered: a gap notice where retention dropped some.
func (d *dispatcher) nextEvent(now time.Time, budget *int) (*lane, eventlog.Event, bool, bool) {
	n := len(d.order)
	var wake time.Time
	for k := range n {
		i := (d.li + k) % n
		l := d.order[i]
		if now.Before(l.holdTill) {
			if wake.IsZero() || l.holdTill.Before(wake) {
				wake = l.holdTill
			}
			continue
		}
		if len(l.out) >= maxAhead {
			continue
		}
		if ev, gap, ok := d.peek(l, budget); ok {
			d.li = i + 1
			return l, ev, gap, true
		}
		if *budget <= 0 {
			d.more = true
			return nil, eventlog.Event{}, false, false
		}
	}
	if !wake.IsZero() {
		d.holdT.Reset(time.Until(wake))
	}
	return nil, eventlog.Event{}, false, false
}

// peek returns the lane's next event to deliver, reading the store for
// it, skipping those the filter does not take; gap reports a gap notice,
// for events retention dropped before the lane had them.
func (d *dispatcher) peek(l *lane, budget *int) (ev eventlog.Event, gap, ok bool) {
	for {
		if len(l.buf) == 0 {
			if l.dry || !d.read(l) {
				return eventlog.Event{}, false, false
			}
		}
		e := &l.buf[0]
		switch {
		case e.Offset < l.cursor: // read before the cursor moved on; not reached
			d.pop(l)
			continue
		case e.Offset > l.cursor:
			return gapEvent(l.topic, l.cursor, e.Offset-1), true, true
		case !d.filter.Match(e):
			d.pop(l)
			l.cursor++
			d.settledTo(l)
			if *budget--; *budget <= 0 {
				return eventlog.Event{}, false, false
			}
			continue
		}
		return *e, false, true
	}
}

func (d *dispatcher) pop(l *lane) {
	l.buf[0] = eventlog.Event{}
	l.buf = l.buf[1:]
	d.buffered--
	if len(l.buf) == 0 {
		l.buf = nil
	}
}

// read fills the lane's buffer from its cursor; false when there is
// nothing to read, or the store failed (the lane then waits a moment).
func (d *dispatcher) read(l *lane) bool {
	n := min(readBatch, maxBuffered-d.buffered)
	if n <= 0 {
		return false
	}
	evs, err := d.store.Read(d.ctx, l.topic, l.cursor, n)
	if err != nil {
		if d.ctx.Err() == nil {
			d.log.Warn("plugsock: subscription cannot read its topic; retrying", "topic", l.topic, "err", err)
			l.holdTill = time.Now().Add(storeRetry)
		}
		return false
	}
	if len(evs) == 0 {
		l.dry = true
		return false
	}
	l.buf = evs
	d.buffered += len(evs)
	return true
}

// assign delivers ev, the lane's next, to in; a gap notice stands for
// the offsets up to its own.
func (d *dispatcher) assign(in *consumer, l *lane, ev eventlog.Event, gap bool) {
	if gap {
		d.log.Warn("plugsock: subscription lost events to retention; delivering a gap notice",
			"topic", l.topic, "from", l.cursor, "through", ev.Offset)
	} else {
		d.pop(l)
	}
	l.cursor = ev.Offset + 1
	l.out = append(l.out, slot{offset: ev.Offset})
	in.seq++
	in.pending[in.seq] = delivery{l: l, offset: ev.Offset, epoch: l.epoch}
	in.queue <- ev // never waits: the queue holds eventWindow, and in had room
}

// settled takes the outcome of the event in delivered as seq.
func (d *dispatcher) settled(in *consumer, seq uint64, rejected bool, reason string) {
	dl, ok := in.pending[seq]
	if !ok {
		return
	}
	delete(in.pending, seq)
	// A pause is answered only once the lane has moved past this event:
	// the barrier it hands a snapshot must cover it.
	defer in.answerPauses()
	l := dl.l
	if dl.epoch != l.epoch {
		return // delivered before a rewind: it is being delivered again
	}
	if rejected {
		d.log.Debug("plugsock: event rejected; redelivering from the acknowledged offset",
			"topic", l.topic, "offset", dl.offset, "plugin", in.m.r.info.Name, "reason", reason, "from", l.acked+1)
		d.rewind(l, l.acked+1, true)
		return
	}
	i := sort.Search(len(l.out), func(i int) bool { return l.out[i].offset >= dl.offset })
	if i < len(l.out) && l.out[i].offset == dl.offset {
		l.out[i].settled = true
	}
	d.settledTo(l)
}

// settledTo moves the lane's acknowledged offset past the contiguous run
// of settled events, and commits it in time.
func (d *dispatcher) settledTo(l *lane) {
	k := 0
	for k < len(l.out) && l.out[k].settled {
		k++
	}
	if k > 0 {
		l.out = slices.Delete(l.out, 0, k)
	}
	acked := l.cursor - 1
	if len(l.out) > 0 {
		acked = l.out[0].offset - 1
	}
	if acked <= l.acked {
		return
	}
	l.acked, l.rejects = acked, 0
	d.dirty = true
	if d.held {
		return // committed as the snapshot of its instance with state is stored
	}
	switch wait := commitEvery - time.Since(d.lastCommit); {
	case wait <= 0:
		d.commit()
	case !d.commitDue:
		d.commitDue = true
		d.commitT.Reset(wait)
	}
}

// commit commits every lane acknowledged past its committed offset.
func (d *dispatcher) commit() {
	if !d.dirty || d.held {
		return
	}
	d.dirty = false
	d.lastCommit = time.Now()
	for _, l := range d.order {
		d.commitLane(l, l.acked)
	}
}

func (d *dispatcher) commitLane(l *lane, off uint64) {
	if off <= l.durable {
		return
	}
	ctx := d.ctx
	if ctx.Err() != nil {
		// The last commit, as the dispatcher stops.
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctx = c
	}
	if err := d.store.Commit(ctx, l.key, off); err != nil {
		d.log.Warn("plugsock: subscription cannot commit its offset; it will try again", "topic", l.topic, "offset", off, "err", err)
		d.dirty = true
		return
	}
	l.durable = off
}

// rewind delivers the lane again from offset from; a reject waits first.
func (d *dispatcher) rewind(l *lane, from uint64, rejected bool) {
	l.epoch++
	l.cursor, l.acked = from, from-1
	l.out = l.out[:0]
	d.buffered -= len(l.buf)
	l.buf, l.dry = nil, false
	if rejected {
		delay := min(minRedeliveryDelay<<min(l.rejects, 16), maxRedeliveryDelay)
		l.rejects++
		l.holdTill = time.Now().Add(delay)
	}
}

// streamEnded takes the end of an instance's stream, once its outcomes
// are in: the lanes it held unsettled events of are delivered again from
// their acknowledged offsets, and the events assigned to it and not sent
// are dropped from its queue.
func (d *dispatcher) streamEnded(in *consumer, err error) {
	in.stopped = true
	lost := make(map[*lane]bool)
	for _, dl := range in.pending {
		if dl.epoch == dl.l.epoch {
			lost[dl.l] = true
		}
	}
	clear(in.pending)
	for len(in.queue) > 0 {
		<-in.queue
	}
	in.seq = 0 // the next stream numbers its items from 1
	for l := range lost {
		d.log.Info("plugsock: a subscription's stream ended with events unsettled; redelivering",
			"plugin", in.m.r.info.Name, "topic", l.topic, "from", l.acked+1, "reason", err)
		d.rewind(l, l.acked+1, false)
	}
	in.answerPauses()
}

// ended forgets an instance for good. One with state whose connection is
// gone takes its state with it: its held lanes go back to their committed
// offsets, which the snapshot its plugin restores covers, once no
// snapshot of it is under way (that one may commit them first).
func (d *dispatcher) ended(in *consumer, err error) {
	if in.gone {
		return // ended already, as another instance joined (join)
	}
	d.instances = slices.DeleteFunc(d.instances, func(x *consumer) bool { return x == in })
	d.held = slices.ContainsFunc(d.instances, func(x *consumer) bool { return x.m.ev.stateful })
	in.gone, in.stopped = true, true
	in.answerPauses()
	if in.m.ev.stateful && in.m.r.conn.Err() != nil {
		in.restate = true
		d.restate(in)
	}
	if !d.held {
		d.commit()
	}
}

// restate rewinds the lanes of a gone instance with state that are
// acknowledged past their committed offsets, once no pause holds it.
func (d *dispatcher) restate(in *consumer) {
	if !in.restate || in.paused > 0 {
		return
	}
	in.restate = false
	for _, l := range d.order {
		if l.durable < l.acked {
			from := max(l.durable, l.floor) + 1
			d.log.Info("plugsock: a subscription's plugin with state is gone; redelivering from the offset its snapshot covers",
				"plugin", in.m.r.info.Name, "topic", l.topic, "from", from)
			d.rewind(l, from, false)
		}
	}
}

// finish commits what is acknowledged and ends the instances' goroutines.
func (d *dispatcher) finish() {
	d.commit()
	d.cancel()
	d.insts.Wait()
	d.commitT.Stop()
	d.holdT.Stop()
}

// barrier is what a subscription's offsets were when an instance with
// state had settled everything it was delivered: what its snapshot
// covers.
type barrier struct {
	d       *dispatcher
	offsets map[*lane]uint64
}

// pause stops delivering to in, and once in has settled everything,
// returns the barrier; ctx bounds the wait. The caller must resume.
func (d *dispatcher) pause(ctx context.Context, in *consumer) (barrier, error) {
	reply := make(chan barrier, 1)
	if !d.send(func() {
		in.paused++
		in.waiters = append(in.waiters, reply)
		in.answerPauses()
	}) {
		return barrier{}, ErrShutdown
	}
	select {
	case b := <-reply:
		return b, nil
	case <-ctx.Done():
		return barrier{}, ctx.Err()
	case <-d.quit:
		return barrier{}, ErrShutdown
	}
}

// resume delivers to in again, after pause.
func (d *dispatcher) resume(in *consumer) {
	d.send(func() {
		in.paused--
		d.restate(in)
	})
}

// commitThrough commits a barrier's offsets, once the snapshot it was
// taken for is stored, and returns once they are: a snapshot taken is a
// snapshot committed, so that an Unplug, or Snapshot, that returned
// leaves nothing to deliver again.
func (d *dispatcher) commitThrough(b barrier) {
	done := make(chan struct{})
	if !d.send(func() {
		defer close(done)
		for l, off := range b.offsets {
			if d.lanes[l.topic] == l {
				d.commitLane(l, off)
			}
		}
	}) {
		return
	}
	select {
	case <-done:
	case <-d.quit:
	}
}

// info reports the subscription's state.
func (d *dispatcher) info(ctx context.Context) (SubscriptionInfo, error) {
	reply := make(chan SubscriptionInfo, 1)
	if !d.send(func() {
		info := SubscriptionInfo{Name: d.name, Filter: d.wire, Held: d.held, Instances: []string{}, Topics: []SubscriptionTopic{}}
		for _, in := range d.instances {
			info.Instances = append(info.Instances, in.m.r.info.Name)
		}
		slices.Sort(info.Instances)
		info.Instances = slices.Compact(info.Instances)
		for _, l := range d.order {
			t := SubscriptionTopic{Topic: l.topic, Committed: l.durable, Acked: l.acked}
			if _, last, err := d.store.Bounds(d.ctx, l.topic); err == nil {
				t.Last = last
				t.Lag = last - min(l.acked, last)
			}
			for _, s := range l.out {
				if !s.settled {
					t.InFlight++
				}
			}
			info.Topics = append(info.Topics, t)
		}
		reply <- info
	}) {
		return SubscriptionInfo{}, ErrShutdown
	}
	select {
	case info := <-reply:
		return info, nil
	case <-ctx.Done():
		return SubscriptionInfo{}, ctx.Err()
	case <-d.quit:
		return SubscriptionInfo{}, ErrShutdown
	}
}

// instance is one plugin connection's part in a subscription: its sink
// stream, opened and written by a goroutine of its own, and read for
// outcomes by another. A stream that ends while the plugin is connected
// and still subscribed (its method returned on its own, or failed) is
// opened again, after a pause that grows while it keeps ending; one the
// host closed (Unplug, Shutdown, Unsubscribe) is not.
type consumer struct {
	h  *eventsHub
	d  *dispatcher
	m  *participant
	fn string // the sink stream function

	queue        chan eventlog.Event // assigned, not yet sent
	unsubscribed atomic.Bool

	mu      sync.Mutex
	st      *envelope.Stream // the stream open; nil between streams
	closing bool             // close was called

	// Owned by the dispatcher's goroutine.
	seq     uint64 // of the last event assigned: the stream's sequence numbers
	pending map[uint64]delivery
	paused  int // pauses in force
	waiters []chan barrier
	stopped bool // no stream takes events now
	gone    bool // ended for good
	restate bool // gone with state lost: its held lanes go back to their committed offsets once no pause is in force
}

func newConsumer(h *eventsHub, d *dispatcher, m *participant, fn string) *consumer {
	return &consumer{h: h, d: d, m: m, fn: fn, queue: make(chan eventlog.Event, eventWindow),
		pending: make(map[uint64]delivery), stopped: true}
}

// room reports whether the instance takes another event now.
func (in *consumer) room() bool {
	return in.paused == 0 && !in.stopped && !in.gone && len(in.pending) < eventWindow
}

// answerPauses answers the pauses waiting once the instance holds nothing
// unsettled; on the dispatcher's goroutine.
func (in *consumer) answerPauses() {
	if len(in.waiters) == 0 || len(in.pending) > 0 && !in.gone {
		return
	}
	b := barrier{d: in.d, offsets: make(map[*lane]uint64, len(in.d.order))}
	for _, l := range in.d.order {
		b.offsets[l] = l.acked
	}
	for _, w := range in.waiters {
		w <- b
	}
	in.waiters = nil
}

// close closes the instance's stream for sending: the plugin settles what
// it holds, returns, and the instance ends.
func (in *consumer) close() {
	in.mu.Lock()
	in.closing = true
	st := in.st
	in.mu.Unlock()
	if st != nil {
		_ = st.CloseSend()
	}
	in.d.send(func() { in.stopped = true })
}

// Streams that end on their own are opened again after a pause from
// minReopenDelay, doubled each time up to maxReopenDelay.
const (
	minReopenDelay = 100 * time.Millisecond
	maxReopenDelay = 5 * time.Second
)

// run opens the instance's stream and writes its events, opening it again
// while it should; then the instance ends.
func (in *consumer) run() {
	defer in.d.insts.Done()
	r := in.m.r
	delay := minReopenDelay
	var err error
	for {
		var st *envelope.Stream
		st, err = in.open()
		if err != nil {
			break
		}
		settled := in.serve(st)
		err = st.Err()
		if !in.again() {
			break
		}
		if settled {
			delay = minReopenDelay
		}
		r.cfg.log.Warn("plugsock: a subscription's stream ended while its plugin is connected; opening it again",
			"plugin", r.info.Name, "subscription", in.d.name, "function", in.fn, "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-in.d.ctx.Done():
			t.Stop()
		}
		delay = min(2*delay, maxReopenDelay)
	}
	in.d.send(func() { in.d.ended(in, err) })
	in.h.detach(in)
}

// again reports whether a stream that ended should be opened again: the
// plugin is connected and taking calls, still subscribed, and the
// subscription goes on.
func (in *consumer) again() bool {
	r := in.m.r
	in.mu.Lock()
	closing := in.closing
	in.mu.Unlock()
	if closing || in.d.ctx.Err() != nil || r.conn.Err() != nil {
		return false
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.state.callable()
}

// serve writes the events assigned to st until it ends, and reports
// whether any was settled. The outcomes are read, and the stream's end
// handed to the dispatcher after them, by readOutcomes.
func (in *consumer) serve(st *envelope.Stream) bool {
	in.mu.Lock()
	in.st = st
	closing := in.closing
	in.mu.Unlock()
	if closing {
		_ = st.CloseSend()
	}
	outcomes := make(chan bool, 1)
	go in.readOutcomes(st, outcomes)
	if !closing {
		in.d.send(func() { in.stopped = false })
	}
	r := in.m.r
	sending := true
	for sending {
		select {
		case ev := <-in.queue:
			if _, err := st.Send(in.d.ctx, ev); err != nil {
				// Closed, or ended: what was not sent is delivered
				// again as the stream's end is taken.
				if !errors.Is(err, context.Canceled) {
					r.cfg.log.Debug("plugsock: subscription instance stopped sending", "plugin", r.info.Name, "subscription", in.d.name, "err", err)
				}
				in.d.send(func() { in.stopped = true })
				sending = false
			}
		case <-st.Done():
			sending = false
		case <-in.d.ctx.Done():
			sending = false
		}
	}
	settled := <-outcomes
	in.mu.Lock()
	in.st = nil
	in.mu.Unlock()
	return settled
}

// readOutcomes passes the stream's outcomes to the dispatcher, in order,
// and then its end, once every outcome is in; it reports whether any was
// read.
func (in *consumer) readOutcomes(st *envelope.Stream, outcomes chan<- bool) {
	any := false
	for {
		a, err := st.Acked(in.d.ctx)
		if err != nil {
			break
		}
		any = true
		if !in.d.send(func() { in.d.settled(in, a.Seq, a.Rejected, a.Reason) }) {
			break
		}
	}
	if in.d.ctx.Err() != nil {
		st.Cancel("the host is shutting down")
	}
	<-st.Done()
	err := st.Err()
	done := make(chan struct{})
	if in.d.send(func() { in.d.streamEnded(in, err); close(done) }) {
		select {
		case <-done:
		case <-in.d.quit:
		}
	}
	outcomes <- any
}

// open opens the instance's sink stream, as OpenStream does: a function
// with an input is opened with {"subscription": name}, one without with
// {}.
func (in *consumer) open() (*envelope.Stream, error) {
	r := in.m.r
	r.s.mu.Lock()
	callable := r.state.callable()
	r.s.mu.Unlock()
	if !callable {
		return nil, fmt.Errorf("plugin %q is not taking calls", r.info.Name)
	}
	fn := r.info.Functions[in.fn]
	var params any
	if fn.Input != nil || len(fn.InputSchema) > 0 {
		params = map[string]string{"subscription": in.d.name}
	}
	ctx := envelope.WithTrace(in.d.ctx, newTraceID())
	st, err := r.conn.OpenStream(ctx, in.fn, params, r.cfg.streamWindow)
	if err != nil {
		return nil, fmt.Errorf("plugsock: subscription %s: stream %s.%s: %w", in.d.name, r.info.Name, in.fn, err)
	}
	if r.stats != nil {
		r.stats.plugin.streamOpened(st, r.stats.method(in.fn))
	}
	return st, nil
}
