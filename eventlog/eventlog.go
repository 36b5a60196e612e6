package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Event is one event of a topic, as stored and as delivered.
type Event struct {
	Topic  string            `json:"topic"`
	Offset uint64            `json:"offset"`         // assigned by Append: 1, 2, 3... per topic
	Time   time.Time         `json:"time"`           // set by Append when zero
	Type   string            `json:"type,omitempty"` // Digital Rebar's type, action, key
	Action string            `json:"action,omitempty"`
	Key    string            `json:"key,omitempty"`
	Attrs  map[string]string `json:"attrs,omitempty"`
	Data   json.RawMessage   `json:"data,omitempty"`
}

// Snapshot is a plugin's latest state snapshot.
type Snapshot struct {
	Data []byte
	Time time.Time // set by PutSnapshot when zero
}

// Store is durable storage for topics, subscription offsets and snapshots.
// Every method is safe for concurrent use; a write is durable (survives a
// SIGKILL of the host) when it returns. NewMemory's store is the exception
// that keeps nothing past the process.
//
// The rules below are what package storetest checks; every Store keeps
// them:
//
//   - Append checks the event with Event.Check against the store's size
//     limit (DefaultMaxEventSize unless the store says otherwise) and
//     assigns the next offset of the topic: 1 for the first event, then
//     dense and increasing, never reused, not even after Trim dropped
//     every event. It ignores the Offset it is given and sets Time to the
//     current time when it is zero. The store keeps its own copy: changing
//     e's Attrs or Data afterwards changes nothing stored.
//   - Read returns copies of the events with offsets >= from (from 0 means
//     1), in offset order, at most limit of them; none when limit <= 0 or
//     the topic is unknown.
//   - Bounds returns the first and last offsets retained; 0, 0 when the
//     topic is unknown or holds no event.
//   - Topics returns every topic appended to, sorted, including those
//     trimmed empty.
//   - Trim drops the events with offsets < before; nothing else changes.
//   - Commit records offset as sub's, replacing the one before (lower or
//     higher: the last call wins); Committed returns it, 0 when nothing was
//     committed, and Subscriptions returns them all.
//   - PutSnapshot replaces the plugin's snapshot, refusing Data larger than
//     the size limit with ErrTooLarge and setting Time when zero;
//     GetSnapshot returns a copy and ok false when there is none.
//   - Names (topics, subscriptions, plugins) are checked with CheckName
//     (topics with CheckTopic): an invalid one is refused with an error
//     matching ErrInvalid.
//   - A method whose context is done returns ctx.Err() (wrapped) and
//     changes nothing; once Close was called every method returns an error
//     matching ErrClosed, Close itself nil.
type Store interface {
	Append(ctx context.Context, e *Event) error                                      // sets e.Offset (and e.Time when zero)
	Read(ctx context.Context, topic string, from uint64, limit int) ([]Event, error) // offsets >= from, in order, at most limit
	Bounds(ctx context.Context, topic string) (first, last uint64, err error)        // retained range; 0, 0 when empty
	Topics(ctx context.Context) ([]string, error)
	Trim(ctx context.Context, topic string, before uint64) error // drop offsets < before (retention)
	Commit(ctx context.Context, sub string, offset uint64) error // every event <= offset of sub is done
	Committed(ctx context.Context, sub string) (uint64, error)   // 0: nothing committed
	Subscriptions(ctx context.Context) (map[string]uint64, error)
	PutSnapshot(ctx context.Context, plugin string, s Snapshot) error
	GetSnapshot(ctx context.Context, plugin string) (s Snapshot, ok bool, err error)
	Close() error
}

// Errors of every Store, matchable with errors.Is.
var (
	ErrClosed   = errors.New("eventlog: store is closed")
	ErrInvalid  = errors.New("eventlog: invalid")
	ErrTooLarge = errors.New("eventlog: too large")
)

// Limits every Store applies unless it is told otherwise.
const (
	// MaxNameLen bounds the length in bytes of a topic, subscription or
	// plugin name.
	MaxNameLen = 256

	// DefaultMaxEventSize bounds an event's Size and a snapshot's Data.
	DefaultMaxEventSize = 1 << 20
)

// CheckName reports whether name may name a topic, a subscription or a
// plugin: 1 to MaxNameLen bytes of UTF-8, printable, with no space. The
// error matches ErrInvalid.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w name: empty", ErrInvalid)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w name: %d bytes, more than %d", ErrInvalid, len(name), MaxNameLen)
	}
	for i, r := range name {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
				return fmt.Errorf("%w name %q: not UTF-8", ErrInvalid, name)
			}
		}
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w name %q: %U is not printable or is a space", ErrInvalid, name, r)
		}
	}
	return nil
}

// CheckTopic is CheckName for a topic, which may not contain "*" either:
// a Filter's topic ending in "*" is a prefix, so a topic with one could
// not be asked for on its own.
func CheckTopic(topic string) error {
	if err := CheckName(topic); err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	if strings.Contains(topic, "*") {
		return fmt.Errorf("%w topic %q: \"*\" is for filters", ErrInvalid, topic)
	}
	return nil
}

// Size is what e weighs against a store's size limit: the lengths of its
// strings, of its attributes' names and values, and of its data. It is
// cheap to compute and close to what any encoding stores.
func (e *Event) Size() int {
	n := len(e.Topic) + len(e.Type) + len(e.Action) + len(e.Key) + len(e.Data)
	for k, v := range e.Attrs {
		n += len(k) + len(v)
	}
	return n
}

// Check reports whether a store may append e, given its size limit
// (DefaultMaxEventSize when maxSize <= 0): a valid topic (CheckTopic), a
// Size within the limit (else an error matching ErrTooLarge), and Data
// that is empty or one JSON value, since it is delivered as JSON.
func (e *Event) Check(maxSize int) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxEventSize
	}
	if err := CheckTopic(e.Topic); err != nil {
		return err
	}
	if n := e.Size(); n > maxSize {
		return fmt.Errorf("%w: event of %d bytes on topic %q, more than the limit of %d", ErrTooLarge, n, e.Topic, maxSize)
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return fmt.Errorf("%w event on topic %q: data is not JSON", ErrInvalid, e.Topic)
	}
	return nil
}

// Filter chooses the events of a subscription: Topic is exact or a prefix
// ending in "*" ("orders.*"); Type, Action, Key are exact when not empty;
// Attrs must all match. The zero Filter matches every event.
type Filter struct {
	Topic, Type, Action, Key string
	Attrs                    map[string]string
}

// Match reports whether e is one of f's events. An attribute of f matches
// only an attribute of e of the same name and value, present even when the
// value is empty.
func (f Filter) Match(e *Event) bool {
	if e == nil {
		return false
	}
	if prefix, ok := strings.CutSuffix(f.Topic, "*"); ok {
		if !strings.HasPrefix(e.Topic, prefix) {
			return false
		}
	} else if f.Topic != "" && f.Topic != e.Topic {
		return false
	}
	if f.Type != "" && f.Type != e.Type ||
		f.Action != "" && f.Action != e.Action ||
		f.Key != "" && f.Key != e.Key {
		return false
	}
	for k, v := range f.Attrs {
		if got, ok := e.Attrs[k]; !ok || got != v {
			return false
		}
	}
	return true
}
