// Package kv is an example plugsock plugin: an in-memory key-value store
// that tells the host about every change through its async hook, and
// stamps every entry with the time by the host's clock, which it asks the
// host for. The program in the parent directory serves it over a socket;
// the plugsock command's demo runs the same type.
package kv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Info is what the store calls itself in the handshake.
const (
	Name    = "kv"
	Version = "1.0.0"
)

// ClockNow is the host service the store asks for the time: a host offers
// it by registering a type Clock with a method
//
//	func (c *Clock) Now(ctx context.Context, _ struct{}) (time.Time, error)
//
// (socket.Socket.Register), as the example host and the plugsock command do.
const ClockNow = "Clock.Now"

// Entry is one key and its value, which may be any JSON value.
type Entry struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// Stored is an entry as Get returns it, with the time it was set.
type Stored struct {
	Key   string    `json:"key"`
	Value any       `json:"value"`
	At    time.Time `json:"at"`
}

// Key names the entry Get and Delete work on.
type Key struct {
	Key string `json:"key"`
}

// Change is the async item the store pushes for every Set and Delete.
type Change struct {
	Op    string `json:"op"` // "set" or "delete"
	Key   string `json:"key"`
	Value any    `json:"value,omitempty"`
}

// Stats is what the store reports about itself.
type Stats struct {
	Keys    int   `json:"keys"`
	Changes int64 `json:"changes"`
}

// Store is the plugin. The zero value is an empty store.
type Store struct {
	hook chan any // set once by UseAsyncHook, before any call

	mu      sync.Mutex
	data    map[string]stored
	changes int64
}

type stored struct {
	value any
	at    time.Time
}

// UseAsyncHook is called by plugin.Start before the handshake with the
// channel whose items reach the host's Socket.Async. It is not a callable
// function.
func (s *Store) UseAsyncHook(hook chan any) { s.hook = hook }

// Set stores an entry, stamped with the host's time, and reports whether
// the key is new.
func (s *Store) Set(ctx context.Context, e Entry) (bool, error) {
	if e.Key == "" {
		return false, fmt.Errorf("key is empty")
	}
	// Asked before taking the lock, so that Sets do not queue behind one
	// another's round trip to the host; two Sets of one key at once may
	// therefore be stored in the other order than they were stamped.
	at, err := hostTime(ctx)
	if err != nil {
		return false, fmt.Errorf("asking the host for the time: %w", err)
	}
	s.mu.Lock()
	if s.data == nil {
		s.data = make(map[string]stored)
	}
	defer s.mu.Unlock()
	_, had := s.data[e.Key]
	s.data[e.Key] = stored{e.Value, at}
	s.changes++
	s.notify(ctx, Change{Op: "set", Key: e.Key, Value: e.Value})
	return !had, nil
}

// Get returns the entry stored under a key and when it was set, or an
// error naming the key.
func (s *Store) Get(_ context.Context, k Key) (Stored, error) {
	s.mu.Lock()
	v, ok := s.data[k.Key]
	s.mu.Unlock()
	if !ok {
		return Stored{}, fmt.Errorf("no such key: %q", k.Key)
	}
	return Stored{Key: k.Key, Value: v.value, At: v.at}, nil
}

// Delete removes a key and reports whether it was there.
func (s *Store) Delete(ctx context.Context, k Key) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, had := s.data[k.Key]
	if had {
		delete(s.data, k.Key)
		s.changes++
		s.notify(ctx, Change{Op: "delete", Key: k.Key})
	}
	return had, nil
}

// Keys returns every key, sorted.
func (s *Store) Keys(context.Context, struct{}) ([]string, error) {
	s.mu.Lock()
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	slices.Sort(keys)
	return keys, nil
}

// Stats reports the number of keys and of changes so far.
func (s *Store) Stats(context.Context, struct{}) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Keys: len(s.data), Changes: s.changes}, nil
}

// hostTime is the time by the host's clock, which it asks the host's
// Clock.Now service for: the host's rather than the store's own, so that
// stores on several machines stamp their entries by one clock. HostFrom
// is nil when the host speaks protocol 1, which has no calls to the host
// (and when Set is called directly, not by a host), and a protocol 2 host
// may offer no Clock (-32601): then the store's own clock has to do.
func hostTime(ctx context.Context) (time.Time, error) {
	h := plugin.HostFrom(ctx)
	if h == nil {
		return time.Now(), nil
	}
	var t time.Time
	err := h.Call(ctx, ClockNow, nil, &t)
	if errors.Is(err, envelope.ErrMethodNotFound) {
		return time.Now(), nil
	}
	return t, err
}

// notify pushes a change to the host. It runs under s.mu, so changes reach
// the host in the order they were made. The hook is buffered; when it is
// full the send waits, but never past the end of the call, so a store
// whose host has gone away cannot hang.
func (s *Store) notify(ctx context.Context, c Change) {
	if s.hook == nil {
		return
	}
	select {
	case s.hook <- c:
	case <-ctx.Done():
	}
}
