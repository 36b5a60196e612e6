//go:build unix

package envelope

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeQuick writes only what the kernel takes at once: frames go out
// whole until the socket's buffer is full; then a frame goes out in part,
// with the writer held until finishQuick writes the rest (and any other
// write waits for that), or not at all. The peer reads every frame it was
// told was written, whole and in order, and nothing else.
func TestWriteQuickStopsAtAFullBuffer(t *testing.T) {
	partial := 0
	for round := 0; round < 20 && (partial == 0 || round < 4); round++ {
		ours, theirs := loopback(t)
		c := NewConn(ours, ConnOptions{Logger: noLog})
		require.NotNil(t, c.quick, "a loopback TCP connection is a kernel socket")

		var sent bytes.Buffer
		var rest []byte
		size := 1000 + 37*round
		whole := 0
		for i := 0; ; i++ {
			frame := AppendFrame(nil, bytes.Repeat([]byte{'a' + byte(i%26)}, size))
			ok, r := c.writeQuick(frame)
			if !ok {
				break
			}
			sent.Write(frame)
			if r != nil {
				rest = r
				break
			}
			whole++
			require.Less(t, whole, 1<<16, "a buffer that never fills")
		}
		require.Positive(t, whole, "frames go out whole while the buffer has room")

		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(theirs, int64(sent.Len())))
			got <- b
		}()
		if rest != nil {
			partial++
			ok, _ := c.writeQuick([]byte("x"))
			assert.False(t, ok, "the writer is held until the rest is written")
			c.finishQuick(rest)
		}
		select {
		case b := <-got:
			require.Equal(t, sent.Len(), len(b))
			require.True(t, bytes.Equal(sent.Bytes(), b), "the stream is the frames written, in order")
		case <-time.After(10 * time.Second):
			t.Fatal("the peer did not get what was written")
		}
		require.NoError(t, c.Err())
		t.Logf("frames of %d bytes: %d whole, then %s", size, whole, map[bool]string{true: "one in part", false: "one not at all"}[rest != nil])
	}
	assert.Positive(t, partial, "some round filled the buffer in the middle of a frame")
}

// A write that had to wait for room leaves no deadline behind: only such
// a write has one. A stale deadline would fail the next write, however
// long after it came.
func TestWriteThatWaitedLeavesNoDeadline(t *testing.T) {
	const wto = 100 * time.Millisecond
	ours, theirs := loopback(t)
	c := NewConn(ours, ConnOptions{WriteTimeout: wto, Logger: noLog})
	frame := AppendFrame(nil, bytes.Repeat([]byte{'z'}, 8<<20)) // more than the kernel's buffers hold
	read := make(chan int64, 1)
	go func() {
		n, _ := io.CopyN(io.Discard, theirs, int64(len(frame)))
		read <- n
	}()
	require.NoError(t, c.write(frame))
	select {
	case n := <-read:
		require.EqualValues(t, len(frame), n)
	case <-time.After(10 * time.Second):
		t.Fatal("the peer did not get the frame")
	}
	<-time.After(3 * wto) // what is under test is the passing of time
	small := AppendFrame(nil, []byte(`{"jsonrpc":"2.0","method":"m"}`))
	require.NoError(t, c.write(small), "a write long after one that waited")
	require.NoError(t, c.Err())
	b := make([]byte, len(small))
	_, err := io.ReadFull(theirs, b)
	require.NoError(t, err)
	assert.Equal(t, string(small), string(b))
}

// A quick write's error is a net.Conn's: an *net.OpError naming the
// write and both addresses.
func TestWriteQuickErrorIsANetError(t *testing.T) {
	ours, theirs := loopback(t)
	c := NewConn(ours, ConnOptions{Logger: noLog})
	require.NoError(t, theirs.(*net.TCPConn).SetLinger(0)) // close with a reset
	require.NoError(t, theirs.Close())
	frame := AppendFrame(nil, []byte(`{"jsonrpc":"2.0","method":"m"}`))
	var err error
	for i := 0; i < 5000 && err == nil; i++ {
		_, err = c.quick.write(frame)
		if err == nil {
			<-time.After(time.Millisecond) // the reset is on its way over loopback
		}
	}
	require.Error(t, err)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "write", op.Op)
	assert.Equal(t, fmt.Sprint(ours.LocalAddr()), fmt.Sprint(op.Source))
	assert.Equal(t, fmt.Sprint(ours.RemoteAddr()), fmt.Sprint(op.Addr))
}
