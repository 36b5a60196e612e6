// Package natsstore is an eventlog.Store on NATS JetStream, for plugsock
// hosts that share their events: every host opened on the same NATS
// system with the same Prefix sees the same topics, offsets, commits and
// snapshots, so a plugin may reconnect to any host and resume where its
// subscription left off.
//
// It lives in a module of its own so that the core's dependencies stay
// free of NATS.
//
// # Layout
//
// Each topic is a stream of its own, whose sequence is the topic's offset:
// JetStream assigns it, dense and increasing, under the stream's leader,
// so hosts never need to agree on a counter, and Trim is a purge up to a
// sequence, which leaves the next offset where it was. The streams are
// named <prefix>_topic_<hash> and take the one subject
// <prefix>.topic.<hash>, the hash being 128 bits of the topic's SHA-256
// (a topic may hold characters a stream name may not); the topic itself
// is in the stream's metadata under "plugsock.topic", and its
// description.
//
// Commits are a key-value bucket, <prefix>_commits: the key is the
// subscription's name with every byte but letters, digits, '-' and '_'
// written as "=XX", the value the offset in decimal.
//
// Snapshots are the stream <prefix>_snapshots: a head message per
// plugin on <prefix>.snapshot.<name>.head, holding the data when it fits
// in one message and otherwise pointing to chunks published before it,
// so that a snapshot is replaced whole or not at all.
//
// Reads are direct gets in batches (nats-server 2.11 or later): one
// request, no consumer.
//
// # Durability and limits
//
// A write returns once JetStream acknowledged it: stored by the stream's
// replicas, which a SIGKILL of the host cannot undo. Whether it survives
// a crash of the NATS server's machine as well is the server's to say
// (its sync_interval, and Replicas here). A direct get may be answered
// by a replica that is a moment behind its leader: in a cluster, a Read
// just after an Append on another host can miss the newest events, which
// the next Read finds.
//
// An event is one message, so it must fit the server's max_payload
// (1 MiB by default) once encoded, headers included: run nats-server with
// max_payload of at least 2 MiB to append events as large as
// eventlog.DefaultMaxEventSize, or set Config.MaxEventSize lower. An
// Append that does not fit fails with an error matching
// eventlog.ErrTooLarge and stores nothing. Snapshots are chunked: only
// Config.MaxSnapshotSize bounds them.
//
// An Append that fails for want of an acknowledgement (a timeout, a lost
// connection) may still have stored its event: delivery is at least once.
// Appends carry no Nats-Msg-Id, since Append never publishes one event
// twice, and the server would otherwise remember every id for the
// stream's duplicate window.
package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plugsock/plugsock/eventlog"
)

// ErrCorrupt is matched by the error a method returns when a message it
// reads does not decode: written by something else, or damaged.
var ErrCorrupt = errors.New("natsstore: corrupt message")

// Defaults for the settings of Config.
const (
	DefaultPrefix       = "plugsock"
	DefaultTimeout      = 10 * time.Second
	DefaultMaxReadBytes = 8 << 20
)

// topicMetadata is the key of a topic stream's metadata that holds the
// topic.
const topicMetadata = "plugsock.topic"

// Option configures Open and Dial: Config is the one there is.
type Option interface{ apply(*config) }

// Config holds a store's settings. Its zero value means every default: a
// field left zero keeps its default. Hosts that share a store must agree
// on Prefix; the other settings apply to what this store creates and
// reads.
type Config struct {
	// Prefix starts the name of every stream, bucket and subject the store
	// uses, so that several stores can share one NATS account: 1 to 32
	// letters, digits, '-' or '_'. Empty means DefaultPrefix.
	Prefix string

	// Replicas is the number of servers each stream and bucket the store
	// creates is kept on; zero means 1. A cluster should use 3, so that a
	// server's loss loses nothing acknowledged.
	Replicas int

	// Storage is where the streams the store creates keep their messages:
	// the zero value, jetstream.FileStorage, survives a restart of the
	// server; jetstream.MemoryStorage does not.
	Storage jetstream.StorageType

	// MaxEventSize bounds an event's Size (eventlog.Event.Size); zero or
	// less means eventlog.DefaultMaxEventSize. The server's max_payload
	// bounds the encoded event too (see the package documentation).
	MaxEventSize int

	// MaxSnapshotSize bounds a snapshot's Data; zero or less means
	// eventlog.DefaultMaxEventSize. GetSnapshot refuses a stored snapshot
	// larger than that, so that a store sharing the streams with a larger
	// limit cannot make this one allocate more than it allows.
	MaxSnapshotSize int

	// MaxReadBytes bounds the memory one Read gathers: once its events
	// reach that many bytes it returns those it has, fewer than limit but
	// always at least one when one is there. Zero or less means
	// DefaultMaxReadBytes.
	MaxReadBytes int

	// Timeout bounds every call whose context has no deadline of its own,
	// and Open's and Dial's setting up. Zero or less means DefaultTimeout.
	Timeout time.Duration
}

func (c Config) apply(cfg *config) {
	if c.Prefix != "" {
		cfg.prefix = c.Prefix
	}
	if c.Replicas > 0 {
		cfg.replicas = c.Replicas
	}
	if c.Storage != jetstream.FileStorage {
		cfg.storage = c.Storage
	}
	if c.MaxEventSize > 0 {
		cfg.maxEvent = c.MaxEventSize
	}
	if c.MaxSnapshotSize > 0 {
		cfg.maxSnapshot = c.MaxSnapshotSize
	}
	if c.MaxReadBytes > 0 {
		cfg.maxRead = c.MaxReadBytes
	}
	if c.Timeout > 0 {
		cfg.timeout = c.Timeout
	}
}

type config struct {
	prefix      string
	replicas    int
	storage     jetstream.StorageType
	maxEvent    int
	maxSnapshot int
	maxRead     int
	timeout     time.Duration
}

func defaults() config {
	return config{
		prefix:      DefaultPrefix,
		replicas:    1,
		storage:     jetstream.FileStorage,
		maxEvent:    eventlog.DefaultMaxEventSize,
		maxSnapshot: eventlog.DefaultMaxEventSize,
		maxRead:     DefaultMaxReadBytes,
		timeout:     DefaultTimeout,
	}
}

// Dial connects to the NATS server at url (nats.Connect's, with its
// defaults) and opens a store on that connection, which Close closes.
// For credentials, TLS or other connection options, connect with nats.go
// and call Open.
func Dial(url string, opts ...Option) (eventlog.Store, error) {
	nc, err := nats.Connect(url, nats.Name("plugsock natsstore"))
	if err != nil {
		return nil, fmt.Errorf("natsstore: connecting to %s: %w", url, err)
	}
	s, err := open(nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.ownConn = true
	return s, nil
}

// Open returns a store on nc, creating the commits bucket and the
// snapshots stream when they do not exist yet; topics' streams are
// created by their first Append. nc stays the caller's: Close leaves it
// open.
func Open(nc *nats.Conn, opts ...Option) (eventlog.Store, error) {
	if nc == nil {
		return nil, errors.New("natsstore: Open: no connection")
	}
	return open(nc, opts)
}

func open(nc *nats.Conn, opts []Option) (*store, error) {
	cfg := defaults()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if !validPrefix(cfg.prefix) {
		return nil, fmt.Errorf("natsstore: Open: prefix %q: want 1 to 32 letters, digits, '-' or '_'", cfg.prefix)
	}
	if v := nc.ConnectedServerVersion(); !serverAtLeast(v, 2, 11) {
		// Older servers answer a batched direct get with one message and
		// no end of batch: every Read would wait out its timeout.
		return nil, fmt.Errorf("natsstore: Open: nats-server %q: want 2.11 or later, for batched direct gets", v)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(cfg.timeout))
	if err != nil {
		return nil, fmt.Errorf("natsstore: Open: %w", err)
	}
	s := &store{
		cfg:       cfg,
		nc:        nc,
		js:        js,
		apiPrefix: jetstream.DefaultAPIPrefix,
		known:     make(map[string]bool),
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()

	kvc := jetstream.KeyValueConfig{
		Bucket:      s.commitsBucket(),
		Description: "plugsock: subscriptions' committed offsets",
		History:     1,
		Storage:     cfg.storage,
		Replicas:    cfg.replicas,
	}
	s.commits, err = js.CreateKeyValue(ctx, kvc)
	if errors.Is(err, jetstream.ErrBucketExists) {
		// Another host made it, maybe with other replicas: use it as it is.
		s.commits, err = js.KeyValue(ctx, kvc.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("natsstore: Open: bucket %s: %w", kvc.Bucket, err)
	}
	if s.snapshots, err = s.ensureStream(ctx, s.snapshotConfig(), ""); err != nil {
		return nil, fmt.Errorf("natsstore: Open: %w", err)
	}
	return s, nil
}

// serverAtLeast reports whether version, a server's "2.12.3" or
// "2.12.3-beta.1", is at least major.minor.
func serverAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (maj > major || maj == major && mnr >= minor)
}

func validPrefix(p string) bool {
	return len(p) <= 32 && validToken(p)
}

// store is the Store. Every method runs between begin and its end, which
// Close waits for.
type store struct {
	cfg       config
	nc        *nats.Conn
	ownConn   bool
	js        jetstream.JetStream
	apiPrefix string
	commits   jetstream.KeyValue
	snapshots jetstream.Stream

	// ctx is done, with ErrClosed, once Close was called: it cuts short
	// the calls under way.
	ctx    context.Context
	cancel context.CancelCauseFunc
	closed atomic.Bool
	calls  sync.RWMutex // read-held by every call, write-held by Close

	mu    sync.Mutex
	known map[string]bool // topics whose streams were made or found
}

// maxKnown bounds the memory of topics known to have streams: past it the
// store forgets them all and asks the server again.
const maxKnown = 1 << 16

// begin starts a call: the error a method returns before it does
// anything (ErrClosed, or ctx's), or the context the call runs in, done
// when ctx is, when the store closes, or at Timeout when ctx has no
// deadline. end must be called when the call is over.
func (s *store) begin(ctx context.Context) (_ context.Context, end func(), err error) {
	if s.closed.Load() {
		return nil, nil, eventlog.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("natsstore: %w", err)
	}
	s.calls.RLock()
	if s.closed.Load() {
		s.calls.RUnlock()
		return nil, nil, eventlog.ErrClosed
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.ctx, func() { cancel(eventlog.ErrClosed) })
	var cancelTimeout context.CancelFunc = func() {}
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancelTimeout = context.WithTimeout(ctx, s.cfg.timeout)
	}
	return ctx, func() {
		cancelTimeout()
		stop()
		cancel(nil)
		s.calls.RUnlock()
	}, nil
}

// fail wraps the error of a call that went wrong: as ErrClosed when Close
// cut it short, with context.Cause when its context ended it.
func (s *store) fail(ctx context.Context, what string, err error) error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("natsstore: %s: %w (%w)", what, eventlog.ErrClosed, err)
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("natsstore: %s: %w (%w)", what, err, cause)
	}
	return fmt.Errorf("natsstore: %s: %w", what, err)
}

func (s *store) topicStream(topic string) (stream, subject string) {
	h := topicHash(topic)
	return s.cfg.prefix + "_topic_" + h, s.cfg.prefix + ".topic." + h
}

func (s *store) commitsBucket() string { return s.cfg.prefix + "_commits" }

func (s *store) topicConfig(topic string) jetstream.StreamConfig {
	name, subject := s.topicStream(topic)
	return jetstream.StreamConfig{
		Name:        name,
		Description: "plugsock topic " + topic,
		Subjects:    []string{subject},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     s.cfg.storage,
		Replicas:    s.cfg.replicas,
		AllowDirect: true,
		DenyDelete:  true, // offsets are dense: only Trim (a purge) removes events
		Metadata:    map[string]string{topicMetadata: topic},
	}
}

// ensureStream creates the stream of cfg, or finds it made already (by
// another host, maybe with other settings); topic, when not empty, is the
// topic it must hold, which tells a hash collision or a stranger's stream
// from ours.
func (s *store) ensureStream(ctx context.Context, cfg jetstream.StreamConfig, topic string) (jetstream.Stream, error) {
	st, err := s.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		st, err = s.js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	if topic != "" {
		if got := st.CachedInfo().Config.Metadata[topicMetadata]; got != topic {
			return nil, fmt.Errorf("%w: stream %s holds topic %q, not %q", ErrCorrupt, cfg.Name, got, topic)
		}
	}
	return st, nil
}

func (s *store) ensureTopic(ctx context.Context, topic string) error {
	s.mu.Lock()
	ok := s.known[topic]
	s.mu.Unlock()
	if ok {
		return nil
	}
	if _, err := s.ensureStream(ctx, s.topicConfig(topic), topic); err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.known) >= maxKnown {
		clear(s.known)
	}
	s.known[topic] = true
	s.mu.Unlock()
	return nil
}

func (s *store) forget(topic string) {
	s.mu.Lock()
	delete(s.known, topic)
	s.mu.Unlock()
}

// pubReserve is what a published message's headers take beside its data:
// Nats-Expected-Stream and, for a snapshot's head,
// Nats-Expected-Last-Subject-Sequence.
const pubReserve = 512

func (s *store) Append(ctx context.Context, e *eventlog.Event) error {
	if err := e.Check(s.cfg.maxEvent); err != nil {
		return err
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	stored := *e
	if stored.Time.IsZero() {
		stored.Time = time.Now().Round(0)
	}
	body, err := encodeEvent(&stored)
	if err != nil {
		return fmt.Errorf("natsstore: append to topic %q: %w", e.Topic, err)
	}
	if maxPayload := s.nc.MaxPayload(); int64(len(body)+pubReserve) > maxPayload {
		return fmt.Errorf("%w: event on topic %q encodes to %d bytes, more than the NATS server's max_payload of %d allows", eventlog.ErrTooLarge, e.Topic, len(body), maxPayload)
	}
	stream, subject := s.topicStream(e.Topic)
	msg := &nats.Msg{Subject: subject, Data: body}
	var ack *jetstream.PubAck
	for attempt := 0; ; attempt++ {
		if err = s.ensureTopic(ctx, e.Topic); err != nil {
			return s.fail(ctx, fmt.Sprintf("append to topic %q", e.Topic), err)
		}
		ack, err = s.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(stream))
		if errors.Is(err, jetstream.ErrNoStreamResponse) && attempt == 0 {
			// The stream went away under us (deleted by hand): make it
			// again, once.
			s.forget(e.Topic)
			continue
		}
		break
	}
	if err != nil {
		return s.fail(ctx, fmt.Sprintf("append to topic %q", e.Topic), err)
	}
	if ack.Stream != stream || ack.Sequence == 0 {
		return fmt.Errorf("natsstore: append to topic %q: acknowledged by stream %q with sequence %d", e.Topic, ack.Stream, ack.Sequence)
	}
	e.Offset, e.Time = ack.Sequence, stored.Time
	return nil
}

func (s *store) Read(ctx context.Context, topic string, from uint64, limit int) ([]eventlog.Event, error) {
	if err := eventlog.CheckTopic(topic); err != nil {
		return nil, err
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if limit <= 0 {
		return nil, nil
	}
	from = max(from, 1)
	stream, _ := s.topicStream(topic)
	var events []eventlog.Event
	size := 0
	for len(events) < limit && size < s.cfg.maxRead {
		req := directRequest{
			Seq:      from,
			Batch:    min(limit-len(events), maxBatch),
			MaxBytes: min(s.cfg.maxRead-size, maxBatchBytes),
		}
		n := 0
		pending, err := s.directBatch(ctx, stream, req, func(m *directMsg) error {
			if m.Seq < from {
				return fmt.Errorf("%w: stream %s answered sequence %d for %d on", ErrCorrupt, stream, m.Seq, from)
			}
			e, err := decodeEvent(m.Data, topic, m.Seq)
			if err != nil {
				return err
			}
			events = append(events, e)
			size += len(m.Data)
			from = m.Seq + 1
			n++
			return nil
		})
		if errors.Is(err, errNoStream) {
			return nil, nil // a topic never appended to
		}
		if err != nil {
			return nil, s.fail(ctx, fmt.Sprintf("read topic %q", topic), err)
		}
		if n == 0 || pending == 0 {
			break
		}
	}
	return events, nil
}

func (s *store) Bounds(ctx context.Context, topic string) (first, last uint64, err error) {
	if err := eventlog.CheckTopic(topic); err != nil {
		return 0, 0, err
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer end()
	_, state, err := s.topicState(ctx, topic)
	if err != nil || state.Msgs == 0 {
		return 0, 0, err
	}
	return state.FirstSeq, state.LastSeq, nil
}

// topicState returns topic's stream and its state; no stream and a zero
// state when the topic has none.
func (s *store) topicState(ctx context.Context, topic string) (jetstream.Stream, jetstream.StreamState, error) {
	stream, _ := s.topicStream(topic)
	st, err := s.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, jetstream.StreamState{}, nil
	}
	if err != nil {
		return nil, jetstream.StreamState{}, s.fail(ctx, fmt.Sprintf("topic %q", topic), err)
	}
	info := st.CachedInfo()
	if got := info.Config.Metadata[topicMetadata]; got != topic {
		return nil, jetstream.StreamState{}, fmt.Errorf("%w: stream %s holds topic %q, not %q", ErrCorrupt, stream, got, topic)
	}
	return st, info.State, nil
}

func (s *store) Topics(ctx context.Context) ([]string, error) {
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	prefix := s.cfg.prefix + "_topic_"
	var topics []string
	list := s.js.ListStreams(ctx, jetstream.WithStreamListSubject(s.cfg.prefix+".topic.*"))
	for info := range list.Info() {
		if !strings.HasPrefix(info.Config.Name, prefix) {
			continue // someone else's stream on our subjects
		}
		topic := info.Config.Metadata[topicMetadata]
		if name, _ := s.topicStream(topic); name != info.Config.Name || eventlog.CheckTopic(topic) != nil {
			return nil, fmt.Errorf("%w: stream %s holds topic %q, which it is not named for", ErrCorrupt, info.Config.Name, topic)
		}
		topics = append(topics, topic)
	}
	if err := list.Err(); err != nil {
		return nil, s.fail(ctx, "topics", err)
	}
	slices.Sort(topics)
	return topics, nil
}

func (s *store) Trim(ctx context.Context, topic string, before uint64) error {
	if err := eventlog.CheckTopic(topic); err != nil {
		return err
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	st, state, err := s.topicState(ctx, topic)
	if err != nil {
		return err
	}
	if state.Msgs == 0 || before <= state.FirstSeq {
		return nil
	}
	// A purge up to a sequence past the last moves the last along with
	// it, and the next Append would skip offsets: never past last+1.
	// Events appended since the state was read stay, as if this Trim had
	// come before them.
	before = min(before, state.LastSeq+1)
	if err := st.Purge(ctx, jetstream.WithPurgeSequence(before)); err != nil {
		return s.fail(ctx, fmt.Sprintf("trim topic %q", topic), err)
	}
	return nil
}

func (s *store) Commit(ctx context.Context, sub string, offset uint64) error {
	if err := eventlog.CheckName(sub); err != nil {
		return fmt.Errorf("subscription: %w", err)
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if _, err := s.commits.Put(ctx, escapeName(sub), strconv.AppendUint(nil, offset, 10)); err != nil {
		return s.fail(ctx, fmt.Sprintf("commit subscription %q", sub), err)
	}
	return nil
}

func (s *store) Committed(ctx context.Context, sub string) (uint64, error) {
	if err := eventlog.CheckName(sub); err != nil {
		return 0, fmt.Errorf("subscription: %w", err)
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer end()
	entry, err := s.commits.Get(ctx, escapeName(sub))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(ctx, fmt.Sprintf("subscription %q", sub), err)
	}
	return parseOffset(entry.Value(), sub)
}

func parseOffset(v []byte, sub string) (uint64, error) {
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || len(v) > 1 && v[0] == '0' {
		return 0, fmt.Errorf("%w: subscription %q: offset %.32q", ErrCorrupt, sub, v)
	}
	return n, nil
}

func (s *store) Subscriptions(ctx context.Context) (map[string]uint64, error) {
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	// The bucket's stream, walked with direct gets: one request per
	// thousand subscriptions rather than one per subscription.
	bucket := s.commitsBucket()
	keys := "$KV." + bucket + "."
	subs := make(map[string]uint64)
	from := uint64(1)
	for {
		n := 0
		pending, err := s.directBatch(ctx, "KV_"+bucket, directRequest{Seq: from, NextFor: keys + ">", Batch: maxBatch}, func(m *directMsg) error {
			from, n = m.Seq+1, n+1
			key, ok := strings.CutPrefix(m.Subject, keys)
			sub, valid := unescapeName(key)
			if !ok || !valid || eventlog.CheckName(sub) != nil {
				return fmt.Errorf("%w: bucket %s: key %.300q is not a subscription's", ErrCorrupt, bucket, key)
			}
			if op := m.Header.Get("KV-Operation"); op != "" {
				delete(subs, sub) // a delete or a purge, by hand
				return nil
			}
			offset, err := parseOffset(m.Data, sub)
			subs[sub] = offset
			return err
		})
		if err != nil {
			return nil, s.fail(ctx, "subscriptions", err)
		}
		if n == 0 || pending == 0 {
			return subs, nil
		}
	}
}

// Close ends the calls under way, which fail with ErrClosed, and waits for
// them; it closes the connection when Dial made it.
func (s *store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel(eventlog.ErrClosed)
	s.calls.Lock()
	defer s.calls.Unlock()
	if s.ownConn {
		s.nc.Close()
	}
	return nil
}
