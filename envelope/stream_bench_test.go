package envelope_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/plugsock/plugsock/envelope"
)

// benchRecord is about 100 bytes as JSON.
type benchRecord struct {
	Key     string `json:"key"`
	Payload string `json:"payload"`
}

// BenchmarkStreamItems is one item through a stream from the callee to
// the opener over loopback TCP, received, decoded and acknowledged: the
// source's path, with a window of 128.
func BenchmarkStreamItems(b *testing.B) {
	for _, size := range []struct {
		name    string
		payload string
	}{{"100B", strings.Repeat("x", 70)}, {"4KiB", strings.Repeat("x", 4096)}} {
		b.Run(size.name, func(b *testing.B) {
			var wg sync.WaitGroup
			defer wg.Wait()
			rec := benchRecord{Key: "rec-000001", Payload: size.payload}
			_, cli := protocol2Pair(b, transports[1], streamCallee(&wg, 128, func(ctx context.Context, s *envelope.Stream) error {
				for {
					if _, err := s.Send(ctx, rec); err != nil {
						return nil
					}
				}
			}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := cli.OpenStream(ctx, "Source", nil, 128)
			if err != nil {
				b.Fatal(err)
			}
			var r benchRecord
			b.ReportAllocs()
			b.SetBytes(int64(len(size.payload) + 30))
			for b.Loop() {
				it, err := st.Recv(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := it.Decode(&r); err != nil {
					b.Fatal(err)
				}
				if err := st.Ack(it.Seq); err != nil {
					b.Fatal(err)
				}
			}
			st.Cancel("done")
		})
	}
}
