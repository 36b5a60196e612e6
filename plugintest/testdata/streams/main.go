// Command streams is a Go plugin built on plugin.Run with one stream of
// each shape, and a plain function: the stream plugin the conformance
// battery must pass. With STREAMS_MODE=reject its sink rejects every
// item, which the battery warns about. With $PLUGINTEST_RECORD set, it
// records every byte it reads to a file in that directory, one file per
// process, so that a test can compare the frames the battery sends with
// the host's.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Streams is the plugin.
type Streams struct{}

// Point is a Kapacitor-shaped point.
type Point struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Record is a Conduit-shaped record.
type Record struct {
	Key     string `json:"key"`
	Payload string `json:"payload"`
}

// ScaleIn is what opens Scale.
type ScaleIn struct {
	Factor float64 `json:"factor"`
}

// TicksIn is what opens Ticks.
type TicksIn struct {
	From int `json:"from"`
}

// Add adds.
func (Streams) Add(_ context.Context, in struct {
	A int `json:"a"`
	B int `json:"b"`
}) (int, error) {
	return in.A + in.B, nil
}

// Scale is a processor: every point back, scaled, each acknowledged once
// its answer is sent.
func (Streams) Scale(ctx context.Context, in ScaleIn, s *plugin.Stream[Point, Point]) error {
	for {
		it, err := s.Recv(ctx)
		if err == io.EOF {
			return s.Drain(ctx)
		}
		if err != nil {
			return err
		}
		if _, err := s.Send(ctx, Point{Name: it.Value.Name, Value: it.Value.Value * in.Factor}); err != nil {
			return err
		}
		if err := s.Ack(it.Seq); err != nil {
			return err
		}
	}
}

// Ticks is an endless source: records from From on, each at its
// position, until the host cancels the stream or asks the plugin to stop.
func (Streams) Ticks(ctx context.Context, in TicksIn, out *plugin.Source[Record]) error {
	for i := in.From; ; i++ {
		select {
		case <-plugin.Stopping(ctx):
			return out.Drain(ctx)
		default:
		}
		if _, err := out.SendAt(ctx, i, Record{Key: fmt.Sprint(i), Payload: "tick"}); err != nil {
			return err
		}
	}
}

// Store is a sink: it acknowledges every record, or, in reject mode,
// rejects it.
func (Streams) Store(ctx context.Context, in *plugin.Sink[Record]) error {
	reject := os.Getenv("STREAMS_MODE") == "reject"
	for {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if reject {
			_ = in.Reject(it.Seq, "read-only store")
			continue
		}
		_ = in.Ack(it.Seq)
	}
}

func main() {
	info := &envelope.PluginInfo{Name: "streams", Version: "1.0.0"}
	if dir := os.Getenv("PLUGINTEST_RECORD"); dir != "" {
		record(dir, info)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := plugin.Run(ctx, Streams{}, info); err != nil {
		log.Fatal(err)
	}
}

// recorder is a connection whose reads are copied to a file.
type recorder struct {
	net.Conn
	to io.Writer
}

func (r recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	_, _ = r.to.Write(p[:n])
	return n, err
}

// record serves the plugin over a connection of its own, recording what
// it reads to a file in dir.
func record(dir string, info *envelope.PluginInfo) {
	network, addr, err := envelope.ParseAddr(os.Getenv(envelope.EnvAddr))
	if err != nil {
		log.Fatal(err)
	}
	nc, err := net.Dial(network, addr)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "frames-*")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	p := &plugin.Plugin{Launch: os.Getenv(envelope.EnvLaunch)}
	if err := p.Start(Streams{}, info, recorder{nc, f}, nil); err != nil {
		log.Fatal(err)
	}
}
