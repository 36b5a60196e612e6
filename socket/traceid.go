package socket

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/google/uuid"
)

// newTraceID returns a new random (version 4) UUID for a call that came
// without a trace id. uuid.NewString reads crypto/rand, a system call per
// id; math/rand/v2's global generator is ChaCha8 seeded by the operating
// system, per thread, and costs a few nanoseconds, which matters on a
// path that makes one per call. The ids are as random as uuid.New's, and
// as unique.
func newTraceID() string {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant RFC 9562
	return u.String()
}
