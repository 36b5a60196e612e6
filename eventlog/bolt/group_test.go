package bolt

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// TestCommitOneFails commits a group in which one write fails and one
// panics: those two get their errors, the others are written.
func TestCommitOneFails(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	defer st.Close()
	s := st.(*store)
	put := func(k string) func(*bbolt.Tx) error {
		return func(tx *bbolt.Tx) error { return tx.Bucket(bucketSubs).Put([]byte(k), key(1)) }
	}
	boom := errors.New("boom")
	writes := []*pending{
		{fn: put("a")},
		{fn: func(tx *bbolt.Tx) error {
			if err := tx.Bucket(bucketSubs).Put([]byte("bad"), key(1)); err != nil {
				return err
			}
			return boom
		}},
		{fn: put("b")},
		{fn: func(*bbolt.Tx) error { panic("kaboom") }},
		{fn: put("c")},
	}
	for _, w := range writes {
		w.done = make(chan error, 1)
	}
	s.commit(writes)
	assert.NoError(t, <-writes[0].done)
	assert.ErrorIs(t, <-writes[1].done, boom)
	assert.NoError(t, <-writes[2].done)
	assert.ErrorContains(t, <-writes[3].done, "kaboom")
	assert.NoError(t, <-writes[4].done)

	subs, err := st.Subscriptions(t.Context())
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"a": 1, "b": 1, "c": 1}, subs, "the failed write left nothing")
}

// TestGroupCommit holds a transaction open while writes queue behind it:
// once it ends, the queued writes go together into one transaction, the
// next, and all return.
func TestGroupCommit(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	defer st.Close()
	s := st.(*store)

	started, release := make(chan struct{}), make(chan struct{})
	var first int
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- s.update(func(tx *bbolt.Tx) error {
			first = tx.ID()
			select {
			case <-started:
			default:
				close(started)
			}
			<-release
			return tx.Bucket(bucketSubs).Put([]byte("first"), key(1))
		})
	}()
	<-started

	const queued = 5
	ids := make([]int, queued)
	done := make(chan error, queued)
	for i := range queued {
		go func() {
			done <- s.update(func(tx *bbolt.Tx) error {
				ids[i] = tx.ID()
				return tx.Bucket(bucketSubs).Put([]byte{'q', byte('0' + i)}, key(uint64(i)))
			})
		}()
	}
	require.Eventually(t, func() bool {
		s.qmu.Lock()
		defer s.qmu.Unlock()
		return len(s.queue) == queued
	}, 10*time.Second, time.Millisecond, "the writes queue behind the open transaction")
	close(release)

	timeout := time.After(10 * time.Second)
	for range queued + 1 {
		select {
		case err := <-firstDone:
			require.NoError(t, err)
		case err := <-done:
			require.NoError(t, err)
		case <-timeout:
			require.FailNow(t, "a queued write never returned")
		}
	}
	for i, id := range ids {
		assert.Equal(t, ids[0], id, "write %d in the group's transaction", i)
	}
	assert.NotEqual(t, first, ids[0], "the group comes after the transaction it waited for")
	subs, err := st.Subscriptions(t.Context())
	require.NoError(t, err)
	assert.Len(t, subs, queued+1)
	s.qmu.Lock()
	defer s.qmu.Unlock()
	assert.False(t, s.leading, "nobody leads once all is written")
	assert.Empty(t, s.queue)
}
