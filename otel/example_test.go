package plugsockotel_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plugsock/plugsock/envelope"
	plugsockotel "github.com/plugsock/plugsock/otel"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Adder is a plugin with one function.
type Adder struct{}

func (*Adder) Add(_ context.Context, in [2]int) (int, error) { return in[0] + in[1], nil }

// A host and a Go plugin, each with an Observer, trace a call as one
// trace: the host's client span and, its child, the plugin's server span.
// Here both export to one in-memory exporter; in real life each process
// has its own tracer provider (often OpenTelemetry's global one, the
// default), exporting where OTEL_EXPORTER_OTLP_ENDPOINT says.
func Example() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	discard := slog.New(slog.DiscardHandler)

	// The host.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: discard, Observer: plugsockotel.Observer(plugsockotel.WithTracerProvider(tp))})

	// The plugin, as its own process would run it (plugin.Plugin's Run
	// takes the same settings).
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	p := &plugin.Plugin{Logger: discard, Observer: plugsockotel.Observer(plugsockotel.WithTracerProvider(tp))}
	done := make(chan error, 1)
	go func() { done <- p.Start(&Adder{}, &envelope.PluginInfo{Name: "adder"}, conn, nil) }()
	if !s.WaitFor("adder", 10*time.Second) {
		log.Fatal("the plugin did not connect")
	}

	var sum int
	if err := s.CallContext(context.Background(), "adder", "Add", [2]int{20, 22}, &sum); err != nil {
		log.Fatal(err)
	}
	_ = s.Shutdown("")
	<-done

	spans := exp.GetSpans() // in the order they ended
	for _, sp := range spans {
		fmt.Println(sp.Name, sp.SpanKind)
	}
	server, client := spans[0], spans[1]
	fmt.Println("sum:", sum)
	fmt.Println("one trace:", server.SpanContext.TraceID() == client.SpanContext.TraceID())
	fmt.Println("the plugin's span is the host's child:", server.Parent.SpanID() == client.SpanContext.SpanID())
	// Output:
	// plugsock/Add server
	// plugsock/Add client
	// sum: 42
	// one trace: true
	// the plugin's span is the host's child: true
}
