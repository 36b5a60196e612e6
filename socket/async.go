package socket

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/plugsock/plugsock/envelope"
)

// DefaultAsyncBytes bounds the memory the async queue holds (Config's
// AsyncBytes), besides the count of items AsyncBuffer bounds.
const DefaultAsyncBytes = 64 << 20

// Async returns the next item from the plugins: data a plugin sent through
// its async hook (Name is the plugin, Payload the data as encoding/json
// decodes it into an interface value, except that a number a float64
// cannot hold, such as 1e400 or a 400-digit integer, is a json.Number
// with its exact text), or an envelope.Connected or envelope.Disconnected
// event. It blocks until there is one, and returns ErrShutdown once the
// socket is shut down and every item has been read.
//
// Items from one plugin come in the order it sent them, after its
// Connected event and before its Disconnected one. A plugin's data waits
// as the JSON it arrived as and is decoded here, by the caller. The queue
// holds Config.AsyncBuffer items and Config.AsyncBytes of memory. While it has
// room nothing waits. When it is full and the host reads Async, a
// plugin's next item waits for room up to a second, so a host that keeps
// reading loses nothing, at the cost of delaying that plugin's answers
// meanwhile. A host that has never called Async, or that has not made
// room within that second, loses items instead, and from then on nothing
// waits until it calls Async again: a host that stops reading stalls a
// plugin once, for a second, not once per item.
//
// What is lost is shared fairly. Each plugin with data queued has an
// equal share of both bounds: a plugin at or over its share loses its own
// oldest items to make room for its new ones, a plugin within its share
// takes the room of the oldest items of one over its share, so one
// plugin's flood never drops another's data. Connected and Disconnected
// events are never dropped for data: data gives way to them, and only if
// events alone, unread, fill a bound does the oldest event go. Drops are
// counted in Stats and logged once a burst.
func (s *Socket) Async() (*envelope.AsyncData, error) {
	return s.AsyncContext(context.Background())
}

// AsyncContext is Async, giving up with ctx's error when ctx ends first.
func (s *Socket) AsyncContext(ctx context.Context) (*envelope.AsyncData, error) {
	return s.async.pop(ctx, s.settings().log)
}

// asyncOverhead is what one queued item costs besides the capacity of its
// copy of the JSON: the asyncItem (96 bytes on 64-bit platforms, a size
// class of its own) and 8 bytes the allocator adds to the smallest
// copies beyond their capacity. TestAsyncMemoryIsBounded measures the
// heap per item (112 bytes for an item of one byte, counted as 104 and
// the copy's capacity of 8) and holds the heap to the bound.
const asyncOverhead = int(unsafe.Sizeof(asyncItem{})) + 8

// eventOverhead is what a connect or disconnect event costs besides the
// plugin's name and version: the PluginInfo copy and the boxed event.
const eventOverhead = asyncOverhead + int(unsafe.Sizeof(envelope.PluginInfo{})) + int(unsafe.Sizeof(envelope.Disconnected{}))

// asyncQueue holds async items between the plugins' read loops and the
// host's Async calls. It is bounded by count and by memory; see
// Socket.Async for the policy.
//
// The items form one list in arrival order, which is the order Async
// returns them in. Each plugin connection's data items form a second list
// through its asyncSource, so that when the queue is full the oldest item
// of the plugin holding more than its share can be dropped without a
// scan. Connect and disconnect events belong to no source: data gives
// way to them, never they to data.
type asyncQueue struct {
	mu       sync.Mutex
	head     *asyncItem // oldest
	tail     *asyncItem
	n        int                       // items queued
	bytes    int                       // sum of the items' sizes
	events   int                       // of which connect and disconnect events
	maxBytes int                       // the byte bound for events (setBytes)
	sources  map[*asyncSource]struct{} // sources with data queued
	reading  bool                      // the host reads Async and keeps up: a full queue waits for it
	dropped  uint64
	burst    uint64 // drops since the last time the queue had room
	closed   bool
	notEmpty chan struct{} // a token when an item may be waiting
	room     chan struct{} // closed when an item is taken; nil when nobody waits
	done     chan struct{}
}

// asyncItem is one queued item: a plugin's data (raw) or an event.
type asyncItem struct {
	prev, next *asyncItem   // the queue
	snext      *asyncItem   // the next item of the same source
	src        *asyncSource // nil for an event
	name       string
	raw        []byte // a plugin's data, exactly as it arrived
	event      any    // envelope.Connected or envelope.Disconnected
	size       int
}

// asyncSource is one plugin connection's share of the queue. It lives in
// the connection's remote and is guarded by the queue's mutex.
type asyncSource struct {
	head, tail *asyncItem
	items      int
	bytes      int
	stats      *pluginStats // where its items and drops count; set before its first item, then read-only
}

// dropped counts the drop of one of the source's items; s may be nil, an
// event's.
func (s *asyncSource) dropped() {
	if s != nil && s.stats != nil {
		s.stats.asyncOut.Add(1)
	}
}

func (q *asyncQueue) init() {
	if q.done == nil {
		q.notEmpty = make(chan struct{}, 1)
		q.done = make(chan struct{})
		q.sources = make(map[*asyncSource]struct{})
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// full reports whether an item of size does not fit. q.mu must be held.
func (q *asyncQueue) full(size, limit, maxBytes int) bool {
	return q.n >= limit || (maxBytes > 0 && q.n > 0 && q.bytes+size > maxBytes)
}

// wake wakes every push waiting for room. q.mu must be held.
func (q *asyncQueue) wake() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// push adds a connect or disconnect event. Events are never dropped to
// make room for data: a full queue drops data for them instead. They are
// bounded by the byte bound the socket's connections last set (setBytes),
// for push is not told it.
func (q *asyncQueue) push(it envelope.AsyncData, limit int, wait time.Duration, log *slog.Logger) {
	// The event gets strings of its own: the info's may be parts of a
	// larger block (the decoded handshake), which the event would pin
	// for as long as it waits.
	size := eventOverhead
	own := func(p *envelope.PluginInfo) *envelope.PluginInfo {
		if p == nil {
			return nil
		}
		size += len(p.Name) + len(p.Version)
		return &envelope.PluginInfo{Name: strings.Clone(p.Name), Version: strings.Clone(p.Version)}
	}
	it.Name = strings.Clone(it.Name)
	size += len(it.Name)
	switch ev := it.Payload.(type) {
	case envelope.Connected:
		ev.Info = own(ev.Info)
		it.Payload = ev
	case envelope.Disconnected:
		ev.Info = own(ev.Info)
		it.Payload = ev
	}
	q.mu.Lock()
	maxBytes := q.maxBytes
	q.mu.Unlock()
	q.add(&asyncItem{name: it.Name, event: it.Payload, size: size}, limit, maxBytes, wait, log)
}

// setBytes sets the byte bound for events; every connection sets it from
// the settings it starts with.
func (q *asyncQueue) setBytes(n int) {
	q.mu.Lock()
	q.maxBytes = n
	q.mu.Unlock()
}

// addData queues the JSON a plugin sent through $/async. raw is copied,
// so that the item pins no read buffer; append rounds the copy up to its
// size class, and cap counts what the copy really takes.
func (q *asyncQueue) addData(src *asyncSource, name string, raw []byte, cfg *config) {
	if len(raw) == 0 {
		raw = []byte("null")
	}
	if src.stats != nil {
		src.stats.asyncIn.Add(1)
	}
	b := append([]byte(nil), raw...)
	q.add(&asyncItem{src: src, name: name, raw: b, size: asyncOverhead + cap(b)}, cfg.asyncBuffer, cfg.asyncBytes, cfg.asyncWait, cfg.log)
}

// add adds an item. With room it never waits. When the queue is full and
// the host reads Async, it waits up to wait for room. When the host has
// never read, or has not made room in time, items are dropped to make
// room (see makeRoom); after such a timeout nothing waits until the host
// calls Async again, so a host that stops reading stalls a plugin's
// connection once, not once per item.
func (q *asyncQueue) add(it *asyncItem, limit, maxBytes int, wait time.Duration, log *slog.Logger) {
	q.mu.Lock()
	q.init()
	if q.full(it.size, limit, maxBytes) && q.reading && !q.closed {
		t := time.NewTimer(wait)
		defer t.Stop()
		for q.full(it.size, limit, maxBytes) && q.reading && !q.closed {
			if q.room == nil {
				q.room = make(chan struct{})
			}
			room := q.room
			q.mu.Unlock()
			select {
			case <-room:
				q.mu.Lock()
			case <-t.C:
				q.mu.Lock()
				if q.reading {
					q.reading = false
					log.Warn("plugsock: async queue full and not read for a while; dropping items until Async is called again",
						"limit", limit, "waited", wait)
					q.wake() // other waiting plugins stop waiting too
				}
			case <-q.done:
				q.mu.Lock()
			}
		}
	}
	if q.closed {
		q.mu.Unlock()
		return
	}
	if q.full(it.size, limit, maxBytes) {
		first := q.burst == 0
		victim := q.makeRoom(it, limit, maxBytes)
		// Still full: the plugin holds nothing more to give up and every
		// other plugin is within its share, so it is the new item that
		// does not fit. It is taken all the same when it is only too big
		// and no other data is queued, which is what lets an item larger
		// than the whole budget in.
		refused := it.src != nil && q.full(it.size, limit, maxBytes) && (q.n >= limit || q.n > q.events)
		if refused {
			q.dropped++
			q.burst++
			it.src.dropped()
			victim = cmp.Or(victim, it.name)
		}
		if first && q.burst > 0 {
			log.Warn("plugsock: async queue full, dropping items", "plugin", victim, "limit", limit, "bytes", q.bytes, "reading", q.reading)
		}
		if refused {
			q.mu.Unlock()
			return
		}
	} else if q.burst > 0 {
		log.Warn("plugsock: async queue has room again", "dropped", q.burst)
		q.burst = 0
	}
	q.append(it)
	q.mu.Unlock()
	signal(q.notEmpty)
}

// makeRoom drops items until it fits or nothing more may go, and returns
// the name of the plugin whose item it dropped first. A plugin's share is
// the bounds divided among the plugins with data queued (the new item's
// included). The new item's plugin gives up its own oldest items while it
// holds its share or more; another plugin's items go only while that
// plugin holds more than its share; so one plugin's flood never drops
// another's data. An event takes the room of the most demanding plugin's
// oldest item, and of the oldest event only when no data is left: events
// are dropped only when more of them are waiting, unread, than the
// bounds hold. q.mu must be held.
func (q *asyncQueue) makeRoom(it *asyncItem, limit, maxBytes int) (victim string) {
	for q.full(it.size, limit, maxBytes) {
		v := q.victim(it.src, limit, maxBytes)
		var gone *asyncItem
		switch {
		case v != nil:
			gone = v.head
		case it.src == nil && q.head != nil:
			gone = q.head // only events are left
		default:
			return victim
		}
		if victim == "" {
			victim = gone.name
		}
		src := gone.src
		q.remove(gone)
		src.dropped()
		q.dropped++
		q.burst++
	}
	return victim
}

// victim returns the source to drop an item of, or nil. q.mu must be held.
func (q *asyncQueue) victim(src *asyncSource, limit, maxBytes int) *asyncSource {
	n := len(q.sources)
	if src != nil && src.items == 0 {
		n++
	}
	// load is a source's use of the queue relative to its share: 1 is
	// exactly its share, in items or in bytes, whichever it uses more of.
	load := func(s *asyncSource) float64 {
		l := float64(s.items) * float64(n) / float64(limit)
		if maxBytes > 0 {
			l = max(l, float64(s.bytes)*float64(n)/float64(maxBytes))
		}
		return l
	}
	if src != nil && src.items > 0 && load(src) >= 1 {
		return src // the usual case of a flood: no scan
	}
	var best *asyncSource
	bestLoad := 1.0 // others must hold more than their share
	if src == nil {
		bestLoad = 0 // any data gives way to an event
	}
	for s := range q.sources {
		if l := load(s); s != src && l > bestLoad {
			best, bestLoad = s, l
		}
	}
	if best == nil && src != nil && src.items > 0 {
		return src
	}
	return best
}

// append adds it at the tail. q.mu must be held.
func (q *asyncQueue) append(it *asyncItem) {
	it.prev = q.tail
	if q.tail != nil {
		q.tail.next = it
	} else {
		q.head = it
	}
	q.tail = it
	q.n++
	q.bytes += it.size
	if s := it.src; s != nil {
		if s.tail != nil {
			s.tail.snext = it
		} else {
			s.head = it
			q.sources[s] = struct{}{}
		}
		s.tail = it
		s.items++
		s.bytes += it.size
	} else {
		q.events++
	}
}

// remove takes it out of the queue. it is the oldest item of its source,
// as every item taken out is. q.mu must be held.
func (q *asyncQueue) remove(it *asyncItem) {
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		q.head = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		q.tail = it.prev
	}
	q.n--
	q.bytes -= it.size
	if s := it.src; s != nil {
		s.head = it.snext
		if s.head == nil {
			s.tail = nil
			delete(q.sources, s)
		}
		s.items--
		s.bytes -= it.size
	} else {
		q.events--
	}
	it.prev, it.next, it.snext, it.src = nil, nil, nil, nil
}

func (q *asyncQueue) pop(ctx context.Context, log *slog.Logger) (*envelope.AsyncData, error) {
	for {
		q.mu.Lock()
		q.init()
		q.reading = true
		if it := q.head; it != nil {
			src := it.src
			data := src != nil
			q.remove(it)
			more := q.head != nil
			q.wake()
			q.mu.Unlock()
			if more {
				signal(q.notEmpty)
			}
			if !data {
				return &envelope.AsyncData{Name: it.name, Payload: it.event}, nil
			}
			v, err := decodeAsync(it.raw)
			if err != nil {
				// Cannot happen: the JSON was checked when it arrived and
				// decodeAsync takes every valid value. Should it, the item
				// is counted and logged rather than lost in silence.
				q.mu.Lock()
				q.dropped++
				q.mu.Unlock()
				src.dropped()
				log.Error("plugsock: async item could not be decoded; dropped", "plugin", it.name, "bytes", len(it.raw), "err", err)
				continue
			}
			return &envelope.AsyncData{Name: it.name, Payload: v}, nil
		}
		closed := q.closed
		notEmpty, done := q.notEmpty, q.done
		q.mu.Unlock()
		if closed {
			return nil, envelope.ErrShutdown
		}
		select {
		case <-notEmpty:
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// decodeAsync decodes a plugin's item the way encoding/json decodes into
// an interface value, except that a number float64 cannot hold (1e400, a
// 400-digit integer), which encoding/json refuses, becomes a json.Number
// holding its text: every valid JSON value is delivered.
func decodeAsync(raw []byte) (any, error) {
	var v any
	err := json.Unmarshal(raw, &v)
	if err == nil {
		return v, nil
	}
	if _, ok := err.(*json.UnmarshalTypeError); !ok {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	v = nil
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding with json.Number: %w", err)
	}
	return floats(v), nil
}

// floats turns the json.Numbers in v that fit a float64 into float64s, as
// encoding/json would have decoded them, and leaves the others. Its
// recursion is bounded by the nesting encoding/json accepts (10000).
func floats(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return f
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = floats(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = floats(e)
		}
	}
	return v
}

func (q *asyncQueue) close() {
	q.mu.Lock()
	q.init()
	if !q.closed {
		q.closed = true
		close(q.done)
		q.wake()
	}
	q.mu.Unlock()
}

func (q *asyncQueue) stats() (queued, bytes int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.bytes, q.dropped
}
