package envelope

import (
	"errors"
	"net"
	"time"
)

// drainTimeout bounds how long a connection whose writes have failed goes
// on reading what the peer sent before it went away.
const drainTimeout = time.Second

// writeFailed ends a connection after a failed write. A write that timed
// out means a peer that does not read: it is cut off at once. Any other
// failure most likely means the peer has gone, and what it sent before it
// went may still wait unread: a goodbye, answers to calls. Closing at once
// would throw that away and make an orderly exit look like a crash. So new
// calls fail from now on, but the read loop takes in what is left, for at
// most drainTimeout, and the connection ends when it does.
func (c *Conn) writeFailed(err error) {
	var ne net.Error
	rd, ok := c.rwc.(interface{ SetReadDeadline(time.Time) error })
	if !ok || errors.As(err, &ne) && ne.Timeout() {
		c.CloseWithError(err)
		return
	}
	if c.drainAfter(err) && rd.SetReadDeadline(time.Now().Add(drainTimeout)) != nil {
		c.CloseWithError(err)
	}
}
