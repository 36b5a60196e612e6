package bolt_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/eventlog/bolt"
	"github.com/plugsock/plugsock/eventlog/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, opts ...bolt.Option) eventlog.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(storetest.Dir(t), "events.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventlog.Store { return open(t) }, storetest.Config{Durable: true})
}

func TestStoreSmallLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventlog.Store {
		return open(t, bolt.Config{MaxEventSize: 1000})
	}, storetest.Config{Durable: true, MaxEventSize: 1000, Appenders: 2, Appends: 20})
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := bolt.Open(path)
	require.NoError(t, err)
	defer s.Close()

	start := time.Now()
	_, err = bolt.Open(path, bolt.Config{LockTimeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, bolt.ErrLocked)
	assert.ErrorContains(t, err, path, "the error names the file")
	assert.Less(t, time.Since(start), 5*time.Second, "Open gave up in time")

	_, err = bolt.Open(path, bolt.Config{LockTimeout: -1})
	require.ErrorIs(t, err, bolt.ErrLocked, "a negative timeout tries once")

	require.NoError(t, s.Close())
	s2, err := bolt.Open(path, bolt.Config{LockTimeout: -1})
	require.NoError(t, err, "free once closed")
	require.NoError(t, s2.Close())
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"garbage":  []byte(strings.Repeat("not a bbolt file at all. ", 1000)),
		"short":    []byte("x"),
		"zeros":    make([]byte, 64<<10),
		"json.txt": []byte(`{"topic":"t"}`),
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, content, 0o600))
		_, err := bolt.Open(path, bolt.Config{LockTimeout: -1})
		require.ErrorIs(t, err, bolt.ErrCorrupt, "%s: %v", name, err)
		assert.ErrorContains(t, err, path, "the error names the file")
	}

	// A good event log with its header pages smashed.
	path := filepath.Join(dir, "smashed.db")
	s, err := bolt.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Append(t.Context(), &eventlog.Event{Topic: "t"}))
	require.NoError(t, s.Close())
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, 8192), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = bolt.Open(path, bolt.Config{LockTimeout: -1})
	require.ErrorIs(t, err, bolt.ErrCorrupt, "%v", err)
}

func TestForeignBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("something else"))
		return err
	}))
	require.NoError(t, db.Close())

	_, err = bolt.Open(path)
	require.ErrorIs(t, err, bolt.ErrCorrupt)
	assert.ErrorContains(t, err, "something else")
}

func TestMissingDirectory(t *testing.T) {
	_, err := bolt.Open(filepath.Join(t.TempDir(), "no", "such", "dir", "events.db"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestMaxEventSize(t *testing.T) {
	s := open(t, bolt.Config{MaxEventSize: 100})
	e := eventlog.Event{Topic: "t", Data: json.RawMessage(`"` + strings.Repeat("x", 200) + `"`)}
	err := s.Append(t.Context(), &e)
	require.ErrorIs(t, err, eventlog.ErrTooLarge)
	assert.ErrorContains(t, err, "limit of 100")
}
