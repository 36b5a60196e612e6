package eventlog_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/plugsock/plugsock/eventlog"
)

var benchData = json.RawMessage(`{"id":"` + strings.Repeat("x", 180) + `"}`)

func BenchmarkMemoryAppend(b *testing.B) {
	s := eventlog.NewMemory()
	defer s.Close()
	ctx := b.Context()
	for b.Loop() {
		e := eventlog.Event{Topic: "bench", Type: "t", Data: benchData}
		if err := s.Append(ctx, &e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

func BenchmarkMemoryAppendParallel(b *testing.B) {
	s := eventlog.NewMemory()
	defer s.Close()
	ctx := b.Context()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := eventlog.Event{Topic: "bench", Type: "t", Data: benchData}
			if err := s.Append(ctx, &e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkMemoryRead reads 100 events at a time from a topic of 10000.
func BenchmarkMemoryRead(b *testing.B) {
	s := eventlog.NewMemory()
	defer s.Close()
	ctx := b.Context()
	for range 10000 {
		if err := s.Append(ctx, &eventlog.Event{Topic: "bench", Type: "t", Data: benchData}); err != nil {
			b.Fatal(err)
		}
	}
	from := uint64(1)
	for b.Loop() {
		events, err := s.Read(ctx, "bench", from, 100)
		if err != nil || len(events) != 100 {
			b.Fatal(len(events), err)
		}
		from = (from + 100) % 9900
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRetain trims a topic of 100000 events by age, the work of one
// tick of the host's timer: one Bounds, about 17 one-event Reads, a Trim.
func BenchmarkRetain(b *testing.B) {
	s := eventlog.NewMemory()
	defer s.Close()
	ctx := b.Context()
	for range 100000 {
		if err := s.Append(ctx, &eventlog.Event{Topic: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if err := eventlog.Retain(ctx, s, "bench", 1<<62, 0); err != nil { // keeps all: the search alone
			b.Fatal(err)
		}
	}
}
