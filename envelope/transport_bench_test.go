package envelope_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// idlePair is a host's and a plugin's end of one idle connection, each
// with the heartbeat it runs in production.
type idlePair struct {
	host, plugin     *envelope.Conn
	hostHB, pluginHB *envelope.Heartbeat
}

// pingAnswerer answers $/ping as the socket and the plugin do.
func pingAnswerer(c *envelope.Conn, m *envelope.Envelope) {
	if m.IsRequest() {
		_ = c.Reply(m.ID, nil)
	}
}

// openIdle opens n idle connections over pair, with heartbeats every
// interval on both ends.
func openIdle(b *testing.B, n int, interval time.Duration, pair func(testing.TB) (net.Conn, net.Conn)) []idlePair {
	b.Helper()
	ps := make([]idlePair, n)
	for i := range ps {
		a, z := pair(b)
		h := envelope.NewConn(a, envelope.ConnOptions{Logger: quiet, Handler: pingAnswerer})
		p := envelope.NewConn(z, envelope.ConnOptions{Logger: quiet, Handler: pingAnswerer})
		h.Start()
		p.Start()
		ps[i] = idlePair{host: h, plugin: p,
			hostHB:   envelope.StartHeartbeat(h, interval, envelope.DefaultHeartbeatMisses),
			pluginHB: envelope.FollowHeartbeat(p, interval, envelope.DefaultHeartbeatMisses)}
	}
	b.Cleanup(func() {
		for _, p := range ps {
			p.host.Close()
			p.plugin.Close()
		}
		for _, p := range ps {
			<-p.host.Done()
			<-p.plugin.Done()
			p.hostHB.Stop()
			p.pluginHB.Stop()
		}
	})
	return ps
}

// cpuTime is the CPU time, user and system, this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHeartbeatIdle measures what heartbeats cost on idle
// connections: the process's CPU time over a window in which every
// connection has had ten intervals, with a short interval, scaled to
// 20,000 connections at the default interval. Both ends run in this
// process, so the figure is the host's and the plugins' together. The
// metric is per cent of one core.
func BenchmarkHeartbeatIdle(b *testing.B) {
	const n = 2000
	const interval = 100 * time.Millisecond
	openIdle(b, n, interval, tcpPair)
	time.Sleep(2 * interval) // past the first pings
	var cpu, wall time.Duration
	for b.Loop() {
		c0, t0 := cpuTime(b), time.Now()
		time.Sleep(10 * interval)
		cpu += cpuTime(b) - c0
		wall += time.Since(t0)
	}
	scale := (20000.0 / n) * (float64(interval) / float64(envelope.DefaultHeartbeatInterval))
	b.ReportMetric(100*float64(cpu)/float64(wall)*scale, "%core@20k")
}

// BenchmarkDetachIdleConns measures a call to a Handler that detaches, as
// a plugin's does, on one connection while conns idle connections with
// heartbeats on both ends are open in the same process: an in-process
// plugin among many.
func BenchmarkDetachIdleConns(b *testing.B) {
	for _, conns := range []int{10, 20000} {
		b.Run("conns="+strconv.Itoa(conns), func(b *testing.B) {
			openIdle(b, conns, envelope.DefaultHeartbeatInterval, pipePair)
			handler := func(c *envelope.Conn, m *envelope.Envelope) {
				run := func() {
					var in benchPayload
					_ = envelope.DecodeParams(m, &in)
					_ = c.Reply(m.ID, in)
				}
				if c.Detach(m) {
					run()
					return
				}
				go run()
			}
			_, cli := startPair(b, transports[1], envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
			ctx := context.Background()
			in := benchPayload{A: 42, S: "hello, plugin"}
			// CPU time per call too: it says less about latency, but a
			// loaded machine disturbs it less than wall time.
			cpu0, n := cpuTime(b), 0
			for b.Loop() {
				var out benchPayload
				if err := cli.Call(ctx, "Echo", in, &out); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(n)/1e3, "cpu-µs/op")
		})
	}
}

// writeSyscalls is the number of write system calls this process has
// made (syscw in /proc/self/io), or -1 where that is not known.
func writeSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// BenchmarkParallelCallers measures many goroutines calling one plugin
// over loopback TCP at once, the plugin running each call where it was
// read (Detach). It reports the calls' 99th percentile latency and the
// write system calls per call, both ends together.
func BenchmarkParallelCallers(b *testing.B) {
	for _, callers := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			handler := func(c *envelope.Conn, m *envelope.Envelope) {
				run := func() {
					var in benchPayload
					_ = envelope.DecodeParams(m, &in)
					_ = c.Reply(m.ID, in)
				}
				if c.Detach(m) {
					run()
					return
				}
				go run()
			}
			_, cli := startPair(b, transports[1], envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
			ctx := context.Background()
			in := benchPayload{A: 42, S: "hello, plugin"}
			var (
				mu   sync.Mutex
				lats []time.Duration
				fail atomic.Value
			)
			w0 := writeSyscalls()
			b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				own := make([]time.Duration, 0, 1024)
				for pb.Next() {
					t0 := time.Now()
					var out benchPayload
					if err := cli.Call(ctx, "Echo", in, &out); err != nil {
						fail.Store(err)
						return
					}
					own = append(own, time.Since(t0))
				}
				mu.Lock()
				lats = append(lats, own...)
				mu.Unlock()
			})
			w1 := writeSyscalls()
			if err, _ := fail.Load().(error); err != nil {
				b.Fatal(err)
			}
			if len(lats) == 0 {
				return
			}
			slices.Sort(lats)
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
			if w0 >= 0 && w1 >= 0 {
				b.ReportMetric(float64(w1-w0)/float64(len(lats)), "writes/call")
			}
		})
	}
}
