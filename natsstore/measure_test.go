package natsstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// measureSink acknowledges every event it is delivered and reports each.
type measureSink struct{ seen chan eventlog.Event }

func (m *measureSink) Subscriptions() []plugin.Subscription {
	return []plugin.Subscription{{Name: "measure", Function: "Deliver", Filter: eventlog.Filter{Topic: "m"}}}
}

func (m *measureSink) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	for {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := in.Ack(it.Seq); err != nil {
			return err
		}
		m.seen <- it.Value
	}
}

// TestMeasureEvents is socket's TestMeasureEvents on a JetStream store:
// publish throughput (64 publishers), delivery throughput to one plugin
// over TCP, and the end-to-end latency of one event at a time, with an
// embedded nats-server on file storage. A measurement, not a check:
// PLUGSOCK_MEASURE=1 runs it.
func TestMeasureEvents(t *testing.T) {
	if os.Getenv("PLUGSOCK_MEASURE") == "" {
		t.Skip("PLUGSOCK_MEASURE=1 runs the measurement")
	}
	const n = 20000
	ctx := context.Background()
	ts := runServer(t, t.TempDir(), serverConfig{maxPayload: bigPayload})
	st := openStore(t, ts.connect(t), Config{Prefix: newPrefix()})
	s := new(socket.Socket)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(l, socket.Config{Logger: slog.New(slog.DiscardHandler), Store: st})
	began := time.Now()
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				if _, err := s.Publish(ctx, "m", eventlog.Event{Type: "t", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	pub := time.Since(began)
	sink := &measureSink{seen: make(chan eventlog.Event, n+1)}
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	p := &plugin.Plugin{Logger: slog.New(slog.DiscardHandler)}
	began = time.Now()
	go func() { done <- p.Start(sink, &envelope.PluginInfo{Name: "measure"}, conn, nil) }()
	for range n {
		<-sink.seen
	}
	deliver := time.Since(began)
	var lat []time.Duration
	for range 300 {
		at := time.Now()
		if _, err := s.Publish(ctx, "m", eventlog.Event{Type: "t"}); err != nil {
			t.Fatal(err)
		}
		<-sink.seen
		lat = append(lat, time.Since(at))
	}
	slices.Sort(lat)
	t.Logf("JetStream: publish %d events (64 publishers) in %v: %.0f/s; deliver them in %v: %.0f/s; end to end p50 %v p99 %v",
		n, pub.Round(time.Millisecond), float64(n)/pub.Seconds(), deliver.Round(time.Millisecond), float64(n)/deliver.Seconds(),
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
	_ = s.Shutdown("")
	<-done
}
