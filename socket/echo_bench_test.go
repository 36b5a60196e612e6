package socket_test

import (
	"context"
	"fmt"
	"net/rpc"
	"slices"
	"testing"
	"time"
)

// The echo benchmarks send one value and get it back, sequentially, at
// the four sizes issue 13 sets targets for, through plugsock (a plugin in
// this process over loopback TCP) and through net/rpc with gob over the
// same transport. Run both in one go and compare the pairs: the ratio is
// the figure, since the machine's speed is not.

// Rec is one record of the struct payloads: a mix of numbers, strings and
// a slice, about 100 bytes of JSON.
type Rec struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Score float64  `json:"score"`
	OK    bool     `json:"ok"`
	Tags  []string `json:"tags"`
}

// Recs is a struct payload of many records.
type Recs struct {
	Recs []Rec `json:"recs"`
}

// Blob is a payload of raw bytes.
type Blob struct {
	Data []byte `json:"data"`
}

// EchoServer is the echo plugin, and the net/rpc service too.
type EchoServer struct{}

// Small returns its input.
func (EchoServer) Small(_ context.Context, in Small) (Small, error) { return in, nil }

// Recs returns its input.
func (EchoServer) Recs(_ context.Context, in Recs) (Recs, error) { return in, nil }

// Blob returns its input.
func (EchoServer) Blob(_ context.Context, in Blob) (Blob, error) { return in, nil }

// Bytes returns its input.
func (EchoServer) Bytes(_ context.Context, in []byte) ([]byte, error) { return in, nil }

// GobEcho is the net/rpc counterpart of EchoServer.
type GobEcho struct{}

func (GobEcho) Small(in Small, out *Small) error { *out = in; return nil }
func (GobEcho) Recs(in Recs, out *Recs) error    { *out = in; return nil }
func (GobEcho) Blob(in Blob, out *Blob) error    { *out = in; return nil }
func (GobEcho) Bytes(in []byte, out *[]byte) error {
	*out = in
	return nil
}

// makeRecs returns records whose JSON comes to about size bytes.
func makeRecs(size int) Recs {
	var r Recs
	for i := 0; 100*len(r.Recs) < size; i++ {
		r.Recs = append(r.Recs, Rec{
			ID: i, Name: fmt.Sprintf("record number %d", i), Score: float64(i) * 1.25,
			OK: i%2 == 0, Tags: []string{"alpha", "beta", fmt.Sprint("t", i%7)},
		})
	}
	return r
}

func makeBlob(size int) Blob {
	b := Blob{Data: make([]byte, size)}
	for i := range b.Data {
		b.Data[i] = byte(i * 7)
	}
	return b
}

// startGob serves GobEcho over loopback TCP and returns a client.
func startGob(b *testing.B) *rpc.Client { return gobServers(b, 1)[0] }

type echoCase struct {
	name, method string
	in           any
	out          func() any
}

func echoCases() []echoCase {
	small := Small{A: 42, S: "hello"}
	r1k, r64k := makeRecs(1<<10), makeRecs(64<<10)
	blob := makeBlob(1 << 20)
	return []echoCase{
		{"16B", "Small", small, func() any { return new(Small) }},
		{"1KiB", "Recs", r1k, func() any { return new(Recs) }},
		{"64KiB", "Recs", r64k, func() any { return new(Recs) }},
		{"1MiB-bytes", "Bytes", blob.Data, func() any { return new([]byte) }},
		{"1MiB-field", "Blob", blob, func() any { return new(Blob) }},
	}
}

// BenchmarkEcho is a sequential echo of a 16 B struct, a 1 KiB and a
// 64 KiB struct of records, and a 1 MiB []byte (as the function's input
// and result, and as a struct's field), each through plugsock and through
// net/rpc gob.
func BenchmarkEcho(b *testing.B) {
	cases := echoCases()
	for _, c := range cases {
		b.Run(c.name+"/plugsock", func(b *testing.B) {
			h := newBenchHost(b, "tcp")
			name := h.connect(b, EchoServer{}, "echo")
			b.ReportAllocs()
			for b.Loop() {
				if err := h.s.CallContext(context.Background(), name, c.method, c.in, c.out()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/gob", func(b *testing.B) {
			cl := startGob(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := cl.Call("GobEcho."+c.method, c.in, c.out()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEchoRatio makes the calls of BenchmarkEcho in pairs, one
// through plugsock and one through net/rpc gob, and reports the median of
// the pairs' ratios (plugsock-ratio: plugsock's time over gob's) beside
// each side's median time. Pairs taken a moment apart see the same load,
// which on a shared machine matters more than anything measured.
func BenchmarkEchoRatio(b *testing.B) {
	for _, c := range echoCases() {
		b.Run(c.name, func(b *testing.B) {
			h := newBenchHost(b, "tcp")
			name := h.connect(b, EchoServer{}, "echo")
			cl := startGob(b)
			var ps, gs, ratios []float64
			for b.Loop() {
				t0 := time.Now()
				if err := h.s.CallContext(context.Background(), name, c.method, c.in, c.out()); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := cl.Call("GobEcho."+c.method, c.in, c.out()); err != nil {
					b.Fatal(err)
				}
				p, g := float64(t1.Sub(t0)), float64(time.Since(t1))
				ps, gs, ratios = append(ps, p), append(gs, g), append(ratios, p/g)
			}
			b.ReportMetric(median(ratios), "plugsock-ratio")
			b.ReportMetric(median(ps), "plugsock-ns")
			b.ReportMetric(median(gs), "gob-ns")
		})
	}
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}
