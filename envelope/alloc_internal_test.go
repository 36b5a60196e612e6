package envelope

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What reading and decoding one frame may cost, as a multiple of its size:
// the body's buffer grows by doubling as its bytes arrive (less than 2x in
// all), and on the fast path the message keeps that buffer instead of
// copying its params out, unless they are less than half of it (so at
// most half more). encoding/json's path copies params or result once more.
const (
	maxFrameAllocRatio     = 2.25
	maxHalfFrameAllocRatio = 2.6
	maxSlowFrameAllocRatio = 3.25
)

// chunkReader hands out at most n bytes per Read, as a socket does.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// frameKinds are the shapes of large frame whose cost differs.
var frameKinds = []struct {
	name  string
	limit float64
	body  func(pad string) string
	value func(m *Envelope) []byte // the large value the message keeps
}{
	{"params", maxFrameAllocRatio,
		func(pad string) string {
			return `{"jsonrpc":"2.0","id":7,"method":"Put","params":"` + pad + `","meta":{"trace":"t"}}`
		},
		func(m *Envelope) []byte { return m.Params }},
	{"params just under half", maxHalfFrameAllocRatio,
		func(pad string) string {
			half := pad[:len(pad)/2-10]
			return `{"jsonrpc":"2.0","id":7,"method":"Put","junk":"` + pad[len(half):] + `","params":"` + half + `"}`
		},
		func(m *Envelope) []byte { return m.Params }},
	{"error data (encoding/json)", maxSlowFrameAllocRatio,
		func(pad string) string {
			return `{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"m","data":"` + pad + `"}}`
		},
		func(m *Envelope) []byte { return m.Error.Data }},
}

// allocated returns the bytes f allocated (TotalAlloc), the lowest of a
// few runs so that a stray allocation elsewhere does not count.
func allocated(f func()) uint64 {
	best := uint64(1<<64 - 1)
	for range 3 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		best = min(best, after.TotalAlloc-before.TotalAlloc)
	}
	return best
}

// TestFrameAllocation: reading and decoding an N-byte frame allocates a
// small multiple of N, whatever N, and however the bytes are split into
// reads. The figures go into docs/security.md.
func TestFrameAllocation(t *testing.T) {
	for _, kind := range frameKinds {
		for _, size := range []int{64 << 10, 1 << 20, 4 << 20} {
			frame := AppendFrame(nil, []byte(kind.body(strings.Repeat("x", size-100))))
			for _, chunk := range []int{16 << 10, 1 << 20} {
				var m *Envelope
				got := allocated(func() {
					fr := NewFrameReader(chunkReader{bytes.NewReader(frame), chunk}, 0)
					body, own, err := fr.readFrame()
					require.NoError(t, err)
					m, err = decode(body, own)
					require.NoError(t, err)
				})
				assert.Greater(t, len(kind.value(m)), size/3, "the large value was decoded")
				ratio := float64(got) / float64(len(frame))
				t.Logf("%s, %7d-byte frame in %7d-byte reads: %8d bytes allocated, %.2fx", kind.name, len(frame), chunk, got, ratio)
				assert.LessOrEqual(t, ratio, kind.limit, "%s, %d-byte frame", kind.name, len(frame))
			}
		}
	}
}

// TestFrameAllocationConn: the same through a Conn's read loop over TCP,
// every message of a stream of large frames counted.
func TestFrameAllocationConn(t *testing.T) {
	const frames, size = 8, 1 << 20
	frame := AppendFrame(nil, []byte(frameKinds[0].body(strings.Repeat("x", size-100))))
	stream := bytes.Repeat(frame, frames)

	nc, peer := loopback(t)

	got := make(chan int, frames)
	c := NewConn(nc, ConnOptions{Handler: func(_ *Conn, m *Envelope) { got <- len(m.Params) }})
	wrote := make(chan error, 1)
	total := allocatedOnce(func() {
		c.Start()
		go func() {
			_, err := peer.Write(stream)
			wrote <- err
		}()
		for range frames {
			assert.Equal(t, size-100+2, <-got)
		}
		require.NoError(t, <-wrote)
	})
	c.Close()
	<-c.Done()
	c.Wait()
	ratio := float64(total) / float64(len(stream))
	t.Logf("Conn over TCP: %d frames of %d bytes: %d bytes allocated, %.2fx", frames, len(frame), total, ratio)
	assert.LessOrEqual(t, ratio, maxFrameAllocRatio)
}

func allocatedOnce(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFrameDeclaredNotSent: a peer that declares the largest frame and
// sends a few bytes of it makes the reader allocate little, not the
// declared size.
func TestFrameDeclaredNotSent(t *testing.T) {
	const sent = 1000
	stream := append([]byte("Content-Length: 4194304\r\n\r\n"), bytes.Repeat([]byte("x"), sent)...)
	got := allocated(func() {
		fr := NewFrameReader(bytes.NewReader(stream), 0)
		_, err := fr.ReadFrame()
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Logf("4 MiB declared, %d bytes sent: %d bytes allocated", sent, got)
	assert.Less(t, got, uint64(eagerBodySize+2*headerBufSize+4096), "at most the first growth step and the header buffer")

	// Whatever the length declared, the first step is at most 64 KiB.
	for _, declared := range []int{eagerBodySize + 1, 100_000, 130_000, 1<<20 + 1} {
		stream := append([]byte(fmt.Sprintf("Content-Length: %d\r\n\r\n", declared)), "abc"...)
		got := allocated(func() {
			fr := NewFrameReader(bytes.NewReader(stream), 0)
			_, err := fr.ReadFrame()
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		})
		assert.Less(t, got, uint64(eagerBodySize+2*headerBufSize+4096), "%d bytes declared, 3 sent", declared)
	}

	// Past the first step, the buffer keeps to twice what has arrived.
	for _, arrived := range []int{100 << 10, 1 << 20, 3 << 20} {
		stream := append([]byte("Content-Length: 4194304\r\n\r\n"), bytes.Repeat([]byte("x"), arrived)...)
		got := allocated(func() {
			fr := NewFrameReader(bytes.NewReader(stream), 0)
			_, err := fr.ReadFrame()
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		})
		t.Logf("4 MiB declared, %d bytes sent: %d bytes allocated, %.2fx", arrived, got, float64(got)/float64(arrived))
		assert.LessOrEqual(t, float64(got), 4*float64(arrived), "%d bytes arrived", arrived)
	}
}

// TestDecodeKeepsOnlyLargeValues: a large frame's params are kept in the
// frame's buffer only when they are most of it; small params are copied
// out, so that they do not pin the rest of the frame.
func TestDecodeKeepsOnlyLargeValues(t *testing.T) {
	pad := strings.Repeat("x", 1<<20)
	// inside reports whether b starts within body's memory.
	inside := func(b, body []byte) bool {
		for i := range body {
			if len(b) > 0 && &body[i] == &b[0] {
				return true
			}
		}
		return false
	}
	small := []byte(`{"jsonrpc":"2.0","id":1,"method":"m","junk":"` + pad + `","params":{"a":1}}`)
	m, err := decode(small, true)
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(m.Params))
	assert.False(t, inside(m.Params, small), "small params are copied out of a large frame")

	large := []byte(`{"jsonrpc":"2.0","id":1,"method":"m","params":"` + pad + `"}`)
	m, err = decode(large, true)
	require.NoError(t, err)
	assert.Len(t, m.Params, len(pad)+2)
	assert.True(t, inside(m.Params, large), "large params stay where they are")
	assert.Equal(t, len(m.Params), cap(m.Params), "and cannot be appended to over the rest of the frame")

	reused := bytes.Clone(large)
	m, err = decode(reused, false)
	require.NoError(t, err)
	assert.False(t, inside(m.Params, reused), "a frame the reader reuses is never kept")
}
