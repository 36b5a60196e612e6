package natsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/eventlog/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestStore runs eventlog's conformance suite against one embedded server
// with file storage: every subtest's stores get a prefix of their own,
// and the reopen test's second store the first one's prefix.
func TestStore(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{maxPayload: bigPayload})
	nc := ts.connect(t)
	var mu sync.Mutex
	prefixOf := make(map[*testing.T]string)
	storetest.Run(t, func(t *testing.T) eventlog.Store {
		mu.Lock()
		p, ok := prefixOf[t]
		if !ok {
			p = newPrefix()
			prefixOf[t] = p
		}
		mu.Unlock()
		s, err := Open(nc, Config{Prefix: p})
		require.NoError(t, err)
		return s
	}, storetest.Config{Durable: true})
}

// TestServerRestartKeepsEverything stops the server and starts another on
// its directory: the events, offsets (of a topic trimmed empty too),
// commits and snapshots, a chunked one among them, are all still there.
func TestServerRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ts := runServer(t, dir, serverConfig{})
	ctx := t.Context()
	s, err := Open(ts.connect(t))
	require.NoError(t, err)

	var want []eventlog.Event
	for i := range 5 {
		e := eventlog.Event{Topic: "orders.created", Type: "order", Action: "create", Key: fmt.Sprint(i),
			Attrs: map[string]string{"n": fmt.Sprint(i)}, Data: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))}
		require.NoError(t, s.Append(ctx, &e))
		want = append(want, e)
	}
	for range 3 {
		require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "emptied"}))
	}
	require.NoError(t, s.Trim(ctx, "emptied", 100))
	require.NoError(t, s.Trim(ctx, "orders.created", 2))
	require.NoError(t, s.Commit(ctx, "billing", 3))
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB: many chunks
	require.NoError(t, s.PutSnapshot(ctx, "calc", eventlog.Snapshot{Data: []byte("small")}))
	s2, err := Open(ts.connect(t), Config{MaxSnapshotSize: len(big)})
	require.NoError(t, err)
	require.NoError(t, s2.PutSnapshot(ctx, "big", eventlog.Snapshot{Data: big}))
	require.NoError(t, s.Close())
	require.NoError(t, s2.Close())

	ts.stop()
	ts = runServer(t, dir, serverConfig{})
	s = openStore(t, ts.connect(t), Config{MaxSnapshotSize: len(big)})

	first, last, err := s.Bounds(ctx, "orders.created")
	require.NoError(t, err)
	assert.Equal(t, [2]uint64{2, 5}, [2]uint64{first, last})
	got, err := s.Read(ctx, "orders.created", 0, 100)
	require.NoError(t, err)
	require.Len(t, got, 4)
	for i, e := range got {
		w := want[i+1]
		assert.True(t, w.Time.Equal(e.Time))
		w.Time, e.Time = time.Time{}, time.Time{}
		assert.Equal(t, w, e)
	}
	assert.Equal(t, `{"n": 1}`, string(got[0].Data), "data byte for byte")

	first, last, err = s.Bounds(ctx, "emptied")
	require.NoError(t, err)
	assert.Equal(t, [2]uint64{0, 0}, [2]uint64{first, last})
	e := eventlog.Event{Topic: "emptied"}
	require.NoError(t, s.Append(ctx, &e))
	assert.Equal(t, uint64(4), e.Offset, "a topic trimmed empty goes on from its last offset across a restart")

	topics, err := s.Topics(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"emptied", "orders.created"}, topics)
	subs, err := s.Subscriptions(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"billing": 3}, subs)
	snap, ok, err := s.GetSnapshot(ctx, "calc")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "small", string(snap.Data))
	snap, ok, err = s.GetSnapshot(ctx, "big")
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, bytes.Equal(big, snap.Data), "the chunked snapshot came back whole")
}

// TestHostsShare opens two stores on two connections with one prefix, as
// two hosts would: appends from both to one topic get dense offsets that
// neither gives twice, and each sees the other's events, commits and
// snapshots.
func TestHostsShare(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	ctx := t.Context()
	p := newPrefix()
	a := openStore(t, ts.connect(t), Config{Prefix: p})
	b := openStore(t, ts.connect(t), Config{Prefix: p})

	const each = 100
	offsets := make([][]uint64, 2)
	var wg sync.WaitGroup
	for i, s := range []eventlog.Store{a, b} {
		wg.Go(func() {
			for n := range each {
				e := eventlog.Event{Topic: "shared", Key: fmt.Sprint(i), Data: json.RawMessage(fmt.Sprint(n))}
				if !assert.NoError(t, s.Append(ctx, &e)) {
					return
				}
				offsets[i] = append(offsets[i], e.Offset)
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	all := slices.Concat(offsets[0], offsets[1])
	slices.Sort(all)
	for i, o := range all {
		require.Equal(t, uint64(i+1), o, "offsets dense and given once across hosts")
	}
	fromA, err := a.Read(ctx, "shared", 1, 2*each)
	require.NoError(t, err)
	fromB, err := b.Read(ctx, "shared", 1, 2*each)
	require.NoError(t, err)
	require.Len(t, fromA, 2*each)
	assert.Equal(t, fromA, fromB, "both hosts read the same log")
	for _, e := range fromA {
		host := e.Key[0] - '0'
		assert.Contains(t, offsets[host], e.Offset, "event %d is host %d's", e.Offset, host)
	}

	require.NoError(t, a.Commit(ctx, "sub", 42))
	got, err := b.Committed(ctx, "sub")
	require.NoError(t, err)
	assert.Equal(t, uint64(42), got, "a commit on one host is the other's")
	require.NoError(t, b.Commit(ctx, "sub", 7))
	got, err = a.Committed(ctx, "sub")
	require.NoError(t, err)
	assert.Equal(t, uint64(7), got, "the last commit wins, whichever host made it")

	require.NoError(t, a.PutSnapshot(ctx, "p", eventlog.Snapshot{Data: []byte("from a")}))
	snap, ok, err := b.GetSnapshot(ctx, "p")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "from a", string(snap.Data))

	require.NoError(t, b.Trim(ctx, "shared", 101))
	first, last, err := a.Bounds(ctx, "shared")
	require.NoError(t, err)
	assert.Equal(t, [2]uint64{101, 2 * each}, [2]uint64{first, last}, "a trim on one host is the other's")

	other := openStore(t, ts.connect(t), Config{Prefix: newPrefix()})
	topics, err := other.Topics(ctx)
	require.NoError(t, err)
	assert.Empty(t, topics, "another prefix is another store")
}

// TestHostileNames uses names that are a stream name's, a subject's and a
// key's forbidden characters, and names that a careless escape would
// confuse with one another: every one is a store entry of its own.
func TestHostileNames(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	ctx := t.Context()
	s := openStore(t, ts.connect(t), Config{})
	names := []string{
		"a.b", "a=2Eb", "a=2eb", "a_b", "a-b", "a>b", ">", "$JS.API.STREAM.DELETE.plugsock_snapshots",
		"*", "a*", "..", "x.", ".x", "\\/", "KV_plugsock_commits", "plugsock.topic.x", "=", "==", "=3D",
		"日本語", "emoji😀", strings.Repeat("é", eventlog.MaxNameLen/2), strings.Repeat(">", eventlog.MaxNameLen),
	}
	for i, name := range names {
		require.NoError(t, s.Commit(ctx, name, uint64(i+1)), "Commit %q", name)
		require.NoError(t, s.PutSnapshot(ctx, name, eventlog.Snapshot{Data: []byte(name)}), "PutSnapshot %q", name)
		if eventlog.CheckTopic(name) == nil {
			for range i%3 + 1 {
				require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: name, Key: name}), "Append to %q", name)
			}
		}
	}
	subs, err := s.Subscriptions(ctx)
	require.NoError(t, err)
	var topics []string
	for i, name := range names {
		assert.Equal(t, uint64(i+1), subs[name], "subscription %q", name)
		got, err := s.Committed(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, uint64(i+1), got, "Committed %q", name)
		snap, ok, err := s.GetSnapshot(ctx, name)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, name, string(snap.Data), "snapshot of %q", name)
		if eventlog.CheckTopic(name) == nil {
			topics = append(topics, name)
			events, err := s.Read(ctx, name, 1, 10)
			require.NoError(t, err)
			require.Len(t, events, i%3+1, "topic %q", name)
			for _, e := range events {
				assert.Equal(t, name, e.Topic)
				assert.Equal(t, name, e.Key)
			}
		}
	}
	assert.Len(t, subs, len(names))
	got, err := s.Topics(ctx)
	require.NoError(t, err)
	slices.Sort(topics)
	assert.Equal(t, topics, got)

	// The commits bucket holds exactly the escaped keys.
	js, err := jetstream.New(ts.connect(t))
	require.NoError(t, err)
	kv, err := js.KeyValue(ctx, "plugsock_commits")
	require.NoError(t, err)
	entry, err := kv.Get(ctx, "a=2Eb")
	require.NoError(t, err)
	assert.Equal(t, "1", string(entry.Value()), `"a.b" is the key a=2Eb, readable in the nats CLI`)
}

func TestEscapeName(t *testing.T) {
	for name, want := range map[string]string{
		"orders-worker_1": "orders-worker_1",
		"a.b":             "a=2Eb",
		"a=b":             "a=3Db",
		"é":               "=C3=A9",
		">*":              "=3E=2A",
	} {
		assert.Equal(t, want, escapeName(name), "escape %q", name)
		back, ok := unescapeName(want)
		assert.True(t, ok)
		assert.Equal(t, name, back)
	}
	for _, bad := range []string{"=", "=3", "=3d", "=41", "a.b", "a b", "=ZZ", "a="} {
		_, ok := unescapeName(bad)
		assert.False(t, ok, "%q is no escapeName's", bad)
	}
}

// TestCorruptMessages writes what this store never would where it keeps
// its data: every read reports ErrCorrupt (or ErrTooLarge for a claim of
// a huge snapshot), and nothing panics or allocates what a message claims.
func TestCorruptMessages(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	ctx := t.Context()
	nc := ts.connect(t)
	st := openStore(t, nc, Config{Prefix: "evil"})
	s := st.(*store)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "t", Data: json.RawMessage(`1`)}))
	_, subject := s.topicStream("t")
	for _, garbage := range [][]byte{
		nil, {0}, {2}, {formatVersion}, {formatVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		append([]byte{formatVersion, 0x80, 0x80, 0x80, 0x80, 0x08}, make([]byte, 16)...), // a length of 2^31
	} {
		_, err := js.Publish(ctx, subject, garbage)
		require.NoError(t, err)
	}
	events, err := s.Read(ctx, "t", 1, 1)
	require.NoError(t, err)
	require.Len(t, events, 1, "the good event before the garbage reads")
	for seq := uint64(2); seq <= 7; seq++ {
		_, err = s.Read(ctx, "t", seq, 1)
		assert.ErrorIs(t, err, ErrCorrupt, "garbage at %d", seq)
	}

	kv, err := js.KeyValue(ctx, "evil_commits")
	require.NoError(t, err)
	for key, value := range map[string]string{"neg": "-1", "word": "seven", "big": "99999999999999999999999", "lead": "007", "empty": ""} {
		_, err := kv.Put(ctx, key, []byte(value))
		require.NoError(t, err)
		_, err = s.Committed(ctx, key)
		assert.ErrorIs(t, err, ErrCorrupt, "offset %q", value)
	}
	_, err = s.Subscriptions(ctx)
	assert.ErrorIs(t, err, ErrCorrupt, "an offset that is not one")
	for _, key := range []string{"neg", "word", "big", "lead", "empty"} {
		require.NoError(t, kv.Purge(ctx, key))
	}
	require.NoError(t, s.Commit(ctx, "good", 5))
	subs, err := s.Subscriptions(ctx)
	require.NoError(t, err, "purged keys are no subscriptions")
	assert.Equal(t, map[string]uint64{"good": 5}, subs)
	_, err = kv.Put(ctx, "a=2e", []byte("1")) // a key escapeName never writes
	require.NoError(t, err)
	_, err = s.Subscriptions(ctx)
	assert.ErrorIs(t, err, ErrCorrupt, "a key that is no subscription's")

	_, headSubject, chunkPrefix := s.snapshotSubjects("p")
	for _, garbage := range [][]byte{nil, {formatVersion}, []byte("not a head at all")} {
		_, err := js.Publish(ctx, headSubject, garbage)
		require.NoError(t, err)
		_, _, err = s.GetSnapshot(ctx, "p")
		assert.ErrorIs(t, err, ErrCorrupt, "head %q", garbage)
	}
	huge := head{time: time.Now(), size: 1 << 62, chunks: 1 << 40, firstChunk: 1, id: "x"}
	body, err := encodeHead(&huge)
	require.NoError(t, err)
	_, err = js.Publish(ctx, headSubject, body)
	require.NoError(t, err)
	_, _, err = s.GetSnapshot(ctx, "p")
	assert.ErrorIs(t, err, eventlog.ErrTooLarge, "a head that claims 2^62 bytes")

	// A head whose chunks are not there, or not its own.
	ack, err := js.Publish(ctx, chunkPrefix+"y", []byte("abc"))
	require.NoError(t, err)
	lying := head{time: time.Now(), size: 6, chunks: 2, firstChunk: ack.Sequence, id: "y"}
	body, err = encodeHead(&lying)
	require.NoError(t, err)
	_, err = js.Publish(ctx, headSubject, body)
	require.NoError(t, err)
	_, _, err = s.GetSnapshot(ctx, "p")
	assert.ErrorIs(t, err, ErrCorrupt, "a head with chunks missing")

	// A stream that says it holds another topic.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "evil_topic_" + topicHash("u"), Subjects: []string{"evil.topic." + topicHash("u")},
		Metadata: map[string]string{topicMetadata: "not u"}})
	require.NoError(t, err)
	assert.ErrorIs(t, s.Append(ctx, &eventlog.Event{Topic: "u"}), ErrCorrupt)
	_, _, err = s.Bounds(ctx, "u")
	assert.ErrorIs(t, err, ErrCorrupt)
	_, err = s.Topics(ctx)
	assert.ErrorIs(t, err, ErrCorrupt)
}

// TestSnapshotsReplacedWhole has two stores put large, chunked snapshots
// of one plugin at once while a third reads: every read is one put's
// snapshot whole, and the last one standing is one of the two, whole.
func TestSnapshotsReplacedWhole(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{}) // max_payload 1 MiB: 600 KiB takes three chunks
	ctx := t.Context()
	p := newPrefix()
	writers := []eventlog.Store{openStore(t, ts.connect(t), Config{Prefix: p}), openStore(t, ts.connect(t), Config{Prefix: p})}
	reader := openStore(t, ts.connect(t), Config{Prefix: p})

	// The data tells who wrote it and which put it was: its first byte
	// and its second, repeated.
	data := func(w, n int) []byte { return bytes.Repeat([]byte{byte('A' + w), byte(n)}, 300<<10) }
	whole := func(d []byte) bool {
		return len(d) == 600<<10 && bytes.Equal(d, bytes.Repeat(d[:2], 300<<10))
	}
	const puts = 10
	var wg sync.WaitGroup
	for w, s := range writers {
		wg.Go(func() {
			for n := range puts {
				if !assert.NoError(t, s.PutSnapshot(ctx, "calc", eventlog.Snapshot{Data: data(w, n)})) {
					return
				}
			}
		})
	}
	done := make(chan struct{})
	reads := 0
	var rg sync.WaitGroup
	rg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			snap, ok, err := reader.GetSnapshot(ctx, "calc")
			if !assert.NoError(t, err) {
				return
			}
			if ok {
				reads++
				if !assert.True(t, whole(snap.Data), "a read snapshot is one put's, whole") {
					return
				}
			}
		}
	})
	wg.Wait()
	close(done)
	rg.Wait()
	snap, ok, err := reader.GetSnapshot(ctx, "calc")
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, whole(snap.Data))
	assert.Contains(t, []byte{'A', 'B'}, snap.Data[0])
	t.Logf("%d reads while %d puts ran", reads, 2*puts)

	// The purges leave the last snapshot's messages only: its head and its
	// three chunks.
	js, err := jetstream.New(ts.connect(t))
	require.NoError(t, err)
	st, err := js.Stream(ctx, p+"_snapshots")
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), info.State.Msgs, "what the stream keeps")
}

// TestEventTooLargeForTheServer appends, on a server with the default
// max_payload of 1 MiB, an event that is within eventlog's limit but
// does not fit one message: it is refused as too large and nothing is
// stored.
func TestEventTooLargeForTheServer(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	ctx := t.Context()
	s := openStore(t, ts.connect(t), Config{})
	e := eventlog.Event{Topic: "big", Data: json.RawMessage(`"` + strings.Repeat("x", eventlog.DefaultMaxEventSize-10) + `"`)}
	require.NoError(t, e.Check(0))
	err := s.Append(ctx, &e)
	require.ErrorIs(t, err, eventlog.ErrTooLarge)
	assert.Contains(t, err.Error(), "max_payload")
	first, last, err := s.Bounds(ctx, "big")
	require.NoError(t, err)
	assert.Equal(t, [2]uint64{0, 0}, [2]uint64{first, last})

	small := openStore(t, ts.connect(t), Config{Prefix: newPrefix(), MaxEventSize: 100})
	e = eventlog.Event{Topic: "t", Data: json.RawMessage(`"` + strings.Repeat("x", 100) + `"`)}
	require.ErrorIs(t, small.Append(ctx, &e), eventlog.ErrTooLarge, "Config.MaxEventSize")
	require.ErrorIs(t, small.PutSnapshot(ctx, "p", eventlog.Snapshot{Data: make([]byte, eventlog.DefaultMaxEventSize+1)}), eventlog.ErrTooLarge)
}

// TestReadIsBounded reads a topic whose events add up to more than
// MaxReadBytes: each Read returns fewer events than asked for, never
// none, and together they return them all.
func TestReadIsBounded(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	ctx := t.Context()
	s := openStore(t, ts.connect(t), Config{MaxReadBytes: 64 << 10})
	data := json.RawMessage(`"` + strings.Repeat("x", 10<<10) + `"`)
	const n = 30 // 300 KiB
	for range n {
		require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "t", Data: data}))
	}
	var got []uint64
	for from := uint64(1); from <= n; {
		events, err := s.Read(ctx, "t", from, n)
		require.NoError(t, err)
		require.NotEmpty(t, events)
		assert.LessOrEqual(t, len(events), 7, "64 KiB of 10 KiB events")
		for _, e := range events {
			got = append(got, e.Offset)
		}
		from = events[len(events)-1].Offset + 1
	}
	require.Len(t, got, n)
	for i, o := range got {
		require.Equal(t, uint64(i+1), o)
	}

	// Many small events: more than one batch of maxBatch.
	for range maxBatch + 10 {
		require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "many"}))
	}
	events, err := s.Read(ctx, "many", 1, maxBatch+100)
	require.NoError(t, err)
	require.Len(t, events, maxBatch+10)
	assert.Equal(t, uint64(maxBatch+10), events[len(events)-1].Offset)
}

// TestCloseEndsCallsUnderWay stops the server under a store whose calls
// would wait a minute: Close cuts them short with ErrClosed.
func TestCloseEndsCallsUnderWay(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	ctx := t.Context()
	// A connection that keeps trying to reconnect, so that calls wait.
	nc, err := nats.Connect(ts.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	s, err := Open(nc, Config{Timeout: time.Minute})
	require.NoError(t, err)
	require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "t"}))
	ts.stop()
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 10*time.Second, 10*time.Millisecond)

	errs := make(chan error, 2)
	go func() { errs <- s.Append(ctx, &eventlog.Event{Topic: "t"}) }()
	go func() {
		_, err := s.Read(ctx, "t", 1, 10)
		errs <- err
	}()
	// Wait until a call holds the read side of calls, as every call does
	// from its start to its end: then Close has one to cut short. (The
	// other may not have begun; it fails with ErrClosed all the same.)
	require.Eventually(t, func() bool {
		if !s.(*store).calls.TryLock() {
			return true
		}
		s.(*store).calls.Unlock()
		return false
	}, 10*time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, s.Close())
	for range 2 {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, eventlog.ErrClosed)
		case <-time.After(10 * time.Second):
			t.Fatal("a call went on after Close")
		}
	}
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestOpen(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	_, err := Open(nil)
	require.Error(t, err)
	for _, p := range []string{"a.b", "a b", "a>", "*", strings.Repeat("p", 33), "é"} {
		_, err := Open(ts.connect(t), Config{Prefix: p})
		require.Error(t, err, "prefix %q", p)
	}

	noJS := runServer(t, t.TempDir(), serverConfig{noJS: true})
	_, err = Open(noJS.connect(t), Config{Timeout: 2 * time.Second})
	require.Error(t, err, "a server without JetStream")

	s, err := Dial(ts.ClientURL(), Config{Prefix: newPrefix()})
	require.NoError(t, err)
	e := eventlog.Event{Topic: "t"}
	require.NoError(t, s.Append(t.Context(), &e))
	assert.Equal(t, uint64(1), e.Offset)
	require.NoError(t, s.Close())
	assert.True(t, s.(*store).nc.IsClosed(), "Close closes the connection Dial made")

	nc := ts.connect(t)
	s, err = Open(nc)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.False(t, nc.IsClosed(), "Close leaves the caller's connection open")

	_, err = Dial("nats://127.0.0.1:1")
	require.Error(t, err)
}

func TestMemoryStorage(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	ctx := t.Context()
	nc := ts.connect(t)
	s := openStore(t, nc, Config{Prefix: newPrefix(), Storage: jetstream.MemoryStorage, Replicas: 1})
	require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "t"}))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	name, _ := s.(*store).topicStream("t")
	st, err := js.Stream(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, jetstream.MemoryStorage, st.CachedInfo().Config.Storage)
}

// TestStreamDeletedByHand deletes a topic's stream behind the store's
// back: the next Append makes it again instead of failing forever.
func TestStreamDeletedByHand(t *testing.T) {
	ts := runServer(t, t.TempDir(), serverConfig{})
	ctx := t.Context()
	nc := ts.connect(t)
	s := openStore(t, nc, Config{})
	require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "t"}))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	name, _ := s.(*store).topicStream("t")
	require.NoError(t, js.DeleteStream(ctx, name))
	e := eventlog.Event{Topic: "t"}
	require.NoError(t, s.Append(ctx, &e))
	assert.Equal(t, uint64(1), e.Offset, "a new stream starts again at 1")
}

// ExampleOpen is here to be compiled; it needs a server to run.
func ExampleOpen() {
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	store, err := Open(nc, Config{Prefix: "plugsock", Replicas: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	e := eventlog.Event{Topic: "orders", Type: "order", Action: "create", Key: "42"}
	if err := store.Append(context.Background(), &e); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("offset", e.Offset)
}
