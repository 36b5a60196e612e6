// Package kv is an example plugsock plugin: an in-memory key-value store
// that tells the host about every change through its async hook. The
// program in the parent directory serves it over a socket; the plugsock
// command's demo runs the same type.
package kv

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Info is what the store calls itself in the handshake.
const (
	Name    = "kv"
	Version = "1.0.0"
)

// Entry is one key and its value, which may be any JSON value.
type Entry struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
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
	data    map[string]any
	changes int64
}

// UseAsyncHook is called by plugin.Start before the handshake with the
// channel whose items reach the host's Socket.Async. It is not a callable
// function.
func (s *Store) UseAsyncHook(hook chan any) { s.hook = hook }

// Set stores an entry and reports whether the key is new.
func (s *Store) Set(ctx context.Context, e Entry) (bool, error) {
	if e.Key == "" {
		return false, fmt.Errorf("key is empty")
	}
	s.mu.Lock()
	if s.data == nil {
		s.data = make(map[string]any)
	}
	defer s.mu.Unlock()
	_, had := s.data[e.Key]
	s.data[e.Key] = e.Value
	s.changes++
	s.notify(ctx, Change{Op: "set", Key: e.Key, Value: e.Value})
	return !had, nil
}

// Get returns the entry stored under a key, or an error naming the key.
func (s *Store) Get(_ context.Context, k Key) (Entry, error) {
	s.mu.Lock()
	v, ok := s.data[k.Key]
	s.mu.Unlock()
	if !ok {
		return Entry{}, fmt.Errorf("no such key: %q", k.Key)
	}
	return Entry{Key: k.Key, Value: v}, nil
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
