// Package kapacitor is a stream processor shaped like a Kapacitor UDF:
// points flow in from the host and points flow back, one for each, over
// one stream. The processor here is a moving average: each point out is
// the mean of the last Size values of its series, the points sharing its
// name.
//
// Flow control is the stream's: the processor acknowledges a point only
// once it has sent the point it made of it, so a host that reads slowly
// holds the processor at the host's window, and the processor holds the
// host at its own. Nothing is dropped and neither side's memory grows with
// the backlog.
package kapacitor

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// The plugin's name and version, as it gives them in its handshake.
const (
	Name    = "kapacitor"
	Version = "1.0.0"
)

// Bounds of a stream's moving average.
const (
	// DefaultSize is the number of points averaged when Options.Size is
	// zero.
	DefaultSize = 10
	// MaxSize bounds Options.Size: the values kept per series.
	MaxSize = 10_000
	// MaxSeries bounds the series one stream averages: a point of a new
	// series past it is rejected, so that a host sending ever new names
	// cannot make the processor's memory grow without end.
	MaxSeries = 10_000
)

// Point is one point of a series.
type Point struct {
	Name  string  `json:"name"`
	Time  int64   `json:"time"` // Unix nanoseconds
	Value float64 `json:"value"`
	// Keepalive marks a point that carries no data: the processor sends
	// it straight back, in its place among the others, as a Kapacitor
	// UDF answers a keepalive, so that the host learns the processor is
	// still taking points (a heartbeat only tells it the process is up).
	Keepalive bool `json:"keepalive,omitempty"`
}

// Options is what a stream is opened with.
type Options struct {
	// Size is how many of a series' last values each point averages;
	// DefaultSize when zero.
	Size int `json:"size,omitempty" plugsock:"minimum=0,maximum=10000"`
	// As names the points out; each keeps its series' name when empty.
	As string `json:"as,omitempty"`
}

// Counts are the points a UDF has taken and sent, over all its streams.
type Counts struct {
	Received uint64 `json:"received"` // points received, keepalives included
	Sent     uint64 `json:"sent"`     // points sent
	Rejected uint64 `json:"rejected"` // points received and rejected
}

// UDF is the processor. Its zero value is ready; it may serve many
// streams at once, each with a moving average of its own.
type UDF struct {
	received, sent, rejected atomic.Uint64
}

// Process averages the points the host sends: for each one, it sends the
// mean of the last Size values of the point's series, with the point's
// time, and then acknowledges the point. A keepalive comes straight back.
// A point of a series past MaxSeries is rejected, and nothing sent for
// it. Process returns once the host has closed its half and settled
// every point sent.
func (u *UDF) Process(ctx context.Context, in Options, s *plugin.Stream[Point, Point]) error {
	avg, err := newMovingAverage(in)
	if err != nil {
		return err
	}
	for {
		it, err := s.Recv(ctx)
		if err == io.EOF {
			return s.Drain(ctx)
		}
		if err != nil {
			return err
		}
		u.received.Add(1)
		out, err := avg.add(it.Value)
		if err != nil {
			u.rejected.Add(1)
			if err := s.Reject(it.Seq, err.Error()); err != nil {
				return err
			}
			continue
		}
		if _, err := s.Send(ctx, out); err != nil {
			return err
		}
		u.sent.Add(1)
		// Only now: the host may send another point once this one is
		// settled, so a host that does not read what is sent cannot
		// make points pile up here.
		if err := s.Ack(it.Seq); err != nil {
			return err
		}
	}
}

// Counts returns the points taken and sent so far.
func (u *UDF) Counts(context.Context, struct{}) (Counts, error) {
	return Counts{Received: u.received.Load(), Sent: u.sent.Load(), Rejected: u.rejected.Load()}, nil
}

// movingAverage is one stream's state: the last values of each series.
type movingAverage struct {
	size   int
	as     string
	series map[string]*ring
}

// ring holds a series' last values and their sum.
type ring struct {
	vals []float64 // up to size, oldest at next once full
	next int
	sum  float64
}

func newMovingAverage(o Options) (*movingAverage, error) {
	size := o.Size
	switch {
	case size == 0:
		size = DefaultSize
	case size < 0 || size > MaxSize:
		return nil, envelope.Errorf(envelope.CodeInvalidParams, "size %d: want 1 to %d, or 0 for %d", o.Size, MaxSize, DefaultSize)
	}
	return &movingAverage{size: size, as: o.As, series: make(map[string]*ring)}, nil
}

// add takes point p and returns the point to send for it.
func (m *movingAverage) add(p Point) (Point, error) {
	if p.Keepalive {
		return Point{Time: p.Time, Keepalive: true}, nil
	}
	r := m.series[p.Name]
	if r == nil {
		if len(m.series) >= MaxSeries {
			return Point{}, fmt.Errorf("series %q: the stream averages %d series already, the most it may", p.Name, MaxSeries)
		}
		r = &ring{vals: make([]float64, 0, min(m.size, 64))}
		m.series[p.Name] = r
	}
	if len(r.vals) < m.size {
		r.vals = append(r.vals, p.Value)
	} else {
		r.sum -= r.vals[r.next]
		r.vals[r.next] = p.Value
		r.next = (r.next + 1) % m.size
	}
	r.sum += p.Value
	name := p.Name
	if m.as != "" {
		name = m.as
	}
	return Point{Name: name, Time: p.Time, Value: r.sum / float64(len(r.vals))}, nil
}
