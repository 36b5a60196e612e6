package plugintest

import (
	"bytes"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/proc"
)

// shutdown runs the shutdown checks (answers, in flight, refuses
// calls, closes) on one batch sent back to back: a call, $/shutdown and
// another call.
func (c *checker) shutdown() {
	fn := c.fastest
	var before, after *request
	if fn != "" {
		before = c.wire.newRequest(fn, c.params(fn), "plugsock-check-shutdown")
		after = c.wire.newRequest(fn, c.params(fn), "plugsock-check-shutdown")
	}
	sd := c.wire.newRequest(envelope.MethodShutdown, nil, "plugsock-check-shutdown")
	batch := []*request{sd}
	if before != nil {
		batch = []*request{before, sd, after}
	}
	if err := c.wire.sendAll(batch...); err != nil {
		c.add("shutdown", Fail, "could not send: %v", err)
		return
	}
	a, ok := c.wire.await(sd, c.cfg.callTimeout)
	switch {
	case !ok && c.wire.isClosed():
		c.add("shutdown answers", Fail, "the connection ended without an answer to $/shutdown (a host reports that as a crash)")
	case !ok:
		c.add("shutdown answers", Fail, "no answer to $/shutdown within %v (a host cuts such a plugin off and reports a crash)", c.cfg.callTimeout)
	case a.err != nil:
		c.add("shutdown answers", Fail, "answered $/shutdown with error %s; want result null", clip(a.m.Error))
	case string(bytes.TrimSpace(a.m.Result)) != "null":
		c.add("shutdown answers", Fail, "answered $/shutdown with %s; want result null", clip(a.m.Result))
	default:
		c.add("shutdown answers", Pass, "answered null")
	}

	// Wait for the plugin to close; by then everything it sent is read.
	t := time.NewTimer(c.cfg.callTimeout)
	defer t.Stop()
	closed := true
	select {
	case <-c.wire.closed:
	case <-t.C:
		closed = false
	}

	if before != nil {
		c.inFlight(fn, before, sd, ok)
	} else {
		c.add("shutdown in flight", Skip, "no function answered earlier, so none to have in flight")
	}

	if after != nil {
		ra, answered := c.wire.await(after, 0)
		switch {
		case !answered:
			c.add("shutdown refuses calls", Pass, "a call sent after $/shutdown was not served")
		case ra.err != nil && ra.err.Code == envelope.CodeShuttingDown:
			c.add("shutdown refuses calls", Pass, "a call sent after $/shutdown was refused with %d", ra.err.Code)
		default:
			c.add("shutdown refuses calls", Fail, "a call sent after $/shutdown was answered %s; want error %d (shutting down) or no answer",
				clip(ra.m.body), envelope.CodeShuttingDown)
		}
	}
	if closed {
		c.add("shutdown closes", Pass, "closed the connection")
	} else {
		c.add("shutdown closes", Fail, "the connection was still open %v after $/shutdown", c.cfg.callTimeout)
	}
}

// inFlight checks that the call sent before $/shutdown was served and
// answered before the $/shutdown was.
func (c *checker) inFlight(fn string, before, sd *request, sdAnswered bool) {
	const name = "shutdown in flight"
	ba, ok := c.wire.await(before, 0)
	if !ok {
		c.add(name, Fail, "a call to %s sent just before $/shutdown got no answer", fn)
		return
	}
	if ba.err != nil && ba.err.Code == envelope.CodeShuttingDown {
		c.add(name, Fail, "a call to %s sent before $/shutdown was refused with %d; calls in flight must be served", fn, ba.err.Code)
		return
	}
	if fine, how := c.judge(fn, ba, callCodes); !fine {
		c.add(name, Fail, "a call to %s sent before $/shutdown: %s", fn, how)
		return
	}
	if sdAnswered && c.wire.answeredAfter(before.id.String(), sd.id.String()) {
		c.add(name, Fail, "the call to %s sent before $/shutdown was answered after it; a host has stopped listening by then", fn)
		return
	}
	c.add(name, Pass, "a call to %s sent just before $/shutdown was answered first", fn)
}

func (c *checker) exit() {
	t := time.NewTimer(c.cfg.callTimeout)
	defer t.Stop()
	select {
	case <-c.p.Exited():
		if err := c.p.Err(); err != nil {
			c.add("exit", Fail, "the process ended with %s", proc.ExitStatus(err))
		} else {
			c.add("exit", Pass, "the process exited with status 0")
		}
	case <-t.C:
		c.add("exit", Fail, "the process was still running %v after the shutdown; killed it", c.cfg.callTimeout)
	}
}
