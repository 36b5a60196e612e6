package plugsockotel_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/plugsock/plugsock/envelope"
	plugsockotel "github.com/plugsock/plugsock/otel"
)

// BenchmarkCall is one call over loopback TCP, host and plugin both
// observed: by no Observer, by one whose provider records nothing (noop),
// and by the SDK's, recording every span (exported nowhere, so that the
// figures are the tracing's and not an exporter's).
func BenchmarkCall(b *testing.B) {
	for _, bc := range []struct {
		name string
		obs  func() envelope.Observer
	}{
		{"none", func() envelope.Observer { return nil }},
		{"noop", func() envelope.Observer {
			return plugsockotel.Observer(plugsockotel.WithTracerProvider(noop.NewTracerProvider()))
		}},
		{"sdk", func() envelope.Observer {
			tp := sdktrace.NewTracerProvider()
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			return plugsockotel.Observer(plugsockotel.WithTracerProvider(tp))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, addr := newHost(b, bc.obs())
			connect(b, s, addr, &Calc{}, "calc", bc.obs())
			in := Pair{A: 1, B: 2}
			b.ReportAllocs()
			for b.Loop() {
				var sum int
				if err := s.CallContext(context.Background(), "calc", "Add", in, &sum); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
