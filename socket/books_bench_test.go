package socket

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/testplugins"
)

// The socket's bookkeeping at many plugins: what a call pays for the
// plugins it does not call, and what an idle plugin costs the host.
//
// The idle plugins are raw connections over memPipe that send their
// handshake and then nothing: the host does all it does for a plugin
// that dialled in, and the plugin side costs two pipe ends, so the heap
// measured is the host's. Heartbeats are off, so that they do not add
// calls of their own to what is measured.

// swarmSocket returns a socket with heartbeats off, shut down at the end.
func swarmSocket(tb testing.TB) *Socket {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	s := new(Socket)
	s.Serve(l, Config{Logger: slog.New(slog.DiscardHandler), HeartbeatInterval: -1, AsyncBuffer: 16,
		MaxPlugins: -1, HandshakeTimeout: time.Minute, ShutdownTimeout: 10 * time.Second})
	tb.Cleanup(func() { _ = s.Shutdown("") })
	return s
}

// describe is a "functions" object of n functions, the same bytes for
// every plugin given the same n.
func describe(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"F%d":{"input":{"type":"struct","fields":[{"name":"A","type":"int","mandatory":true},{"name":"B","type":"string"}]},"output":{"type":"int"}}`, i)
	}
	b.WriteByte('}')
	return b.String()
}

// connectIdle connects n idle plugins named prefix-0 to prefix-(n-1),
// each describing fns functions, and waits until all are live. The
// plugins never read, so they never answer a stop: their ends are closed
// when tb ends, before the socket's Shutdown.
func connectIdle(tb testing.TB, s *Socket, prefix string, n, fns int) []net.Conn {
	tb.Helper()
	cfg := s.settings()
	functions := describe(fns)
	ends := make([]net.Conn, n)
	before := 0
	if n > 1 {
		before = s.Stats().Plugins // a walk of every plugin: not for each one connected
	}
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				hostEnd, pluginEnd := memPipe()
				ends[i] = pluginEnd
				s.serveConn(hostEnd, "idle", cfg)
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"%s-%d","version":"1.0.0","functions":%s}}`, prefix, i, functions)
				if _, err := fmt.Fprintf(pluginEnd, "Content-Length: %d\r\n\r\n%s", len(body), body); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	tb.Cleanup(func() { closeEnds(ends) })
	if n == 1 {
		// One plugin: as a caller waits for it.
		if !s.WaitFor(prefix+"-0", time.Minute) {
			tb.Fatalf("%s-0 did not connect", prefix)
		}
		return ends
	}
	// Many: counted rather than waited for one by one, so that filling
	// the socket costs the same before and after the index (a WaitFor for
	// a name not yet connected used to scan every plugin).
	if !waitPlugins(s, before+n, 2*time.Minute) {
		tb.Fatalf("%d of %d plugins connected", s.Stats().Plugins-before, n)
	}
	return ends
}

// waitPlugins waits until want plugins are connected, woken by each
// connect as WaitFor is.
func waitPlugins(s *Socket, want int, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		if s.Stats().Plugins >= want {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		}
	}
}

func closeEnds(ends []net.Conn) {
	for _, c := range ends {
		_ = c.Close()
	}
}

// attachCalc attaches a calc plugin to call.
func attachCalc(tb testing.TB, s *Socket) string {
	tb.Helper()
	name, err := s.Attach(testplugins.NewCalc(), &envelope.PluginInfo{Name: "calc", Version: "1.0.0"})
	require.NoError(tb, err)
	return name
}

// BenchmarkBooksMissing is a call to a name no plugin has, at 100 and at
// 20,000 plugins: it should cost the same at both.
func BenchmarkBooksMissing(b *testing.B) {
	for _, n := range []int{100, 20000} {
		b.Run(fmt.Sprintf("plugins=%d", n), func(b *testing.B) {
			s := swarmSocket(b)
			ends := connectIdle(b, s, "idle", n, 2)
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.lookup("missing"); err == nil {
					b.Fatal("found a plugin called missing")
				}
			}
			runtime.KeepAlive(ends)
		})
	}
}

// BenchmarkBooksConnect connects plugins to a socket that holds n
// already: the connect rate as the socket fills.
func BenchmarkBooksConnect(b *testing.B) {
	for _, n := range []int{100, 20000} {
		b.Run(fmt.Sprintf("plugins=%d", n), func(b *testing.B) {
			s := swarmSocket(b)
			ends := connectIdle(b, s, "idle", n, 2)
			i := 0
			var more [][]net.Conn
			for b.Loop() {
				more = append(more, connectIdle(b, s, fmt.Sprintf("more%d", i), 1, 2))
				i++
			}
			runtime.KeepAlive(ends)
			runtime.KeepAlive(more)
		})
	}
}

// BenchmarkBooksPoll measures calls to one plugin beside n idle ones,
// with and without another goroutine polling Connected(true) every
// 100 ms, as a console does. It reports the worst call and the 99th
// percentile besides the mean.
func BenchmarkBooksPoll(b *testing.B) {
	const n = 20000
	s := swarmSocket(b)
	ends := connectIdle(b, s, "idle", n, 2)
	defer runtime.KeepAlive(ends)
	calc := attachCalc(b, s)
	for _, poll := range []bool{false, true} {
		b.Run(fmt.Sprintf("plugins=%d/poll=%v", n, poll), func(b *testing.B) {
			stop, done := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				if !poll {
					return
				}
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if got := len(s.Connected(true)); got != n+1 {
							panic(fmt.Sprintf("Connected has %d plugins, want %d", got, n+1))
						}
					}
				}
			}()
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := s.Call("", calc, "Add", map[string]int{"A": 1, "B": 2}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			close(stop)
			<-done
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)*999/1000].Microseconds()), "p99.9-µs")
		})
	}
}

// BenchmarkBooksHeap reports the host's heap per idle plugin, with 2 and
// with 20 functions described the same by every plugin.
func BenchmarkBooksHeap(b *testing.B) {
	const n = 2000
	for _, fns := range []int{2, 20} {
		b.Run(fmt.Sprintf("functions=%d", fns), func(b *testing.B) {
			var perPlugin float64
			for i := 0; b.Loop(); i++ {
				s := swarmSocket(b)
				before := heapInUse()
				ends := connectIdle(b, s, fmt.Sprint("idle", i), n, fns)
				after := heapInUse()
				runtime.KeepAlive(ends)
				perPlugin = (float64(after) - float64(before)) / n
				b.StopTimer()
				closeEnds(ends)
				_ = s.Shutdown("")
				b.StartTimer()
			}
			b.ReportMetric(perPlugin, "B/plugin")
		})
	}
}

// heapInUse is the heap and the goroutine stacks in use, after a
// collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkBooksConnected is one poll of Connected(true) at 20,000
// plugins: the work a console's poll makes, which no call waits for.
func BenchmarkBooksConnected(b *testing.B) {
	const n = 20000
	s := swarmSocket(b)
	ends := connectIdle(b, s, "idle", n, 2)
	defer runtime.KeepAlive(ends)
	b.ReportAllocs()
	for b.Loop() {
		if got := len(s.Connected(true)); got != n {
			b.Fatalf("Connected has %d plugins, want %d", got, n)
		}
	}
}
