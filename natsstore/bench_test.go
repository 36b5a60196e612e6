package natsstore

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/eventlog"
)

// The benchmarks run an embedded server with file storage on loopback, as
// the tests do: the figures are a client's and a server's on one machine,
// sharing its cores.

var benchData = json.RawMessage(fmt.Sprintf(`{"id":%q,"total":1234,"items":["a","b","c"]}`, "order-0000000000000000000000000000"))

func benchStore(b *testing.B) eventlog.Store {
	ts := runServer(b, b.TempDir(), serverConfig{})
	return openStore(b, ts.connect(b), Config{})
}

// BenchmarkAppend appends one event at a time, each waiting for
// JetStream's acknowledgement, as Socket.Publish does.
func BenchmarkAppend(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	e := eventlog.Event{Topic: "orders", Type: "order", Action: "create", Key: "42",
		Attrs: map[string]string{"region": "eu"}, Data: benchData}
	b.ReportAllocs()
	for b.Loop() {
		e.Time = time.Time{}
		if err := s.Append(ctx, &e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendParallel appends from several goroutines at once, as
// many publishers on one host do: JetStream orders them, and the
// round trips overlap.
func BenchmarkAppendParallel(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		e := eventlog.Event{Topic: "orders", Type: "order", Data: benchData}
		for pb.Next() {
			e.Time = time.Time{}
			if err := s.Append(ctx, &e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRead reads 100 events per call from a topic of 10000, as a
// subscription's delivery does: one direct get each.
func BenchmarkRead(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	const n, batch = 10000, 100
	for range n {
		e := eventlog.Event{Topic: "orders", Type: "order", Attrs: map[string]string{"region": "eu"}, Data: benchData}
		require.NoError(b, s.Append(ctx, &e))
	}
	b.ReportAllocs()
	from := uint64(1)
	for b.Loop() {
		events, err := s.Read(ctx, "orders", from, batch)
		if err != nil || len(events) != batch {
			b.Fatal(len(events), err)
		}
		from = events[batch-1].Offset%(n-batch) + 1
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
