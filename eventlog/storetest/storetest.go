// Package storetest is the conformance suite of eventlog.Store: every
// store runs it from its own tests, so that the host can count on the same
// rules (those of eventlog.Store's documentation) whichever one it is
// given.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) eventlog.Store {
//			s, err := bolt.Open(filepath.Join(storetest.Dir(t), "events.db"))
//			require.NoError(t, err)
//			return s
//		}, storetest.Config{Durable: true})
//	}
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/eventlog"
)

// Option configures Run: Config is the one there is.
type Option interface{ apply(*Config) }

// Config tells Run about the store under test. Its zero value describes a
// store that need not keep anything across a reopen, with the limit
// eventlog.DefaultMaxEventSize.
type Config struct {
	// Durable says that the store keeps everything across a Close and
	// another call of open with the same t; the tests of reopening then
	// require it. Without it they skip when the store comes back empty,
	// and still fail when it comes back with part of what it had.
	Durable bool

	// MaxEventSize is the store's size limit, eventlog.DefaultMaxEventSize
	// when zero: the suite appends an event of exactly that Size and one
	// byte more.
	MaxEventSize int

	// Appenders and Appends size the concurrency test: that many
	// goroutines append that many events each to one topic. Zero means 8
	// and 100.
	Appenders, Appends int
}

func (c Config) apply(dst *Config) {
	if c.Durable {
		dst.Durable = true
	}
	if c.MaxEventSize != 0 {
		dst.MaxEventSize = c.MaxEventSize
	}
	if c.Appenders != 0 {
		dst.Appenders = c.Appenders
	}
	if c.Appends != 0 {
		dst.Appends = c.Appends
	}
}

var dirs sync.Map // *testing.T: string

// Dir returns a temporary directory of t's, the same one every time it
// is called with the same t, for a factory to keep a durable store's data
// in: the reopening tests call the factory twice with one t. The directory
// is removed when t ends.
func Dir(t *testing.T) string {
	if d, ok := dirs.Load(t); ok {
		return d.(string)
	}
	d := t.TempDir()
	dirs.Store(t, d)
	t.Cleanup(func() { dirs.Delete(t) })
	return d
}

type suite struct {
	cfg  Config
	open func(t *testing.T) eventlog.Store
}

// Run runs the suite against the stores open makes, each subtest with one
// of its own: open must return an empty store the first time it is called
// with a t, and, for a durable store, the same data again when it is
// called again with that t after a Close (see Dir). Run closes every
// store it was given; open may register a Close of its own too, since a
// second Close returns nil.
func Run(t *testing.T, open func(t *testing.T) eventlog.Store, opts ...Option) {
	var cfg Config
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.MaxEventSize <= 0 {
		cfg.MaxEventSize = eventlog.DefaultMaxEventSize
	}
	if cfg.Appenders <= 0 {
		cfg.Appenders = 8
	}
	if cfg.Appends <= 0 {
		cfg.Appends = 100
	}
	s := &suite{cfg: cfg, open: open}
	for _, test := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"AppendAndRead", s.appendAndRead},
		{"Offsets", s.offsets},
		{"Copies", s.copies},
		{"ReadRange", s.readRange},
		{"TrimAndBounds", s.trimAndBounds},
		{"Topics", s.topics},
		{"Commits", s.commits},
		{"Snapshots", s.snapshots},
		{"Limits", s.limits},
		{"Names", s.names},
		{"Context", s.context},
		{"Closed", s.closed},
		{"Concurrency", s.concurrency},
		{"Retain", s.retain},
		{"Reopen", s.reopen},
	} {
		t.Run(test.name, test.run)
	}
}

// store opens a store for t and closes it when t ends.
func (s *suite) store(t *testing.T) eventlog.Store {
	t.Helper()
	st := s.open(t)
	require.NotNil(t, st, "open returned no store")
	t.Cleanup(func() { assert.NoError(t, st.Close(), "Close") })
	return st
}

func appendEvent(t *testing.T, st eventlog.Store, e eventlog.Event) eventlog.Event {
	t.Helper()
	require.NoError(t, st.Append(t.Context(), &e), "Append to %q", e.Topic)
	return e
}

func read(t *testing.T, st eventlog.Store, topic string, from uint64, limit int) []eventlog.Event {
	t.Helper()
	events, err := st.Read(t.Context(), topic, from, limit)
	require.NoError(t, err, "Read %q from %d", topic, from)
	return events
}

func bounds(t *testing.T, st eventlog.Store, topic string) [2]uint64 {
	t.Helper()
	first, last, err := st.Bounds(t.Context(), topic)
	require.NoError(t, err, "Bounds %q", topic)
	return [2]uint64{first, last}
}

func offsets(events []eventlog.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.Offset
	}
	return out
}

// equalEvent asserts that got is want as stored: times equal as instants,
// no attributes and empty attributes alike, and so for data.
func equalEvent(t *testing.T, want, got eventlog.Event, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	assert.True(t, want.Time.Equal(got.Time), "%s: time: want %v, got %v", msg, want.Time, got.Time)
	if len(want.Attrs) == 0 && len(got.Attrs) == 0 {
		want.Attrs, got.Attrs = nil, nil
	}
	if len(want.Data) == 0 && len(got.Data) == 0 {
		want.Data, got.Data = nil, nil
	}
	want.Time, got.Time = time.Time{}, time.Time{}
	assert.Equal(t, want, got, msg)
}

func (s *suite) appendAndRead(t *testing.T) {
	st := s.store(t)
	given := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
	before := time.Now()
	e1 := appendEvent(t, st, eventlog.Event{Topic: "orders", Type: "order", Action: "create", Key: "42",
		Attrs: map[string]string{"region": "eu", "tier": ""}, Data: json.RawMessage(`{"total":10,"items":["a","b"]}`)})
	after := time.Now()
	e2 := appendEvent(t, st, eventlog.Event{Topic: "orders", Time: given, Type: "order", Action: "delete", Key: "42"})
	e3 := appendEvent(t, st, eventlog.Event{Topic: "orders", Data: json.RawMessage(`"just a string"`)})

	assert.Equal(t, []uint64{1, 2, 3}, []uint64{e1.Offset, e2.Offset, e3.Offset}, "offsets")
	assert.False(t, e1.Time.Before(before.Truncate(time.Microsecond)) || e1.Time.After(after), "Append set the time %v, not within [%v, %v]", e1.Time, before, after)
	assert.True(t, e2.Time.Equal(given), "Append changed a time it was given: %v", e2.Time)

	got := read(t, st, "orders", 1, 10)
	require.Len(t, got, 3)
	for i, want := range []eventlog.Event{e1, e2, e3} {
		equalEvent(t, want, got[i], "event %d", i+1)
	}
}

func (s *suite) offsets(t *testing.T) {
	st := s.store(t)
	a1 := appendEvent(t, st, eventlog.Event{Topic: "a", Offset: 99})
	b1 := appendEvent(t, st, eventlog.Event{Topic: "b"})
	a2 := appendEvent(t, st, eventlog.Event{Topic: "a", Offset: 1})
	b2 := appendEvent(t, st, eventlog.Event{Topic: "b"})
	a3 := appendEvent(t, st, eventlog.Event{Topic: "a"})
	assert.Equal(t, []uint64{1, 2, 3}, []uint64{a1.Offset, a2.Offset, a3.Offset}, "topic a, the offsets given being ignored")
	assert.Equal(t, []uint64{1, 2}, []uint64{b1.Offset, b2.Offset}, "topic b counts on its own")
	assert.Equal(t, []uint64{1, 2, 3}, offsets(read(t, st, "a", 0, 10)))
	assert.Equal(t, []uint64{1, 2}, offsets(read(t, st, "b", 0, 10)))
}

func (s *suite) copies(t *testing.T) {
	st := s.store(t)
	e := eventlog.Event{Topic: "t", Attrs: map[string]string{"k": "v"}, Data: json.RawMessage(`[1,2,3]`)}
	require.NoError(t, st.Append(t.Context(), &e))
	e.Attrs["k"] = "changed"
	e.Attrs["new"] = "x"
	e.Data[1] = '9'

	got := read(t, st, "t", 1, 1)
	require.Len(t, got, 1)
	assert.Equal(t, map[string]string{"k": "v"}, got[0].Attrs, "the store kept the caller's map")
	assert.Equal(t, `[1,2,3]`, string(got[0].Data), "the store kept the caller's data")

	got[0].Attrs["k"] = "changed"
	got[0].Data[1] = '9'
	again := read(t, st, "t", 1, 1)
	require.Len(t, again, 1)
	assert.Equal(t, map[string]string{"k": "v"}, again[0].Attrs, "Read returned the store's own map")
	assert.Equal(t, `[1,2,3]`, string(again[0].Data), "Read returned the store's own data")
}

func (s *suite) readRange(t *testing.T) {
	st := s.store(t)
	for range 10 {
		appendEvent(t, st, eventlog.Event{Topic: "t"})
	}
	assert.Equal(t, []uint64{1, 2, 3}, offsets(read(t, st, "t", 0, 3)), "from 0 is from 1")
	assert.Equal(t, []uint64{4, 5, 6, 7}, offsets(read(t, st, "t", 4, 4)))
	assert.Equal(t, []uint64{8, 9, 10}, offsets(read(t, st, "t", 8, 100)), "the limit is at most")
	assert.Empty(t, read(t, st, "t", 11, 10), "past the last")
	assert.Empty(t, read(t, st, "t", 1<<63, 10), "far past the last")
	assert.Empty(t, read(t, st, "t", 1, 0), "limit 0")
	assert.Empty(t, read(t, st, "t", 1, -1), "a negative limit")
	assert.Empty(t, read(t, st, "unknown", 1, 10), "an unknown topic")
	assert.Len(t, read(t, st, "t", 1, int(^uint(0)>>1)), 10, "the largest limit")
}

func (s *suite) trimAndBounds(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	assert.Equal(t, [2]uint64{0, 0}, bounds(t, st, "t"), "an unknown topic")
	require.NoError(t, st.Trim(ctx, "t", 5), "Trim of an unknown topic")
	for range 10 {
		appendEvent(t, st, eventlog.Event{Topic: "t"})
	}
	assert.Equal(t, [2]uint64{1, 10}, bounds(t, st, "t"))

	require.NoError(t, st.Trim(ctx, "t", 1), "Trim before the first")
	assert.Equal(t, [2]uint64{1, 10}, bounds(t, st, "t"), "Trim(1) drops nothing")
	require.NoError(t, st.Trim(ctx, "t", 0))
	assert.Equal(t, [2]uint64{1, 10}, bounds(t, st, "t"), "Trim(0) drops nothing")

	require.NoError(t, st.Trim(ctx, "t", 4))
	assert.Equal(t, [2]uint64{4, 10}, bounds(t, st, "t"))
	assert.Equal(t, []uint64{4, 5, 6, 7, 8, 9, 10}, offsets(read(t, st, "t", 1, 100)), "Read from before the first")
	require.NoError(t, st.Trim(ctx, "t", 2), "Trim below the first")
	assert.Equal(t, [2]uint64{4, 10}, bounds(t, st, "t"), "a Trim below the first drops nothing")

	require.NoError(t, st.Trim(ctx, "t", 10))
	assert.Equal(t, [2]uint64{10, 10}, bounds(t, st, "t"))
	require.NoError(t, st.Trim(ctx, "t", 1000))
	assert.Equal(t, [2]uint64{0, 0}, bounds(t, st, "t"), "trimmed empty")
	assert.Empty(t, read(t, st, "t", 1, 100))

	e := appendEvent(t, st, eventlog.Event{Topic: "t"})
	assert.Equal(t, uint64(11), e.Offset, "an offset is never reused, even once trimmed")
	assert.Equal(t, [2]uint64{11, 11}, bounds(t, st, "t"))
	e = appendEvent(t, st, eventlog.Event{Topic: "t"})
	assert.Equal(t, uint64(12), e.Offset, "Trim past the last does not move the offsets on")
}

func (s *suite) topics(t *testing.T) {
	st := s.store(t)
	topics, err := st.Topics(t.Context())
	require.NoError(t, err)
	assert.Empty(t, topics, "a new store")
	for _, topic := range []string{"orders.paid", "a", "orders", "zeta", "orders.created"} {
		appendEvent(t, st, eventlog.Event{Topic: topic})
	}
	appendEvent(t, st, eventlog.Event{Topic: "a"})
	require.NoError(t, st.Trim(t.Context(), "zeta", 100))
	topics, err = st.Topics(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "orders", "orders.created", "orders.paid", "zeta"}, topics, "sorted, once each, the trimmed one too")
}

func (s *suite) commits(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	got, err := st.Committed(ctx, "sub")
	require.NoError(t, err)
	assert.Zero(t, got, "nothing committed")
	subs, err := st.Subscriptions(ctx)
	require.NoError(t, err)
	assert.Empty(t, subs)

	require.NoError(t, st.Commit(ctx, "sub", 5))
	require.NoError(t, st.Commit(ctx, "other", 1<<40))
	got, err = st.Committed(ctx, "sub")
	require.NoError(t, err)
	assert.Equal(t, uint64(5), got)
	require.NoError(t, st.Commit(ctx, "sub", 3))
	got, err = st.Committed(ctx, "sub")
	require.NoError(t, err)
	assert.Equal(t, uint64(3), got, "the last Commit wins, lower too")

	subs, err = st.Subscriptions(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"sub": 3, "other": 1 << 40}, subs)
	subs["sub"] = 100
	delete(subs, "other")
	subs, err = st.Subscriptions(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"sub": 3, "other": 1 << 40}, subs, "Subscriptions returned the store's own map")
}

func (s *suite) snapshots(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	_, ok, err := st.GetSnapshot(ctx, "calc")
	require.NoError(t, err)
	assert.False(t, ok, "no snapshot yet")

	data := []byte(`{"count":1}`)
	before := time.Now()
	require.NoError(t, st.PutSnapshot(ctx, "calc", eventlog.Snapshot{Data: data}))
	data[2] = 'X'
	snap, ok, err := st.GetSnapshot(ctx, "calc")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, `{"count":1}`, string(snap.Data), "the store kept the caller's bytes")
	assert.False(t, snap.Time.Before(before.Truncate(time.Microsecond)), "PutSnapshot set the time: %v", snap.Time)
	snap.Data[2] = 'X'

	given := time.Date(2023, 1, 2, 3, 4, 5, 6, time.UTC)
	require.NoError(t, st.PutSnapshot(ctx, "calc", eventlog.Snapshot{Data: []byte("binary\x00\xff"), Time: given}))
	snap, ok, err = st.GetSnapshot(ctx, "calc")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "binary\x00\xff", string(snap.Data), "replaced, bytes as given")
	assert.True(t, snap.Time.Equal(given), "time: %v", snap.Time)

	require.NoError(t, st.PutSnapshot(ctx, "empty", eventlog.Snapshot{}))
	snap, ok, err = st.GetSnapshot(ctx, "empty")
	require.NoError(t, err)
	assert.True(t, ok, "an empty snapshot is one")
	assert.Empty(t, snap.Data)

	_, ok, err = st.GetSnapshot(ctx, "other")
	require.NoError(t, err)
	assert.False(t, ok, "one plugin's snapshot is not another's")
}

func (s *suite) limits(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	limit := s.cfg.MaxEventSize
	// Size counts the topic, the type and the data: fill the data to
	// reach the limit exactly, with a JSON string.
	fill := func(size int) eventlog.Event {
		e := eventlog.Event{Topic: "big", Type: "t"}
		n := size - e.Size() - 2
		e.Data = json.RawMessage(`"` + strings.Repeat("x", n) + `"`)
		require.Equal(t, size, e.Size())
		return e
	}
	e := fill(limit + 1)
	err := st.Append(ctx, &e)
	require.ErrorIs(t, err, eventlog.ErrTooLarge, "an event of the limit and one byte")
	assert.Equal(t, [2]uint64{0, 0}, bounds(t, st, "big"), "a refused event is not stored")

	e = fill(limit)
	require.NoError(t, st.Append(ctx, &e), "an event of the limit")
	got := read(t, st, "big", 1, 1)
	require.Len(t, got, 1)
	assert.Equal(t, limit, got[0].Size(), "the event at the limit came back whole")

	big := eventlog.Event{Topic: "big", Attrs: map[string]string{"k": strings.Repeat("v", limit)}}
	require.ErrorIs(t, st.Append(ctx, &big), eventlog.ErrTooLarge, "attributes count")

	bad := eventlog.Event{Topic: "t", Data: json.RawMessage(`{"unfinished":`)}
	require.ErrorIs(t, st.Append(ctx, &bad), eventlog.ErrInvalid, "data that is not JSON")
	assert.Equal(t, [2]uint64{0, 0}, bounds(t, st, "t"))

	require.ErrorIs(t, st.PutSnapshot(ctx, "p", eventlog.Snapshot{Data: make([]byte, limit+1)}), eventlog.ErrTooLarge, "a snapshot over the limit")
	_, ok, err := st.GetSnapshot(ctx, "p")
	require.NoError(t, err)
	assert.False(t, ok, "a refused snapshot is not stored")
	require.NoError(t, st.PutSnapshot(ctx, "p", eventlog.Snapshot{Data: make([]byte, limit)}), "a snapshot of the limit")
}

func (s *suite) names(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	for _, name := range []string{"", strings.Repeat("n", eventlog.MaxNameLen+1), "a b", "tab\t", "nul\x00", "\xff\xfe", "new\nline", "nbsp\u00a0"} {
		e := eventlog.Event{Topic: name}
		assert.ErrorIs(t, st.Append(ctx, &e), eventlog.ErrInvalid, "Append to %q", name)
		_, err := st.Read(ctx, name, 1, 1)
		assert.ErrorIs(t, err, eventlog.ErrInvalid, "Read %q", name)
		_, _, err = st.Bounds(ctx, name)
		assert.ErrorIs(t, err, eventlog.ErrInvalid, "Bounds %q", name)
		assert.ErrorIs(t, st.Trim(ctx, name, 1), eventlog.ErrInvalid, "Trim %q", name)
		assert.ErrorIs(t, st.Commit(ctx, name, 1), eventlog.ErrInvalid, "Commit %q", name)
		_, err = st.Committed(ctx, name)
		assert.ErrorIs(t, err, eventlog.ErrInvalid, "Committed %q", name)
		assert.ErrorIs(t, st.PutSnapshot(ctx, name, eventlog.Snapshot{}), eventlog.ErrInvalid, "PutSnapshot %q", name)
		_, _, err = st.GetSnapshot(ctx, name)
		assert.ErrorIs(t, err, eventlog.ErrInvalid, "GetSnapshot %q", name)
	}
	e := eventlog.Event{Topic: "orders.*"}
	assert.ErrorIs(t, st.Append(ctx, &e), eventlog.ErrInvalid, "a topic with a *")
	topics, err := st.Topics(ctx)
	require.NoError(t, err)
	assert.Empty(t, topics, "nothing refused made a topic")

	for _, name := range []string{strings.Repeat("n", eventlog.MaxNameLen), "x", "orders.créées/€", "a-b_c:d|e>f", "本"} {
		e := appendEvent(t, st, eventlog.Event{Topic: name})
		assert.Equal(t, []uint64{e.Offset}, offsets(read(t, st, name, 1, 10)), "topic %q", name)
		sub := name + "*" // a subscription's name may have one
		if len(sub) > eventlog.MaxNameLen {
			sub = name
		}
		require.NoError(t, st.Commit(ctx, sub, 7), "subscription %q", sub)
		got, err := st.Committed(ctx, sub)
		require.NoError(t, err)
		assert.Equal(t, uint64(7), got)
		require.NoError(t, st.PutSnapshot(ctx, name, eventlog.Snapshot{Data: []byte(name)}), "plugin %q", name)
		snap, ok, err := st.GetSnapshot(ctx, name)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, name, string(snap.Data))
	}
}

func (s *suite) context(t *testing.T) {
	st := s.store(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e := eventlog.Event{Topic: "t"}
	assert.ErrorIs(t, st.Append(ctx, &e), context.Canceled, "Append")
	assert.ErrorIs(t, st.Commit(ctx, "sub", 1), context.Canceled, "Commit")
	assert.ErrorIs(t, st.PutSnapshot(ctx, "p", eventlog.Snapshot{Data: []byte("x")}), context.Canceled, "PutSnapshot")
	_, err := st.Read(ctx, "t", 1, 1)
	assert.ErrorIs(t, err, context.Canceled, "Read")
	_, err = st.Topics(ctx)
	assert.ErrorIs(t, err, context.Canceled, "Topics")

	assert.Equal(t, [2]uint64{0, 0}, bounds(t, st, "t"), "a cancelled Append stored nothing")
	got, err := st.Committed(t.Context(), "sub")
	require.NoError(t, err)
	assert.Zero(t, got, "a cancelled Commit stored nothing")
	_, ok, err := st.GetSnapshot(t.Context(), "p")
	require.NoError(t, err)
	assert.False(t, ok, "a cancelled PutSnapshot stored nothing")
}

func (s *suite) closed(t *testing.T) {
	st := s.open(t)
	require.NotNil(t, st)
	ctx := t.Context()
	appendEvent(t, st, eventlog.Event{Topic: "t"})
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "a second Close")

	e := eventlog.Event{Topic: "t"}
	assert.ErrorIs(t, st.Append(ctx, &e), eventlog.ErrClosed, "Append")
	_, err := st.Read(ctx, "t", 1, 1)
	assert.ErrorIs(t, err, eventlog.ErrClosed, "Read")
	_, _, err = st.Bounds(ctx, "t")
	assert.ErrorIs(t, err, eventlog.ErrClosed, "Bounds")
	_, err = st.Topics(ctx)
	assert.ErrorIs(t, err, eventlog.ErrClosed, "Topics")
	assert.ErrorIs(t, st.Trim(ctx, "t", 2), eventlog.ErrClosed, "Trim")
	assert.ErrorIs(t, st.Commit(ctx, "s", 1), eventlog.ErrClosed, "Commit")
	_, err = st.Committed(ctx, "s")
	assert.ErrorIs(t, err, eventlog.ErrClosed, "Committed")
	_, err = st.Subscriptions(ctx)
	assert.ErrorIs(t, err, eventlog.ErrClosed, "Subscriptions")
	assert.ErrorIs(t, st.PutSnapshot(ctx, "p", eventlog.Snapshot{}), eventlog.ErrClosed, "PutSnapshot")
	_, _, err = st.GetSnapshot(ctx, "p")
	assert.ErrorIs(t, err, eventlog.ErrClosed, "GetSnapshot")
}

// concurrency has appenders append at once to one topic while others
// read, commit and append elsewhere: the offsets must come out dense and
// unique, each writer's in the order it appended them, and every event
// readable at the offset its Append returned.
func (s *suite) concurrency(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	writers, each := s.cfg.Appenders, s.cfg.Appends
	type origin struct{ writer, n int }
	got := make([][]uint64, writers)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for n := range each {
				e := eventlog.Event{Topic: "shared", Key: fmt.Sprint(w),
					Data: json.RawMessage(fmt.Sprintf(`{"w":%d,"n":%d}`, w, n))}
				if !assert.NoError(t, st.Append(ctx, &e)) {
					return
				}
				got[w] = append(got[w], e.Offset)
			}
		})
	}
	// Readers see a dense, ordered prefix of the topic whenever they look;
	// a committer and an appender to another topic run alongside.
	var side sync.WaitGroup
	side.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			events, err := st.Read(ctx, "shared", 1, writers*each)
			if !assert.NoError(t, err) {
				return
			}
			for i, e := range events {
				if !assert.Equal(t, uint64(i+1), e.Offset, "a reader saw a gap") {
					return
				}
			}
			first, last, err := st.Bounds(ctx, "shared")
			if !assert.NoError(t, err) {
				return
			}
			assert.True(t, first <= 1 && last >= uint64(len(events)), "Bounds %d, %d behind a Read of %d", first, last, len(events))
		}
	})
	side.Go(func() {
		for i := uint64(1); ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if !assert.NoError(t, st.Commit(ctx, "sub", i)) {
				return
			}
			e := eventlog.Event{Topic: "other"}
			if !assert.NoError(t, st.Append(ctx, &e)) || !assert.Equal(t, i, e.Offset, "the other topic") {
				return
			}
		}
	})
	wg.Wait()
	close(done)
	side.Wait()
	require.False(t, t.Failed())

	seen := make(map[uint64]origin, writers*each)
	for w, offs := range got {
		require.Len(t, offs, each, "writer %d", w)
		for n, o := range offs {
			if prev, dup := seen[o]; dup {
				require.Failf(t, "an offset given twice", "offset %d to writer %d and writer %d", o, prev.writer, w)
			}
			seen[o] = origin{w, n}
			if n > 0 {
				require.Greater(t, o, offs[n-1], "writer %d's offsets go up", w)
			}
		}
	}
	events := read(t, st, "shared", 1, writers*each+10)
	require.Len(t, events, writers*each)
	for i, e := range events {
		require.Equal(t, uint64(i+1), e.Offset, "dense from 1")
		o := seen[e.Offset]
		require.Equal(t, fmt.Sprint(o.writer), e.Key, "offset %d", e.Offset)
		require.JSONEq(t, fmt.Sprintf(`{"w":%d,"n":%d}`, o.writer, o.n), string(e.Data), "offset %d", e.Offset)
	}
	assert.Equal(t, [2]uint64{1, uint64(writers * each)}, bounds(t, st, "shared"))
}

func (s *suite) retain(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	require.NoError(t, eventlog.Retain(ctx, st, "none", time.Hour, 10), "an unknown topic")

	for range 10 {
		appendEvent(t, st, eventlog.Event{Topic: "count"})
	}
	require.NoError(t, eventlog.Retain(ctx, st, "count", 0, 0))
	assert.Equal(t, [2]uint64{1, 10}, bounds(t, st, "count"), "no limits")
	require.NoError(t, eventlog.Retain(ctx, st, "count", 0, 20))
	assert.Equal(t, [2]uint64{1, 10}, bounds(t, st, "count"), "under the count")
	require.NoError(t, eventlog.Retain(ctx, st, "count", 0, 4))
	assert.Equal(t, [2]uint64{7, 10}, bounds(t, st, "count"), "the latest 4")
	require.NoError(t, eventlog.Retain(ctx, st, "count", 0, 4))
	assert.Equal(t, [2]uint64{7, 10}, bounds(t, st, "count"), "again: nothing more")

	now := time.Now()
	for _, age := range []time.Duration{50, 40, 30, 30, 20, 10, 0} {
		appendEvent(t, st, eventlog.Event{Topic: "age", Time: now.Add(-age * time.Minute)})
	}
	require.NoError(t, eventlog.Retain(ctx, st, "age", time.Hour, 0))
	assert.Equal(t, [2]uint64{1, 7}, bounds(t, st, "age"), "all younger than an hour")
	require.NoError(t, eventlog.Retain(ctx, st, "age", 35*time.Minute, 0))
	assert.Equal(t, [2]uint64{3, 7}, bounds(t, st, "age"), "the ones of 50 and 40 minutes go")
	require.NoError(t, eventlog.Retain(ctx, st, "age", 25*time.Minute, 4))
	assert.Equal(t, [2]uint64{5, 7}, bounds(t, st, "age"), "age keeps fewer than count")
	require.NoError(t, eventlog.Retain(ctx, st, "age", time.Hour, 2))
	assert.Equal(t, [2]uint64{6, 7}, bounds(t, st, "age"), "count keeps fewer than age")
	require.NoError(t, eventlog.Retain(ctx, st, "age", time.Second, 0))
	assert.Equal(t, [2]uint64{7, 7}, bounds(t, st, "age"), "only the newest is younger than a second")
}

// reopen closes a store and opens it again: a durable store comes back
// with everything, and goes on with the offsets where it was.
func (s *suite) reopen(t *testing.T) {
	ctx := t.Context()
	st := s.open(t)
	require.NotNil(t, st)
	var want []eventlog.Event
	for i := range 5 {
		want = append(want, appendEvent(t, st, eventlog.Event{Topic: "kept", Type: "t", Key: fmt.Sprint(i),
			Attrs: map[string]string{"i": fmt.Sprint(i)}, Data: json.RawMessage(fmt.Sprint(i))}))
	}
	require.NoError(t, st.Trim(ctx, "kept", 3))
	appendEvent(t, st, eventlog.Event{Topic: "gone"})
	appendEvent(t, st, eventlog.Event{Topic: "gone"})
	require.NoError(t, st.Trim(ctx, "gone", 10))
	require.NoError(t, st.Commit(ctx, "sub", 4))
	snapTime := time.Date(2025, 2, 3, 4, 5, 6, 7, time.UTC)
	require.NoError(t, st.PutSnapshot(ctx, "p", eventlog.Snapshot{Data: []byte("state"), Time: snapTime}))
	require.NoError(t, st.Close())

	st = s.store(t)
	topics, err := st.Topics(ctx)
	require.NoError(t, err)
	subs, err := st.Subscriptions(ctx)
	require.NoError(t, err)
	snap, ok, err := st.GetSnapshot(ctx, "p")
	require.NoError(t, err)
	if !s.cfg.Durable && len(topics) == 0 && len(subs) == 0 && !ok {
		t.Skip("the store keeps nothing across a reopen")
	}
	assert.Equal(t, []string{"gone", "kept"}, topics)
	assert.Equal(t, map[string]uint64{"sub": 4}, subs)
	require.True(t, ok, "the snapshot")
	assert.Equal(t, "state", string(snap.Data))
	assert.True(t, snap.Time.Equal(snapTime), "snapshot time %v", snap.Time)
	assert.Equal(t, [2]uint64{3, 5}, bounds(t, st, "kept"))
	assert.Equal(t, [2]uint64{0, 0}, bounds(t, st, "gone"))
	got := read(t, st, "kept", 1, 10)
	require.Len(t, got, 3)
	for i, e := range got {
		equalEvent(t, want[i+2], e, "offset %d", e.Offset)
	}
	assert.Equal(t, uint64(6), appendEvent(t, st, eventlog.Event{Topic: "kept"}).Offset, "offsets go on")
	assert.Equal(t, uint64(3), appendEvent(t, st, eventlog.Event{Topic: "gone"}).Offset, "offsets go on after a topic trimmed empty")
}
