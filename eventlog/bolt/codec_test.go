package bolt

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/plugsock/plugsock/eventlog"
)

func sampleEvent() eventlog.Event {
	return eventlog.Event{Topic: "orders", Offset: 7,
		Time: time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("", 5*3600+30*60)),
		Type: "order", Action: "create", Key: "42",
		Attrs: map[string]string{"region": "eu", "": "empty name", "empty": ""},
		Data:  json.RawMessage(`{"total": 10}`)}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, e := range []eventlog.Event{sampleEvent(), {Topic: "t", Offset: 1, Time: time.Unix(0, 0)}} {
		v, err := encodeEvent(&e)
		require.NoError(t, err)
		got, err := decodeEvent(v, e.Topic, e.Offset)
		require.NoError(t, err)
		assert.True(t, e.Time.Equal(got.Time))
		_, offset := got.Time.Zone()
		_, want := e.Time.Zone()
		assert.Equal(t, want, offset, "the zone's offset is kept")
		e.Time, got.Time = time.Time{}, time.Time{}
		assert.Equal(t, e, got)
	}

	s := eventlog.Snapshot{Data: []byte("\x00state\xff"), Time: time.Date(2020, 1, 1, 0, 0, 0, 1, time.UTC)}
	v, err := encodeSnapshot(s)
	require.NoError(t, err)
	got, err := decodeSnapshot(v, "p")
	require.NoError(t, err)
	assert.Equal(t, s.Data, got.Data)
	assert.True(t, s.Time.Equal(got.Time))
}

// TestCodecDamaged decodes every truncation of a value and every value
// with one byte changed: an error matching ErrCorrupt or an event, never
// a panic or a huge allocation.
func TestCodecDamaged(t *testing.T) {
	e := sampleEvent()
	v, err := encodeEvent(&e)
	require.NoError(t, err)
	for n := range len(v) {
		_, err := decodeEvent(v[:n], "orders", 7)
		require.ErrorIs(t, err, ErrCorrupt, "cut to %d bytes", n)
	}
	_, err = decodeEvent(append(v, 0), "orders", 7)
	require.ErrorIs(t, err, ErrCorrupt, "a byte too many")
	for i := range v {
		for _, b := range []byte{0, 1, 0x7f, 0x80, 0xff} {
			w := append([]byte(nil), v...)
			w[i] = b
			decodeEvent(w, "orders", 7) // must not panic
		}
	}
	// A count of attributes far beyond what the value holds.
	_, err = decodeEvent([]byte{formatVersion, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, "t", 1)
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = decodeSnapshot([]byte{formatVersion, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, "p")
	require.ErrorIs(t, err, ErrCorrupt, "a length past the end")
}

func FuzzDecodeEvent(f *testing.F) {
	e := sampleEvent()
	v, err := encodeEvent(&e)
	require.NoError(f, err)
	f.Add(v)
	f.Add([]byte{})
	f.Add([]byte{formatVersion})
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decodeEvent(v, "t", 1)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		// What decodes encodes back to the same event.
		w, err := encodeEvent(&e)
		if err != nil {
			return // a time MarshalBinary refuses though UnmarshalBinary took it
		}
		again, err := decodeEvent(w, "t", 1)
		require.NoError(t, err)
		assert.True(t, e.Time.Equal(again.Time))
		e.Time, again.Time = time.Time{}, time.Time{}
		assert.Equal(t, e, again)
	})
}

// TestDamagedValue puts garbage where an event, a commit and a snapshot
// should be: the methods that read them fail with ErrCorrupt.
func TestDamagedValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path)
	require.NoError(t, err)
	ctx := t.Context()
	for range 3 {
		require.NoError(t, s.Append(ctx, &eventlog.Event{Topic: "t"}))
	}
	require.NoError(t, s.Commit(ctx, "sub", 1))
	require.NoError(t, s.PutSnapshot(ctx, "p", eventlog.Snapshot{Data: []byte("x")}))
	require.NoError(t, s.(*store).db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketTopics).Bucket([]byte("t")).Put(key(2), []byte("garbage")); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSubs).Put([]byte("sub"), []byte("bad")); err != nil {
			return err
		}
		return tx.Bucket(bucketSnapshots).Put([]byte("p"), []byte{9, 9, 9})
	}))

	events, err := s.Read(ctx, "t", 1, 1)
	require.NoError(t, err, "what comes before the damage reads")
	require.Len(t, events, 1)
	_, err = s.Read(ctx, "t", 1, 10)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.ErrorContains(t, err, "offset 2")
	_, err = s.Committed(ctx, "sub")
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = s.Subscriptions(ctx)
	require.ErrorIs(t, err, ErrCorrupt)
	_, _, err = s.GetSnapshot(ctx, "p")
	require.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, s.Close())
}
