package bolt

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/eventlog"
)

var benchData = json.RawMessage(`{"id":"` + strings.Repeat("x", 180) + `"}`)

func benchStore(b *testing.B) eventlog.Store {
	s, err := Open(filepath.Join(b.TempDir(), "events.db"))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	return s
}

var writeModes = []struct {
	name string
	mode int
}{{"group", writeGroup}, {"update", writeUpdate}, {"batch", writeBatch}}

// BenchmarkAppend appends from one goroutine: every Append waits for its
// sync, the latency a lone publisher sees.
func BenchmarkAppend(b *testing.B) {
	for _, m := range writeModes {
		b.Run(m.name, func(b *testing.B) {
			defer func(old int) { writeMode = old }(writeMode)
			writeMode = m.mode
			s := benchStore(b)
			ctx := b.Context()
			for b.Loop() {
				e := eventlog.Event{Topic: "bench", Type: "t", Data: benchData}
				if err := s.Append(ctx, &e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// BenchmarkAppendParallel appends from many goroutines at once, where
// sharing a transaction and its sync pays.
func BenchmarkAppendParallel(b *testing.B) {
	for _, m := range writeModes {
		for _, par := range []int{4, 32} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", m.name, par), func(b *testing.B) {
				defer func(old int) { writeMode = old }(writeMode)
				writeMode = m.mode
				s := benchStore(b)
				ctx := b.Context()
				// RunParallel starts GOMAXPROCS×p goroutines.
				b.SetParallelism(max(1, par/runtimeProcs()))
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
			})
		}
	}
}

// BenchmarkRead reads 100 events at a time from a topic of 10000.
func BenchmarkRead(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	var wg syncGroup
	for w := range 10 {
		wg.Go(func() {
			for range 1000 {
				e := eventlog.Event{Topic: "bench", Type: "t", Key: fmt.Sprint(w), Data: benchData}
				if err := s.Append(ctx, &e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
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
