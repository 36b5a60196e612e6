package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// NewMemory returns a Store that keeps everything in memory, for tests and
// for a host with no data directory: nothing survives the process. It
// holds the Store's rules (see Store) with the limit DefaultMaxEventSize,
// and Trim gives the memory of what it drops back.
func NewMemory() Store {
	return &memory{
		topics: make(map[string]*memTopic),
		subs:   make(map[string]uint64),
		snaps:  make(map[string]Snapshot),
	}
}

type memory struct {
	mu     sync.RWMutex
	closed bool
	topics map[string]*memTopic
	subs   map[string]uint64
	snaps  map[string]Snapshot
}

// memTopic holds a topic's retained events, events[i] having offset
// last-len(events)+1+i.
type memTopic struct {
	events []Event
	last   uint64
}

// check returns the error a method gives before it does anything: the
// context's, or ErrClosed. Called with m.mu held.
func (m *memory) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	if m.closed {
		return ErrClosed
	}
	return nil
}

func (m *memory) Append(ctx context.Context, e *Event) error {
	if err := e.Check(DefaultMaxEventSize); err != nil {
		return err
	}
	stored := copyEvent(*e)
	if stored.Time.IsZero() {
		stored.Time = time.Now().Round(0)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	t := m.topics[e.Topic]
	if t == nil {
		t = new(memTopic)
		m.topics[e.Topic] = t
	}
	t.last++
	stored.Offset = t.last
	t.events = append(t.events, stored)
	e.Offset, e.Time = stored.Offset, stored.Time
	return nil
}

func (m *memory) Read(ctx context.Context, topic string, from uint64, limit int) ([]Event, error) {
	if err := CheckTopic(topic); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	t := m.topics[topic]
	if t == nil || limit <= 0 || len(t.events) == 0 {
		return nil, nil
	}
	first := t.last - uint64(len(t.events)) + 1
	from = max(from, first)
	if from > t.last {
		return nil, nil
	}
	events := t.events[from-first:]
	events = events[:min(len(events), limit)]
	out := make([]Event, len(events))
	for i, e := range events {
		out[i] = copyEvent(e)
	}
	return out, nil
}

func (m *memory) Bounds(ctx context.Context, topic string) (first, last uint64, err error) {
	if err := CheckTopic(topic); err != nil {
		return 0, 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return 0, 0, err
	}
	t := m.topics[topic]
	if t == nil || len(t.events) == 0 {
		return 0, 0, nil
	}
	return t.last - uint64(len(t.events)) + 1, t.last, nil
}

func (m *memory) Topics(ctx context.Context) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(m.topics)), nil
}

func (m *memory) Trim(ctx context.Context, topic string, before uint64) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	t := m.topics[topic]
	if t == nil || len(t.events) == 0 {
		return nil
	}
	first := t.last - uint64(len(t.events)) + 1
	if before <= first {
		return nil
	}
	n := int(min(before-first, uint64(len(t.events))))
	// Clear what is dropped so that its attributes and data can be
	// collected at once, and copy what is kept to a smaller array when the
	// old one would be mostly empty: appending reuses only the room after
	// the end.
	clear(t.events[:n])
	t.events = t.events[n:]
	if cap(t.events) > 4*len(t.events)+16 {
		t.events = slices.Clone(t.events)
	}
	return nil
}

func (m *memory) Commit(ctx context.Context, sub string, offset uint64) error {
	if err := CheckName(sub); err != nil {
		return fmt.Errorf("subscription: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	m.subs[sub] = offset
	return nil
}

func (m *memory) Committed(ctx context.Context, sub string) (uint64, error) {
	if err := CheckName(sub); err != nil {
		return 0, fmt.Errorf("subscription: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	return m.subs[sub], nil
}

func (m *memory) Subscriptions(ctx context.Context) (map[string]uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	return maps.Clone(m.subs), nil
}

func (m *memory) PutSnapshot(ctx context.Context, plugin string, s Snapshot) error {
	if err := CheckName(plugin); err != nil {
		return fmt.Errorf("plugin: %w", err)
	}
	if len(s.Data) > DefaultMaxEventSize {
		return fmt.Errorf("%w: snapshot of %d bytes for plugin %q, more than the limit of %d", ErrTooLarge, len(s.Data), plugin, DefaultMaxEventSize)
	}
	s.Data = bytes.Clone(s.Data)
	if s.Time.IsZero() {
		s.Time = time.Now().Round(0)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	m.snaps[plugin] = s
	return nil
}

func (m *memory) GetSnapshot(ctx context.Context, plugin string) (Snapshot, bool, error) {
	if err := CheckName(plugin); err != nil {
		return Snapshot{}, false, fmt.Errorf("plugin: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return Snapshot{}, false, err
	}
	s, ok := m.snaps[plugin]
	s.Data = bytes.Clone(s.Data)
	return s, ok, nil
}

// Close drops everything the store holds.
func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.topics, m.subs, m.snaps = nil, nil, nil
	return nil
}

// copyEvent returns e with attributes and data of its own.
func copyEvent(e Event) Event {
	e.Attrs = maps.Clone(e.Attrs)
	e.Data = bytes.Clone(e.Data)
	return e
}
