package envelope

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drainBig empties the pool, so that a test sees only its own buffers.
func drainBig() (n, bytes int) {
	for _, c := range bigBufs {
		for {
			select {
			case b := <-c:
				n++
				bytes += cap(b)
				continue
			default:
			}
			break
		}
	}
	return n, bytes
}

func TestBigPoolBounded(t *testing.T) {
	drainBig()
	t.Cleanup(func() { drainBig() })
	// Far more buffers of every class than there are slots, and of sizes
	// that are no class's.
	for range 50 {
		for k := minBigClass; k <= maxBigClass+2; k++ {
			putBig(make([]byte, 0, 1<<k))
			putBig(make([]byte, 0, 1<<k+1))
		}
	}
	n, bytes := drainBig()
	assert.Equal(t, 8+8+4+2+2+2+2, n, "buffers kept")
	assert.Equal(t, bigPoolMax, bytes, "bytes kept")
	assert.LessOrEqual(t, bytes, 9<<20)
}

func TestBigPoolReuse(t *testing.T) {
	drainBig()
	t.Cleanup(func() { drainBig() })
	assert.Nil(t, pooledBig(100<<10), "an empty pool has nothing to spare")
	b := getBig(100 << 10)
	require.Len(t, b, 100<<10)
	require.Equal(t, 128<<10, cap(b), "a new buffer has its class's capacity")
	b[0] = 7
	putBig(b)
	again := pooledBig(90 << 10)
	require.Len(t, again, 90<<10)
	assert.Equal(t, byte(7), again[0], "the same buffer came back")
	assert.Nil(t, pooledBig(3<<20), "beyond the largest class")
	assert.Len(t, getBig(3<<20), 3<<20)
}

// A frame read from a pooled buffer goes back to the pool when decoding
// keeps nothing of it, and stays with the message when it does.
func TestDecodeReleasesUnheldFrame(t *testing.T) {
	drainBig()
	t.Cleanup(func() { drainBig() })
	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = 'a'
	}
	frame := func(body string) []byte {
		b := getBig(len(body))
		copy(b, body)
		return b
	}

	// The result is most of the frame: the message holds the frame.
	body := frame(`{"jsonrpc":"2.0","id":1,"result":"` + string(big) + `"}`)
	m, err := decode(body, true)
	require.NoError(t, err)
	assert.True(t, m.holds(body))
	assert.Nil(t, pooledBig(len(body)), "a held frame is not back yet")
	m.release()
	assert.Nil(t, m.Result)
	assert.NotNil(t, pooledBig(len(body)), "released with the message")

	// A small result in a large frame is copied out, and the frame
	// goes back at once.
	body = frame(`{"jsonrpc":"2.0","id":1,"result":1,"pad":"` + string(big) + `"}`)
	m, err = decode(body, true)
	require.NoError(t, err)
	assert.JSONEq(t, `1`, string(m.Result))
	assert.Nil(t, m.held)
	assert.NotNil(t, pooledBig(len(body)), "an unheld frame goes back at once")

	// An invalid message keeps its frame: the caller still reads it.
	body = frame(`{"jsonrpc":"1.0","id":1,"result":"` + string(big) + `"}`)
	_, err = decode(body, true)
	require.ErrorIs(t, err, ErrProtocol)
	assert.Nil(t, pooledBig(len(body)))
}

// A frame read with no pooled buffer to spare costs what it did before
// the pool: a buffer of a pool size only when that is at most a quarter
// more than the frame.
func TestReadGrowingPoolSizes(t *testing.T) {
	for _, c := range []struct {
		length, wantCap int
	}{
		{100 << 10, 100 << 10},         // 128 KiB is 28% more: not poolable
		{120 << 10, 128 << 10},         // poolable
		{(1 << 20) + 1, (1 << 20) + 1}, // a 2 MiB buffer would be nearly twice it
		{3 << 20, 3 << 20},             // beyond the largest class
	} {
		drainBig()
		body := bytes.Repeat([]byte{'x'}, c.length)
		b, err := readGrowing(bytes.NewReader(body), c.length)
		require.NoError(t, err)
		require.Equal(t, body, b)
		assert.Equal(t, c.wantCap, cap(b), "capacity for a %d-byte frame", c.length)
	}
	drainBig()
}
