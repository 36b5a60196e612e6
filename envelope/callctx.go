package envelope

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is the context RequestContext gives a request that came
// with a deadline when its parent can never be cancelled, as a plugin's
// calls, which derive from context.Background, cannot. It is
// context.WithDeadline made lazily: the channel Done returns, and the
// timer that closes it at the deadline, are made when something first
// asks for Done, which most methods never do; Err compares the clock with
// the deadline instead. context.WithDeadline cost every call four
// allocations and a timer started and stopped, this costs it two
// (docs/performance.md, "Broadcast").
//
// Contexts derived from it are cancelled through its AfterFunc, which
// context.WithCancel and context.AfterFunc look for, rather than through a
// goroutine each.
type deadlineCtx struct {
	context.Context // the parent, which holds the values
	deadline        time.Time

	mu     sync.Mutex
	err    error
	done   chan struct{} // made when first asked for
	timer  *time.Timer   // started with done
	afters []*func()     // what AfterFunc was given and has not run or stopped
}

func newDeadlineCtx(parent context.Context, deadline time.Time) *deadlineCtx {
	return &deadlineCtx{Context: parent, deadline: deadline}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	return c.done
}

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !time.Now().Before(c.deadline) {
		c.endLocked(context.DeadlineExceeded)
	}
	return c.err
}

// AfterFunc runs f on a goroutine of its own once c is done, as
// context.AfterFunc does; stop keeps it from running and reports whether
// it did.
func (c *deadlineCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	p := &f
	c.afters = append(c.afters, p)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, q := range c.afters {
			if q == p {
				c.afters = append(c.afters[:i], c.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// cancel ends c with context.Canceled, unless it has ended already.
func (c *deadlineCtx) cancel() {
	c.mu.Lock()
	c.endLocked(context.Canceled)
	c.mu.Unlock()
}

func (c *deadlineCtx) expire() {
	c.mu.Lock()
	c.endLocked(context.DeadlineExceeded)
	c.mu.Unlock()
}

// armLocked makes done, and starts the timer that closes it at the
// deadline, unless it is there already.
func (c *deadlineCtx) armLocked() {
	if c.done != nil {
		return
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return
	}
	if d := time.Until(c.deadline); d > 0 {
		c.timer = time.AfterFunc(d, c.expire)
		return
	}
	c.endLocked(context.DeadlineExceeded)
}

// endLocked ends c with err, once.
func (c *deadlineCtx) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	for _, f := range c.afters {
		go (*f)()
	}
	c.afters = nil
}
