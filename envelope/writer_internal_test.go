package envelope

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Many goroutines writing at once share writes: every frame reaches the
// stream exactly once, whole, in the order its writer wrote it, and each
// writer returns only after the write that carried its frame.
func TestFrameWriterGathersConcurrentFrames(t *testing.T) {
	const writers, frames = 64, 200
	var (
		w      frameWriter
		mu     sync.Mutex
		stream bytes.Buffer
		writes int
	)
	w.init()
	raw := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		writes++
		stream.Write(b)
		return nil
	}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range frames {
				frame := fmt.Appendf(nil, "<%d:%d>", g, i)
				require.NoError(t, w.write(frame, nil, raw))
				mu.Lock()
				on := bytes.Contains(stream.Bytes(), frame)
				mu.Unlock()
				assert.True(t, on, "write returned before its frame was written")
			}
		})
	}
	wg.Wait()

	next := make([]int, writers)
	for f := range bytes.SplitSeq(bytes.TrimSuffix(stream.Bytes(), []byte(">")), []byte(">")) {
		var g, i int
		_, err := fmt.Sscanf(string(f), "<%d:%d", &g, &i)
		require.NoError(t, err, "a frame was cut: %q", f)
		require.Equal(t, next[g], i, "writer %d's frames out of order", g)
		next[g]++
	}
	for g := range writers {
		assert.Equal(t, frames, next[g], "writer %d's frames", g)
	}
	t.Logf("%d frames in %d writes", writers*frames, writes)
	assert.Less(t, writes, writers*frames/2, "frames that came together shared writes")
}

// A frame written alone goes out as it is, in one write, and a large one
// never waits for company.
func TestFrameWriterAlone(t *testing.T) {
	var w frameWriter
	w.init()
	var got [][]byte
	raw := func(b []byte) error { got = append(got, b); return nil }
	small, large := []byte("small"), bytes.Repeat([]byte("x"), gatherMax+1)
	require.NoError(t, w.write(small, nil, raw))
	require.NoError(t, w.write(large, nil, raw))
	require.Len(t, got, 2)
	assert.Same(t, &small[0], &got[0][0], "not copied")
	assert.Same(t, &large[0], &got[1][0], "not copied")
	assert.Zero(t, w.shared, "a writer on its own never yields")
}

// Once frames stop coming together, a connection stops yielding after
// sharedStreak lonely yields.
func TestFrameWriterStopsYieldingAlone(t *testing.T) {
	var w frameWriter
	w.init()
	w.shared = sharedStreak
	raw := func([]byte) error { return nil }
	for range sharedStreak {
		require.NoError(t, w.write([]byte("f"), nil, raw))
	}
	assert.Zero(t, w.shared)
	require.NoError(t, w.write([]byte("f"), nil, raw))
	assert.Zero(t, w.shared, "and does not go below zero")
}

// A failed write fails every frame it carried.
func TestFrameWriterSharesTheError(t *testing.T) {
	var w frameWriter
	w.init()
	boom := fmt.Errorf("boom")
	raw := func([]byte) error { return boom }
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() { assert.ErrorIs(t, w.write([]byte("f"), nil, raw), boom) })
	}
	wg.Wait()
}
