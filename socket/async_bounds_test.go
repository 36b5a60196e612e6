package socket_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// flooder is a plugin that pushes the same JSON through its async hook
// as often as it is told to.
type flooder struct{ hook chan any }

func (f *flooder) UseAsyncHook(h chan any) { f.hook = h }

type floodArgs struct {
	N   int             `json:"n"`
	Raw json.RawMessage `json:"raw"`
}

// Flood pushes in.Raw in.N times, then returns: the items are on their
// way, not necessarily arrived.
func (f *flooder) Flood(_ context.Context, in floodArgs) (int, error) {
	for range in.N {
		f.hook <- in.Raw
	}
	return in.N, nil
}

// flood has the plugin called name push raw n times.
func (h *host) flood(name string, n int, raw string) {
	h.t.Helper()
	_, err := h.s.Call("", name, "Flood", floodArgs{N: n, Raw: json.RawMessage(raw)})
	require.NoError(h.t, err)
}

// waitAccounted waits until the async queue has taken or dropped n items
// in all.
func waitAccounted(t *testing.T, s *socket.Socket, n int) socket.Stats {
	t.Helper()
	require.Eventually(t, func() bool {
		st := s.Stats()
		return uint64(st.AsyncQueued)+st.AsyncDropped >= uint64(n)
	}, 30*time.Second, time.Millisecond, "the queue never saw %d items: %+v", n, s.Stats())
	return s.Stats()
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC() // the first may leave work to finalizers
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestAsyncMemoryIsBounded (issue 9, A3): plugins over TCP flood a host
// that never reads Async with payloads that take many times their size
// once decoded (arrays of numbers, objects). The queue keeps them as JSON
// and counts its own overhead, so the heap grows by no more than twice
// Config.AsyncBytes.
func TestAsyncMemoryIsBounded(t *testing.T) {
	// 32 KiB of [0,0,...] decodes to 16 Ki interface values (256 KiB);
	// an object of short keys costs more still.
	array := "[" + strings.Repeat("0,", 16<<10-1) + "0]"
	var obj strings.Builder
	obj.WriteString("{")
	for i := range 3000 {
		if i > 0 {
			obj.WriteString(",")
		}
		fmt.Fprintf(&obj, `"k%d":0`, i)
	}
	obj.WriteString("}")
	for _, tc := range []struct {
		name    string
		raw     string
		plugins int
		each    int
		bound   int
		opts    []socket.Options
	}{
		{"arrays", array, 4, 180, 16 << 20, nil},
		{"objects", obj.String(), 4, 200, 16 << 20, nil},
		// Items of one byte: the count is no bound (Config.AsyncBuffer is
		// huge), so it is the overhead per item that fills the queue.
		{"tiny", "0", 1, 60000, 4 << 20, []socket.Options{socket.Config{AsyncBuffer: 1 << 30}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bound := tc.bound
			opts := append([]socket.Options{socket.Config{AsyncBytes: bound}}, tc.opts...)
			h := newHost(t, "tcp", opts...)
			for i := range tc.plugins {
				h.plug(&flooder{}, fmt.Sprint("flood", i))
			}
			before := heapAlloc()
			var wg sync.WaitGroup
			for i := range tc.plugins {
				wg.Go(func() { h.flood(fmt.Sprint("flood", i), tc.each, tc.raw) })
			}
			wg.Wait()
			total := tc.plugins*tc.each + tc.plugins // and the connect events
			st := waitAccounted(t, h.s, total)
			require.NotZero(t, st.AsyncDropped, "the queue was full")
			assert.LessOrEqual(t, st.AsyncBytes, bound)
			assert.Greater(t, st.AsyncBytes, bound*9/10, "the queue is about full")

			with := int64(heapAlloc())
			growth := with - int64(before)
			ratio := float64(growth) / float64(bound)
			t.Logf("%s: %d items queued, %d dropped, counted %d bytes; heap grew %d bytes: %.2f× AsyncBytes, %.0f bytes per item",
				tc.name, st.AsyncQueued, st.AsyncDropped, st.AsyncBytes, growth, ratio, float64(growth)/float64(st.AsyncQueued))
			assert.Less(t, ratio, 2.0, "heap growth within 2× of AsyncBytes")

			// What is kept is what was sent, byte for byte, as Async
			// decodes it.
			it, err := h.s.Async()
			require.NoError(t, err)
			require.IsType(t, envelope.Connected{}, it.Payload, "connect events are never dropped")
			for range tc.plugins - 1 {
				_, err := h.s.Async()
				require.NoError(t, err)
			}
			it, err = h.s.Async()
			require.NoError(t, err)
			want, err := json.Marshal(it.Payload)
			require.NoError(t, err)
			assert.JSONEq(t, tc.raw, string(want))

			// And the heap held them: draining the queue gives it back.
			// (Measured this way round, memory an earlier test had not
			// yet given back when "before" was read cannot hide it.)
			it, want = nil, nil
			for h.s.Stats().AsyncQueued > 0 {
				_, err := h.s.Async()
				require.NoError(t, err)
			}
			freed := with - int64(heapAlloc())
			t.Logf("%s: draining the queue freed %d bytes: %.2f× AsyncBytes", tc.name, freed, float64(freed)/float64(bound))
			assert.Greater(t, float64(freed)/float64(bound), 0.5, "the queue really held its items")
			assert.Less(t, float64(freed)/float64(bound), 2.0, "what the queue held is within 2× of AsyncBytes")
		})
	}
}

// TestAsyncFairShare (issue 9, A4): one plugin floods $/async while
// others send a few items each and come and go. The host reads nothing
// until the flood is over; then every connect and disconnect event and
// every item of the quiet plugins is there, and only the flood lost
// items. Both bounds are shared: by count (small items) and by bytes
// (large ones).
func TestAsyncFairShare(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		opts []socket.Options
	}{
		{"count", `"flood"`, []socket.Options{socket.Config{AsyncBuffer: 200}}},
		{"bytes", `"` + strings.Repeat("f", 8000) + `"`, []socket.Options{socket.Config{AsyncBytes: 256 << 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, "tcp", tc.opts...)
			h.plug(&flooder{}, "flood")
			quiet := []string{"q0", "q1", "q2"}
			for _, q := range quiet {
				h.plug(&flooder{}, q)
			}
			send := func(q string, i int) { h.flood(q, 1, fmt.Sprintf(`"%s-%d"`, q, i)) }
			for _, q := range quiet {
				send(q, 0) // before the flood
			}

			const floods = 4000
			flooding := make(chan struct{})
			go func() {
				defer close(flooding)
				h.flood("flood", floods, tc.raw)
			}()
			// Meanwhile: more quiet items, and plugins that come and go.
			var transient []string
			for i := range 5 {
				for _, q := range quiet {
					send(q, i+1)
				}
				name := fmt.Sprint("transient", i)
				h.plug(&flooder{}, name)
				h.s.Unplug("", name)
				transient = append(transient, name)
			}
			recv(t, flooding, "the flood")
			total := 1 + len(quiet) + len(quiet)*6 + floods + 2*len(transient)
			st := waitAccounted(t, h.s, total)
			require.NotZero(t, st.AsyncDropped, "the flood overflowed the queue")

			connected := map[string]int{}
			disconnected := map[string]int{}
			got := map[string][]string{}
			floodKept := 0
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for range st.AsyncQueued {
				it, err := h.s.AsyncContext(ctx)
				require.NoError(t, err)
				switch p := it.Payload.(type) {
				case envelope.Connected:
					connected[it.Name]++
				case envelope.Disconnected:
					disconnected[it.Name]++
				case string:
					if it.Name == "flood" {
						floodKept++
					} else {
						got[it.Name] = append(got[it.Name], p)
					}
				default:
					t.Fatalf("unexpected item %#v", it)
				}
			}
			for _, q := range append([]string{"flood"}, quiet...) {
				assert.Equal(t, 1, connected[q], "%s's connect event", q)
			}
			for _, name := range transient {
				assert.Equal(t, 1, connected[name], "%s's connect event", name)
				assert.Equal(t, 1, disconnected[name], "%s's disconnect event", name)
			}
			for _, q := range quiet {
				var want []string
				for i := range 6 {
					want = append(want, fmt.Sprintf("%s-%d", q, i))
				}
				assert.Equal(t, want, got[q], "every item of %s, in order", q)
			}
			assert.EqualValues(t, floods-floodKept, st.AsyncDropped, "only the flood lost items")
			t.Logf("%s: the flood kept %d of %d items", tc.name, floodKept, floods)
		})
	}
}

// TestAsyncDeliversEveryJSONValue (issue 9, A5): numbers that do not fit
// a float64 are valid JSON; they arrive as json.Number, exactly as sent,
// and numbers that fit are float64 as before.
func TestAsyncDeliversEveryJSONValue(t *testing.T) {
	big := "1" + strings.Repeat("0", 399) // 400 digits
	for _, tc := range []struct {
		raw  string
		want any
	}{
		{`1e400`, json.Number("1e400")},
		{big, json.Number(big)},
		{`-1e400`, json.Number("-1e400")},
		{`[1e400, 2.5, "x"]`, []any{json.Number("1e400"), 2.5, "x"}},
		{`{"n": ` + big + `, "m": {"k": [1]}}`, map[string]any{"n": json.Number(big), "m": map[string]any{"k": []any{1.0}}}},
		{`1e308`, 1e308},
	} {
		t.Run(tc.raw[:min(len(tc.raw), 20)], func(t *testing.T) {
			s, addr, _ := rawSocket(t)
			p := rawStart(t, addr, "raw")
			require.IsType(t, envelope.Connected{}, rawNextAsync(t, s).Payload)
			require.NoError(t, p.send(rawMsg{Method: envelope.MethodAsync, Params: json.RawMessage(tc.raw)}))
			it := rawNextAsync(t, s)
			assert.Equal(t, "raw", it.Name)
			assert.Equal(t, tc.want, it.Payload)
			assert.Zero(t, s.Stats().AsyncDropped)
		})
	}
}
