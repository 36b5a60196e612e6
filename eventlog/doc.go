// Package eventlog is where a plugsock host keeps its events: topics of
// events in order, how far each subscription got through them, and each
// plugin's latest state snapshot. The host publishes to a topic, delivers
// a topic's events to the subscriptions whose Filter matches them, and
// records a subscription's progress with Commit, so that after a restart it
// goes on from the event after the last one committed: delivery is at
// least once.
//
// The package defines the seam, Store, and keeps the standard library
// only; the stores live elsewhere:
//
//   - NewMemory, here: maps under a mutex, for tests and for a host with no
//     data directory. Nothing survives the process.
//   - eventlog/bolt: one file on disk (go.etcd.io/bbolt); every write
//     is synced before it returns, so it survives a SIGKILL of the host.
//   - the natsstore module: JetStream, for hosts that share their events.
//
// Package eventlog/storetest is the suite of tests every Store passes;
// a new Store runs it from its own tests.
//
// # Topics and offsets
//
// Append gives every event of a topic the next offset, 1, 2, 3..., never
// reused, and the time when the event has none:
//
//	s := eventlog.NewMemory()
//	e := eventlog.Event{Topic: "orders", Type: "order", Action: "create", Key: "42",
//		Data: json.RawMessage(`{"total":10}`)}
//	if err := s.Append(ctx, &e); err != nil { ... } // e.Offset is now 1
//
//	events, err := s.Read(ctx, "orders", 1, 100) // offsets 1.. in order, at most 100
//
// An event is bounded, DefaultMaxEventSize (1 MiB) by default as measured
// by Event.Size, and so is a name (MaxNameLen bytes, printable, no space;
// no "*" in a topic, since that is how a Filter asks for a prefix). A store
// refuses what breaks a bound with an error matching ErrTooLarge or
// ErrInvalid, before it stores anything.
//
// # Retention
//
// A topic keeps its events until they are trimmed: Trim drops the offsets
// below the one given, and Retain trims by age and by count, to be called
// on a timer. Bounds tells the range still kept. A subscription that has
// fallen behind the first offset kept has lost the events in between;
// Bounds lets it find out.
//
// # Subscriptions and snapshots
//
// Commit records a subscription's offset: every event up to it is done
// with. Committed and Subscriptions read them back. PutSnapshot and
// GetSnapshot keep one snapshot per plugin, the latest, so that a plugin
// can start again from its state rather than from its first event.
//
// # Filters
//
// A Filter says which events a subscription wants: a topic, exact or a
// prefix ending in "*", and a type, an action, a key and attributes that
// must match when given. Filter.Match decides for one event; the stores do
// not filter, the host does as it delivers.
package eventlog
