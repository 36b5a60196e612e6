package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// The stream paths of the comparison as go test benchmarks, with the
// plugin (or gRPC server) in this process over loopback TCP; ns/op is per
// record. go test -run '^$' -bench Stream -benchmem

var benchStreamSystems = []struct {
	name  string
	start func(child bool) (streamConn, error)
}{
	{"plugsock", startPlugsockStreams},
	{"grpc", startGRPCStreams},
	{"async", startPlugsockAsync},
}

func benchSizeName(size int) string {
	if size%1024 == 0 {
		return fmt.Sprintf("%dKiB", size/1024)
	}
	return fmt.Sprintf("%dB", size)
}

// eachStreamSystem runs f as a sub-benchmark for every system and record
// size, with the system started and closed around it.
func eachStreamSystem(b *testing.B, shape string, f func(b *testing.B, sc streamConn, size int)) {
	for _, sys := range benchStreamSystems {
		if sys.name == "async" && shape != "source" {
			continue
		}
		for _, size := range recordSizes {
			b.Run(sys.name+"/"+benchSizeName(size), func(b *testing.B) {
				sc, err := sys.start(false)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					if err := sc.close(); err != nil {
						b.Error(err)
					}
				})
				b.SetBytes(int64(size))
				b.ReportAllocs()
				r0, w0, ok := sysCalls()
				f(b, sc, size)
				// Both sides are in this process: these are the system
				// calls of a record, sender's and receiver's.
				if r1, w1, ok1 := sysCalls(); ok && ok1 && b.N > 0 {
					b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/op")
					b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/op")
				}
			})
		}
	}
}

// BenchmarkStreamSource is one record from the plugin's source read (and
// acknowledged, where the system has acknowledgements) at the host.
func BenchmarkStreamSource(b *testing.B) {
	eachStreamSystem(b, "source", func(b *testing.B, sc streamConn, size int) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r, err := sc.source(ctx, size)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if n, err := r.next(); err != nil || n != size {
				b.Fatalf("record of %d bytes, want %d: %v", n, size, err)
			}
		}
		if err := r.stop(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkStreamProcessor is one record through a processor, the host
// sending on one goroutine and reading the echoes on another.
func BenchmarkStreamProcessor(b *testing.B) {
	eachStreamSystem(b, "processor", func(b *testing.B, sc streamConn, size int) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p, err := sc.processor(ctx)
		if err != nil {
			b.Fatal(err)
		}
		rec, _ := makeRecord(size)
		var stop atomic.Bool
		sending := make(chan error, 1)
		go func() {
			for !stop.Load() {
				if err := p.send(&rec); err != nil {
					sending <- err
					return
				}
			}
			sending <- p.closeSend()
		}()
		for b.Loop() {
			if n, err := p.next(); err != nil || n != size {
				b.Fatalf("echo of %d bytes, want %d: %v", n, size, err)
			}
		}
		stop.Store(true)
		for {
			if _, err := p.next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		if err := <-sending; err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkStreamRoundTrip is one record through a processor and back,
// one in flight at a time: the latency of an item.
func BenchmarkStreamRoundTrip(b *testing.B) {
	eachStreamSystem(b, "processor", func(b *testing.B, sc streamConn, size int) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p, err := sc.processor(ctx)
		if err != nil {
			b.Fatal(err)
		}
		rec, _ := makeRecord(size)
		for b.Loop() {
			if err := p.send(&rec); err != nil {
				b.Fatal(err)
			}
			if n, err := p.next(); err != nil || n != size {
				b.Fatalf("echo of %d bytes, want %d: %v", n, size, err)
			}
		}
		if err := p.closeSend(); err != nil {
			b.Fatal(err)
		}
		if _, err := p.next(); err != io.EOF {
			b.Fatalf("after the last echo: %v, want the end", err)
		}
	})
}

// sysCalls returns the read and write system calls this process has made
// (Linux's /proc/self/io); ok is false where that cannot be read.
func sysCalls() (reads, writes uint64, ok bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0, false
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		x, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		switch {
		case err != nil:
		case k == "syscr":
			reads, n = x, n+1
		case k == "syscw":
			writes, n = x, n+1
		}
	}
	return reads, writes, n == 2
}
