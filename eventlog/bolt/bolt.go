package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/plugsock/plugsock/eventlog"
)

// DefaultLockTimeout is how long Open waits for another process to let go
// of the file.
const DefaultLockTimeout = time.Second

// Errors of Open and of a store whose file is damaged, matchable with
// errors.Is.
var (
	// ErrLocked is Open's error when another process (or another Open in
	// this one) holds the file past the lock timeout.
	ErrLocked = errors.New("eventlog/bolt: the file is held by another process")

	// ErrCorrupt is the error for a file that is not an event log, or
	// whose contents do not decode.
	ErrCorrupt = errors.New("eventlog/bolt: corrupt event log")
)

// Option configures Open: Config is the one there is.
type Option interface{ apply(*Config) }

// Config holds the settings of a store. Its zero value means every
// default: a field left zero keeps its default.
type Config struct {
	// MaxEventSize bounds an event's Size and a snapshot's Data: Append
	// and PutSnapshot refuse larger ones with an error matching
	// eventlog.ErrTooLarge. Zero or less means eventlog.DefaultMaxEventSize;
	// it cannot exceed what bbolt stores in one value, about 2 GiB.
	MaxEventSize int

	// LockTimeout bounds how long Open waits while another process holds
	// the file, after which it fails with ErrLocked rather than hang.
	// Zero means DefaultLockTimeout; a negative value tries once.
	LockTimeout time.Duration
}

func (c Config) apply(dst *Config) {
	if c.MaxEventSize != 0 {
		dst.MaxEventSize = c.MaxEventSize
	}
	if c.LockTimeout != 0 {
		dst.LockTimeout = c.LockTimeout
	}
}

// The file's top-level buckets.
var (
	bucketMeta      = []byte("meta")      // formatKey: formatValue
	bucketTopics    = []byte("topics")    // one bucket per topic, keyed by offset; its sequence is the last offset
	bucketSubs      = []byte("subs")      // subscription: offset, eight bytes big-endian
	bucketSnapshots = []byte("snapshots") // plugin: snapshot
	formatKey       = []byte("format")
	formatValue     = []byte("plugsock eventlog 1")
)

// trimChunk bounds the deletes of one transaction of Trim, so that
// trimming a long topic does not build one huge transaction in memory.
const trimChunk = 10000

// Open opens the event log in the file at path, creating it (mode 0600)
// when it does not exist; its directory must. The store holds the
// eventlog.Store rules, and every write is synced to the disk before it
// returns, so it survives a SIGKILL of the process or a crash of the
// machine. Writes made at the same time by several goroutines share their
// transaction and its sync, which is where the file's throughput comes
// from.
//
// A file held by another process fails with ErrLocked after
// Config.LockTimeout; one that is not an event log, or that bbolt finds
// damaged, fails with ErrCorrupt.
func Open(path string, opts ...Option) (eventlog.Store, error) {
	var cfg Config
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.MaxEventSize <= 0 {
		cfg.MaxEventSize = eventlog.DefaultMaxEventSize
	}
	// Room for the encoding's lengths and time within bbolt's limit.
	cfg.MaxEventSize = min(cfg.MaxEventSize, bbolt.MaxValueSize-1<<16)
	timeout := cfg.LockTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = time.Nanosecond
	}

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      timeout,
		FreelistType: bbolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s, still after %v", ErrLocked, path, timeout)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	case err != nil:
		return nil, fmt.Errorf("eventlog/bolt: %w", err)
	}
	if err := safeUpdate(db, initFile); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &store{db: db, maxSize: cfg.MaxEventSize}, nil
}

func safeUpdate(db *bbolt.DB, fn func(*bbolt.Tx) error) (err error) {
	defer recovered(&err)
	return db.Update(fn)
}

// initFile makes the buckets of a new file, and refuses a bbolt file made
// by something else.
func initFile(tx *bbolt.Tx) error {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(formatKey); !bytes.Equal(v, formatValue) {
			return fmt.Errorf("%w: format %q, not %q", ErrCorrupt, v, formatValue)
		}
	} else {
		empty := true
		tx.ForEach(func([]byte, *bbolt.Bucket) error { empty = false; return nil })
		if !empty {
			return fmt.Errorf("%w: a bbolt file of something else", ErrCorrupt)
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(formatKey, formatValue); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketTopics, bucketSubs, bucketSnapshots} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

type store struct {
	db      *bbolt.DB
	maxSize int

	// mu is held for reading by every method and for writing by Close,
	// so that Close waits for the methods under way and those after it
	// see closed.
	mu     sync.RWMutex
	closed bool

	// The writes waiting for the next transaction, and whether a writer
	// is leading them into it (see update).
	qmu     sync.Mutex
	queue   []*pending
	leading bool
}

// How update writes; the benchmarks compare the three.
const (
	writeGroup  = iota // a transaction for the writes that queued during the one before
	writeUpdate        // a transaction per write: bbolt's Update
	writeBatch         // bbolt's Batch: wait for company up to its MaxBatchDelay
)

var writeMode = writeGroup

// begin is the start of every method: it takes s.mu for reading (release
// it with s.mu.RUnlock when err is nil) and checks ctx and Close.
func (s *store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("eventlog/bolt: %w", err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventlog.ErrClosed
	}
	return nil
}

// update runs fn in a read-write transaction, synced when it returns.
// fn may run more than once (when another write of its transaction fails,
// see commit) and must set its results afresh each time.
func (s *store) update(fn func(*bbolt.Tx) error) (err error) {
	switch writeMode {
	case writeUpdate:
		defer recovered(&err)
		return s.db.Update(fn)
	case writeBatch:
		defer recovered(&err)
		return s.db.Batch(fn)
	}
	return s.group(fn)
}
func (s *store) Append(ctx context.Context, e *eventlog.Event) error {
	if err := e.Check(s.maxSize); err != nil {
		return err
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now().Round(0)
	}
	stored := *e
	stored.Time = t
	v, err := encodeEvent(&stored)
	if err != nil {
		return fmt.Errorf("%w event on topic %q: %w", eventlog.ErrInvalid, e.Topic, err)
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var offset uint64
	err = s.update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bucketTopics).CreateBucketIfNotExists([]byte(e.Topic))
		if err != nil {
			return err
		}
		// Offsets only grow: pack the pages full instead of splitting
		// them in half.
		b.FillPercent = 1
		if offset, err = b.NextSequence(); err != nil {
			return err
		}
		return b.Put(key(offset), v)
	})
	if err != nil {
		return fmt.Errorf("eventlog/bolt: append to %q: %w", e.Topic, err)
	}
	e.Offset, e.Time = offset, t
	return nil
}

func (s *store) Read(ctx context.Context, topic string, from uint64, limit int) ([]eventlog.Event, error) {
	if err := eventlog.CheckTopic(topic); err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	var events []eventlog.Event
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTopics).Bucket([]byte(topic))
		if b == nil {
			return nil
		}
		from = max(from, 1)
		if last := b.Sequence(); from <= last {
			events = make([]eventlog.Event, 0, min(uint64(limit), last-from+1, 1024))
		}
		c := b.Cursor()
		for k, v := c.Seek(key(from)); k != nil && len(events) < limit; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("%w: topic %q: a key of %d bytes", ErrCorrupt, topic, len(k))
			}
			e, err := decodeEvent(v, topic, binary.BigEndian.Uint64(k))
			if err != nil {
				return err
			}
			events = append(events, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eventlog/bolt: read %q: %w", topic, err)
	}
	return events, nil
}

func (s *store) Bounds(ctx context.Context, topic string) (first, last uint64, err error) {
	if err := eventlog.CheckTopic(topic); err != nil {
		return 0, 0, err
	}
	if err := s.begin(ctx); err != nil {
		return 0, 0, err
	}
	defer s.mu.RUnlock()
	err = s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTopics).Bucket([]byte(topic))
		if b == nil {
			return nil
		}
		k, _ := b.Cursor().First()
		if k == nil {
			return nil
		}
		if len(k) != 8 {
			return fmt.Errorf("%w: topic %q: a key of %d bytes", ErrCorrupt, topic, len(k))
		}
		first, last = binary.BigEndian.Uint64(k), b.Sequence()
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("eventlog/bolt: bounds of %q: %w", topic, err)
	}
	return first, last, nil
}

func (s *store) Topics(ctx context.Context) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var topics []string
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTopics).ForEachBucket(func(k []byte) error {
			topics = append(topics, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("eventlog/bolt: topics: %w", err)
	}
	return topics, nil
}

func (s *store) Trim(ctx context.Context, topic string, before uint64) error {
	if err := eventlog.CheckTopic(topic); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	// Offsets are dense from the first kept to the last, so the keys to
	// delete are known without a cursor; a long trim takes several
	// transactions, each leaving a topic that is trimmed up to somewhere.
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("eventlog/bolt: trim %q: %w", topic, err)
		}
		err := s.update(func(tx *bbolt.Tx) error {
			done = true
			b := tx.Bucket(bucketTopics).Bucket([]byte(topic))
			if b == nil {
				return nil
			}
			k, _ := b.Cursor().First()
			if k == nil {
				return nil
			}
			if len(k) != 8 {
				return fmt.Errorf("%w: topic %q: a key of %d bytes", ErrCorrupt, topic, len(k))
			}
			first := binary.BigEndian.Uint64(k)
			end := min(before, b.Sequence()+1)
			if end > first+trimChunk {
				end, done = first+trimChunk, false
			}
			for o := first; o < end; o++ {
				if err := b.Delete(key(o)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("eventlog/bolt: trim %q: %w", topic, err)
		}
	}
	return nil
}

func (s *store) Commit(ctx context.Context, sub string, offset uint64) error {
	if err := eventlog.CheckName(sub); err != nil {
		return fmt.Errorf("subscription: %w", err)
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	err := s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSubs).Put([]byte(sub), key(offset))
	})
	if err != nil {
		return fmt.Errorf("eventlog/bolt: commit %q: %w", sub, err)
	}
	return nil
}

func (s *store) Committed(ctx context.Context, sub string) (uint64, error) {
	if err := eventlog.CheckName(sub); err != nil {
		return 0, fmt.Errorf("subscription: %w", err)
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var offset uint64
	err := s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketSubs).Get([]byte(sub))
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: subscription %q: an offset of %d bytes", ErrCorrupt, sub, len(v))
		}
		offset = binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("eventlog/bolt: committed %q: %w", sub, err)
	}
	return offset, nil
}

func (s *store) Subscriptions(ctx context.Context) (map[string]uint64, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	subs := make(map[string]uint64)
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSubs).ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: subscription %q: an offset of %d bytes", ErrCorrupt, k, len(v))
			}
			subs[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("eventlog/bolt: subscriptions: %w", err)
	}
	return subs, nil
}

func (s *store) PutSnapshot(ctx context.Context, plugin string, snap eventlog.Snapshot) error {
	if err := eventlog.CheckName(plugin); err != nil {
		return fmt.Errorf("plugin: %w", err)
	}
	if len(snap.Data) > s.maxSize {
		return fmt.Errorf("%w: snapshot of %d bytes for plugin %q, more than the limit of %d", eventlog.ErrTooLarge, len(snap.Data), plugin, s.maxSize)
	}
	if snap.Time.IsZero() {
		snap.Time = time.Now().Round(0)
	}
	v, err := encodeSnapshot(snap)
	if err != nil {
		return fmt.Errorf("%w snapshot of plugin %q: %w", eventlog.ErrInvalid, plugin, err)
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	err = s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSnapshots).Put([]byte(plugin), v)
	})
	if err != nil {
		return fmt.Errorf("eventlog/bolt: snapshot of %q: %w", plugin, err)
	}
	return nil
}

func (s *store) GetSnapshot(ctx context.Context, plugin string) (snap eventlog.Snapshot, ok bool, err error) {
	if err := eventlog.CheckName(plugin); err != nil {
		return eventlog.Snapshot{}, false, fmt.Errorf("plugin: %w", err)
	}
	if err := s.begin(ctx); err != nil {
		return eventlog.Snapshot{}, false, err
	}
	defer s.mu.RUnlock()
	err = s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketSnapshots).Get([]byte(plugin))
		if v == nil {
			return nil
		}
		var err error
		snap, err = decodeSnapshot(v, plugin)
		ok = err == nil
		return err
	})
	if err != nil {
		return eventlog.Snapshot{}, false, fmt.Errorf("eventlog/bolt: snapshot of %q: %w", plugin, err)
	}
	return snap, ok, nil
}

// Close waits for the methods under way and closes the file; it returns
// nil when called again.
func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("eventlog/bolt: close: %w", err)
	}
	return nil
}

// recovered turns a panic of bbolt's into an error: bbolt checks the pages
// it reads and panics on a damaged one, which must not take the host down
// with it. The transaction is rolled back by then.
func recovered(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %v", ErrCorrupt, r)
	}
}

// view runs fn in a read-only transaction.
func (s *store) view(fn func(*bbolt.Tx) error) (err error) {
	defer recovered(&err)
	return s.db.View(fn)
}
