package socket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Both ends write at once without either reading, as two read loops
// answering each other do: over net.Pipe neither write returns; here both
// do, and the bytes arrive whole and in order.
func TestMemPipeBothEndsWriteAtOnce(t *testing.T) {
	a, b := memPipe()
	defer a.Close()
	defer b.Close()
	msg := bytes.Repeat([]byte("ping "), 1000)
	var wg sync.WaitGroup
	for _, end := range []net.Conn{a, b} {
		wg.Go(func() {
			for range 10 {
				n, err := end.Write(msg)
				assert.NoError(t, err)
				assert.Equal(t, len(msg), n)
			}
		})
	}
	wg.Wait() // no read has happened yet
	for _, end := range []net.Conn{a, b} {
		got := make([]byte, 10*len(msg))
		_, err := io.ReadFull(end, got)
		require.NoError(t, err)
		assert.Equal(t, bytes.Repeat(msg, 10), got)
	}
}

// Concurrent writes never interleave, as on a socket: each Write's bytes
// arrive together, even one larger than the buffer.
func TestMemPipeWritesDoNotInterleave(t *testing.T) {
	a, b := memPipe()
	defer a.Close()
	defer b.Close()
	const size = pipeBuffer + pipeBuffer/2
	var wg sync.WaitGroup
	for _, c := range []byte("xyz") {
		wg.Go(func() {
			_, err := a.Write(bytes.Repeat([]byte{c}, size))
			assert.NoError(t, err)
		})
	}
	got := make([]byte, 3*size)
	_, err := io.ReadFull(b, got)
	require.NoError(t, err)
	wg.Wait()
	for i := 0; i < len(got); i += size {
		assert.Equal(t, bytes.Repeat(got[i:i+1], size), got[i:i+size], "write %d arrived whole", i/size)
	}
}

// A peer that stops reading holds a writer only until its deadline, with
// a timeout error as a socket's, and exactly pipeBuffer bytes taken in;
// the memory they hold is that, not more.
func TestMemPipeWriteDeadlineAndBound(t *testing.T) {
	a, b := memPipe()
	defer a.Close()
	defer b.Close()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	require.NoError(t, a.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	n, err := a.Write(make([]byte, 4*pipeBuffer))
	assert.Equal(t, pipeBuffer, n, "the buffer filled, and no more")
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "a timeout, as envelope's write path tells it from a hang-up")

	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	ratio := float64(held) / pipeBuffer
	t.Logf("one full direction holds %d bytes of heap: %.2f× pipeBuffer", held, ratio)
	assert.Less(t, ratio, 1.25, "a full direction costs pipeBuffer, not more")

	// Reading it all makes room again, and lets the large buffer go.
	_, err = io.ReadFull(b, make([]byte, pipeBuffer))
	require.NoError(t, err)
	require.NoError(t, a.SetWriteDeadline(time.Time{}))
	_, err = a.Write([]byte("more"))
	require.NoError(t, err)
	runtime.KeepAlive(b)
}

// A read deadline set while Read waits ends the wait: the drain after a
// failed write (envelope/drain.go) sets it from another goroutine.
func TestMemPipeReadDeadlineWakesAWaitingRead(t *testing.T) {
	a, b := memPipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Read returned with nothing sent: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	require.NoError(t, a.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	select {
	case err := <-done:
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("the deadline did not end the read")
	}
	// Moved off again, the deadline no longer fails reads.
	require.NoError(t, a.SetReadDeadline(time.Time{}))
	_, err := b.Write([]byte("x"))
	require.NoError(t, err)
	n, err := a.Read(make([]byte, 1))
	assert.NoError(t, err)
	assert.Equal(t, 1, n)
}

// Closing an end lets the peer read what was sent, then io.EOF, and fails
// the peer's writes as a hung-up socket does; the closed end's own reads
// and writes fail with net.ErrClosed, so envelope tells its own close
// from the peer's.
func TestMemPipeClose(t *testing.T) {
	a, b := memPipe()
	_, err := a.Write([]byte("goodbye"))
	require.NoError(t, err)

	// A write waiting on a full buffer ends when the reader closes.
	_, err = b.Write(make([]byte, pipeBuffer))
	require.NoError(t, err)
	blocked := make(chan error, 1)
	go func() {
		_, err := b.Write([]byte("never read"))
		blocked <- err
	}()
	require.NoError(t, a.Close())
	select {
	case err := <-blocked:
		assert.ErrorIs(t, err, io.ErrClosedPipe)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the waiting write")
	}

	got, err := io.ReadAll(b)
	require.NoError(t, err, "io.EOF after what was sent")
	assert.Equal(t, "goodbye", string(got))
	_, err = b.Write([]byte("x"))
	assert.ErrorIs(t, err, io.ErrClosedPipe)

	_, err = a.Read(make([]byte, 1))
	assert.True(t, errors.Is(err, net.ErrClosed), "own read after Close: %v", err)
	_, err = a.Write([]byte("x"))
	assert.True(t, errors.Is(err, net.ErrClosed), "own write after Close: %v", err)
	require.NoError(t, a.Close(), "a second Close does nothing")
	require.NoError(t, b.Close())
}
