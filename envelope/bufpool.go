package envelope

import "github.com/plugsock/plugsock/internal/msgbuf"

func init() {
	msgbuf.Release = func(m any) { m.(*Envelope).release() }
	msgbuf.Spent = func(m any) { m.(*Envelope).spent = true }
}

// Large buffers are pooled in power-of-two size classes, each with a few
// slots: messages built above 64 KiB (smaller ones stay with their msg),
// frames read above 64 KiB, and the copies of params and results of
// 16 KiB and more taken out of a smaller frame, so that a stream
// of large calls reuses the same memory instead of allocating (and
// zeroing, and collecting) a megabyte or more per message each way. The
// slots bound what the pool keeps to bigPoolMax bytes per process
// whatever the traffic; a buffer that finds its class full is left to
// the garbage collector, and one larger than the largest class is never
// kept. sync.Pool would keep any number of them until the next
// collection.

const (
	minBigClass = 15 // 32 KiB
	maxBigClass = 21 // 2 MiB
)

// bigSlots is how many buffers each class keeps, from 32 KiB up. An
// echo of one large value needs two of its class at once, one on each
// side of an in-process pair.
var bigSlots = [maxBigClass - minBigClass + 1]int{8, 8, 4, 2, 2, 2, 2}

// bigPoolMax is the most the pool ever holds: 8.75 MiB.
const bigPoolMax = 8<<15 + 8<<16 + 4<<17 + 2<<18 + 2<<19 + 2<<20 + 2<<21

var bigBufs = func() (c [maxBigClass - minBigClass + 1]chan []byte) {
	for i := range c {
		c[i] = make(chan []byte, bigSlots[i])
	}
	return c
}()

// bigClass returns the index of the smallest class holding n bytes, or
// -1 when n is beyond the largest.
func bigClass(n int) int {
	for k := range bigBufs {
		if n <= 1<<(minBigClass+k) {
			return k
		}
	}
	return -1
}

// bigCapFor returns the capacity getBig gives a buffer of n bytes.
func bigCapFor(n int) int {
	if k := bigClass(n); k >= 0 {
		return 1 << (minBigClass + k)
	}
	return n
}

// pooledBig returns a buffer of length n from the pool, or nil when its
// class has none to spare. Its contents are whatever was there before.
func pooledBig(n int) []byte {
	k := bigClass(n)
	if k < 0 {
		return nil
	}
	select {
	case b := <-bigBufs[k]:
		return b[:n]
	default:
		return nil
	}
}

// getBig returns a buffer of length n, from the pool when it can, else
// newly allocated with its class's capacity so that it can go back.
func getBig(n int) []byte {
	if b := pooledBig(n); b != nil {
		return b
	}
	if k := bigClass(n); k >= 0 {
		return make([]byte, n, 1<<(minBigClass+k))
	}
	return make([]byte, n)
}

// pooledSize reports whether a buffer of capacity c can go to the pool:
// whether it is one of the pool's own sizes.
func pooledSize(c int) bool {
	k := bigClass(c)
	return k >= 0 && c == 1<<(minBigClass+k)
}

// putBig offers b back to the pool. Nothing may use b afterwards.
func putBig(b []byte) {
	if !pooledSize(cap(b)) {
		return
	}
	select {
	case bigBufs[bigClass(cap(b))] <- b[:0]:
	default:
	}
}
