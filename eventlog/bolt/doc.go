// Package bolt is an eventlog.Store in one file on disk, on bbolt
// (go.etcd.io/bbolt), for a host that must not lose its events, its
// subscriptions' progress or its plugins' snapshots when it stops or is
// killed:
//
//	s, err := bolt.Open(filepath.Join(dataDir, "events.db"))
//	if err != nil { ... } // errors.Is(err, bolt.ErrLocked): another host has it
//	defer s.Close()
//
// Every write is in the file and synced before it returns. Writes made
// at the same time share a transaction and its sync (group commit), so
// many publishers cost little more than one, while a lone one waits for
// nothing but its own sync (BenchmarkAppendParallel measures it against a
// transaction per write and against bbolt's Batch, whose wait for company
// on a timer costs more than it saves on a disk that syncs fast).
//
// # The file
//
// The file has a bucket per topic, under "topics", keyed by offset in
// eight bytes big-endian so that reading a topic is a walk of its keys;
// the bucket's sequence is the topic's last offset, which is how offsets
// go on after Trim emptied a topic. The buckets "subs" and "snapshots"
// hold the subscriptions' offsets and the plugins' snapshots. Events are
// stored in a compact binary encoding (see codec.go), checked as it is
// read back: a value that does not decode is an error matching
// ErrCorrupt, never a panic.
//
// Only one process may have the file open: Open waits Config.LockTimeout
// for it and fails with ErrLocked. The space that Trim frees is reused by
// later events; the file does not shrink.
package bolt
