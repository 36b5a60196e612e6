package natsstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/plugsock/plugsock/eventlog"
)

// A plugin's snapshot is a head message on <prefix>.snapshot.<name>.head
// and, when its data does not fit in one message, chunks before it on
// <prefix>.snapshot.<name>.chunk.<id>, id being new for every put:
//
//  1. PutSnapshot reads the sequence of the head there is (0: none),
//  2. publishes the chunks, if any, and then the new head, expecting
//     the old head to be still the last on its subject, and
//  3. purges everything of the plugin's before the new snapshot's first
//     message: the old head, its chunks, and those of puts that died half
//     way or gave way (below).
//
// A head is published only after its chunks were acknowledged, so a
// reader that finds a head finds its chunks, unless a later put purged
// them in between; the reader then finds that later head and reads again.
// Of two puts at once, the one whose head comes second finds the head it
// read replaced, and gives way: it purges its own chunks and returns as if
// the other had come after it. The last put wins, whole.

const (
	// maxChunk bounds the data of one chunk (and of a head holding its
	// data); the server's max_payload may make it smaller.
	maxChunk = 256 << 10

	// getAttempts bounds how often GetSnapshot starts again when puts
	// keep replacing the snapshot under it.
	getAttempts = 8
)

func (s *store) snapshotStream() string { return s.cfg.prefix + "_snapshots" }

func (s *store) snapshotConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        s.snapshotStream(),
		Description: "plugsock: plugins' state snapshots",
		Subjects:    []string{s.cfg.prefix + ".snapshot.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     s.cfg.storage,
		Replicas:    s.cfg.replicas,
		AllowDirect: true,
	}
}

func (s *store) snapshotSubjects(plugin string) (all, headSubject, chunkPrefix string) {
	base := s.cfg.prefix + ".snapshot." + escapeName(plugin) + "."
	return base + ">", base + "head", base + "chunk."
}

// chunkSize is the most data one message of a snapshot carries.
func (s *store) chunkSize() int {
	n := maxChunk
	if room := int(s.nc.MaxPayload()) - 4*pubReserve; room < n {
		n = max(room, 1024)
	}
	return n
}

func (s *store) PutSnapshot(ctx context.Context, plugin string, snap eventlog.Snapshot) error {
	if err := eventlog.CheckName(plugin); err != nil {
		return fmt.Errorf("plugin: %w", err)
	}
	if len(snap.Data) > s.cfg.maxSnapshot {
		return fmt.Errorf("%w: snapshot of %d bytes for plugin %q, more than the limit of %d", eventlog.ErrTooLarge, len(snap.Data), plugin, s.cfg.maxSnapshot)
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := s.putSnapshot(ctx, plugin, snap); err != nil {
		return s.fail(ctx, fmt.Sprintf("snapshot of plugin %q", plugin), err)
	}
	return nil
}

func (s *store) putSnapshot(ctx context.Context, plugin string, snap eventlog.Snapshot) error {
	stream := s.snapshotStream()
	all, headSubject, chunkPrefix := s.snapshotSubjects(plugin)
	h := head{time: snap.Time, size: uint64(len(snap.Data)), sum: sha256.Sum256(snap.Data)}
	if h.time.IsZero() {
		h.time = time.Now().Round(0)
	}
	old, err := s.directLast(ctx, stream, headSubject)
	if err != nil {
		return err
	}
	var oldSeq uint64
	if old != nil {
		oldSeq = old.Seq
	}

	chunk := s.chunkSize()
	var chunkSubject string
	if len(snap.Data) <= chunk {
		h.data = snap.Data
	} else {
		h.id = nuid.Next()
		chunkSubject = chunkPrefix + h.id
		for rest := snap.Data; len(rest) > 0; {
			n := min(len(rest), chunk)
			ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: chunkSubject, Data: rest[:n]}, jetstream.WithExpectStream(stream))
			if err != nil {
				s.purgeChunks(chunkSubject)
				return err
			}
			if h.chunks == 0 {
				h.firstChunk = ack.Sequence
			}
			h.chunks++
			rest = rest[n:]
		}
	}
	body, err := encodeHead(&h)
	if err != nil {
		return err
	}
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: headSubject, Data: body},
		jetstream.WithExpectStream(stream), jetstream.WithExpectLastSequencePerSubject(oldSeq))
	if wrongLastSequence(err) {
		// Another put replaced the head since it was read: that one is the
		// later, and this one gives way.
		if chunkSubject != "" {
			s.purgeChunks(chunkSubject)
		}
		return nil
	}
	if err != nil {
		// Purge the chunks only when the server refused the head: after a
		// timeout the head may be stored all the same, and must find its
		// chunks there.
		var refused *jetstream.APIError
		if chunkSubject != "" && errors.As(err, &refused) {
			s.purgeChunks(chunkSubject)
		}
		return err
	}
	// What came before the new snapshot (its first chunk, or its head) is
	// no longer anyone's. A failure here leaves garbage that the next put
	// purges, not a wrong snapshot, so the put has succeeded either way.
	before := ack.Sequence
	if h.chunks > 0 {
		before = h.firstChunk
	}
	_ = s.snapshots.Purge(ctx, jetstream.WithPurgeSubject(all), jetstream.WithPurgeSequence(before))
	return nil
}

// purgeChunks drops the chunks of a put that did not make it, on a
// context of its own, since the put's may be what ended it, but not past
// Close. The next put would purge them too, so a failure here is no
// matter.
func (s *store) purgeChunks(subject string) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.timeout)
	defer cancel()
	_ = s.snapshots.Purge(ctx, jetstream.WithPurgeSubject(subject))
}

func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

func (s *store) GetSnapshot(ctx context.Context, plugin string) (eventlog.Snapshot, bool, error) {
	if err := eventlog.CheckName(plugin); err != nil {
		return eventlog.Snapshot{}, false, fmt.Errorf("plugin: %w", err)
	}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return eventlog.Snapshot{}, false, err
	}
	defer end()
	snap, ok, err := s.getSnapshot(ctx, plugin)
	if err != nil {
		return eventlog.Snapshot{}, false, s.fail(ctx, fmt.Sprintf("snapshot of plugin %q", plugin), err)
	}
	return snap, ok, nil
}

func (s *store) getSnapshot(ctx context.Context, plugin string) (eventlog.Snapshot, bool, error) {
	stream := s.snapshotStream()
	_, headSubject, chunkPrefix := s.snapshotSubjects(plugin)
	var lastSeq uint64
	for range getAttempts {
		m, err := s.directLast(ctx, stream, headSubject)
		if err != nil || m == nil {
			return eventlog.Snapshot{}, false, err
		}
		if m.Seq == lastSeq {
			// The head that pointed to missing or wrong chunks is still
			// the head: that is damage, not a put under way.
			return eventlog.Snapshot{}, false, fmt.Errorf("%w: snapshot of plugin %q: chunks missing or garbled", ErrCorrupt, plugin)
		}
		lastSeq = m.Seq
		h, err := decodeHead(m.Data, plugin, s.cfg.maxSnapshot)
		if err != nil {
			return eventlog.Snapshot{}, false, err
		}
		if h.chunks == 0 {
			return eventlog.Snapshot{Data: bytes.Clone(h.data), Time: h.time}, true, nil
		}
		data, err := s.readChunks(ctx, stream, chunkPrefix+h.id, &h)
		if err != nil {
			return eventlog.Snapshot{}, false, err
		}
		if data != nil {
			return eventlog.Snapshot{Data: data, Time: h.time}, true, nil
		}
		// Chunks gone or wrong: a later put may have replaced the head.
	}
	return eventlog.Snapshot{}, false, fmt.Errorf("snapshot of plugin %q: replaced %d times while being read", plugin, getAttempts)
}

// readChunks returns the data h's chunks hold, nil when they are not all
// there or do not add up to h's size and sum.
func (s *store) readChunks(ctx context.Context, stream, subject string, h *head) ([]byte, error) {
	data := make([]byte, 0, h.size)
	seq, got := h.firstChunk, uint64(0)
	short := false
	for got < h.chunks && !short {
		n := 0
		pending, err := s.directBatch(ctx, stream, directRequest{
			Seq: seq, NextFor: subject, Batch: int(min(h.chunks-got, maxBatch)), MaxBytes: maxBatchBytes,
		}, func(m *directMsg) error {
			if uint64(len(data))+uint64(len(m.Data)) > h.size {
				short = true // too much: stop, and say so below
				return nil
			}
			data = append(data, m.Data...)
			seq, got, n = m.Seq+1, got+1, n+1
			return nil
		})
		if err != nil {
			return nil, err
		}
		if n == 0 || pending == 0 && got < h.chunks {
			break
		}
	}
	if short || got != h.chunks || uint64(len(data)) != h.size || sha256.Sum256(data) != h.sum {
		return nil, nil
	}
	return data, nil
}
