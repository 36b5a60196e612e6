package envelope

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ctxKey struct{}

// TestDeadlineCtxIsWithDeadline: the lazy context behaves as
// context.WithDeadline does, whether Done is asked for before the
// deadline, after it, or never; and cancel ends it as Canceled, once.
func TestDeadlineCtxIsWithDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent := context.WithValue(context.Background(), ctxKey{}, "v")
		deadline := time.Now().Add(time.Second)

		never := newDeadlineCtx(parent, deadline) // Done never asked for
		early := newDeadlineCtx(parent, deadline)
		late := newDeadlineCtx(parent, deadline)
		d, ok := early.Deadline()
		assert.True(t, ok)
		assert.Equal(t, deadline, d)
		assert.Equal(t, "v", early.Value(ctxKey{}), "the parent's values")
		assert.NoError(t, never.Err())
		done := early.Done()
		select {
		case <-done:
			t.Fatal("done before the deadline")
		default:
		}

		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("not done at the deadline")
		}
		assert.ErrorIs(t, early.Err(), context.DeadlineExceeded)
		assert.ErrorIs(t, never.Err(), context.DeadlineExceeded, "without Done")
		<-late.Done() // asked for only after the deadline: closed at once
		assert.ErrorIs(t, late.Err(), context.DeadlineExceeded)

		cancelled := newDeadlineCtx(parent, time.Now().Add(time.Hour))
		cancelled.cancel()
		<-cancelled.Done()
		assert.ErrorIs(t, cancelled.Err(), context.Canceled)
		time.Sleep(2 * time.Hour)
		assert.ErrorIs(t, cancelled.Err(), context.Canceled, "the first end stays")
		cancelled.cancel()
	})
}

// TestDeadlineCtxChildren: contexts derived with the context package end
// with it, through AfterFunc and no goroutine of their own; a stopped
// AfterFunc never runs, one given after the end runs at once.
func TestDeadlineCtxChildren(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newDeadlineCtx(context.Background(), time.Now().Add(time.Minute))
		child, cancelChild := context.WithCancel(c)
		defer cancelChild()
		shorter, cancelShorter := context.WithTimeout(c, time.Second)
		defer cancelShorter()
		// Without AfterFunc, the context package watches such a parent
		// with a goroutine per child, started in propagateCancel.
		buf := make([]byte, 1<<20)
		assert.NotContains(t, string(buf[:runtime.Stack(buf, true)]), "propagateCancel", "no goroutine per child")

		var mu sync.Mutex
		var ran []string
		note := func(s string) func() {
			return func() { mu.Lock(); ran = append(ran, s); mu.Unlock() }
		}
		context.AfterFunc(c, note("kept"))
		stop := context.AfterFunc(c, note("stopped"))
		assert.True(t, stop())
		assert.False(t, stop(), "stopped once")

		time.Sleep(time.Second)
		<-shorter.Done()
		assert.NoError(t, child.Err(), "the child's own deadline came first")
		time.Sleep(time.Minute)
		<-child.Done()
		assert.ErrorIs(t, child.Err(), context.DeadlineExceeded)
		synctest.Wait()
		mu.Lock()
		assert.Equal(t, []string{"kept"}, ran)
		mu.Unlock()

		after := make(chan struct{})
		stop = context.AfterFunc(c, func() { close(after) })
		<-after
		assert.False(t, stop(), "it has run")
	})
}

// TestDeadlineCtxConcurrent: Done, Err, cancel and AfterFunc from many
// goroutines at once (for the race detector), and every AfterFunc runs
// exactly once.
func TestDeadlineCtxConcurrent(t *testing.T) {
	c := newDeadlineCtx(context.Background(), time.Now().Add(time.Millisecond))
	var wg sync.WaitGroup
	var mu sync.Mutex
	runs := 0
	for i := range 32 {
		wg.Go(func() {
			context.AfterFunc(c, func() { mu.Lock(); runs++; mu.Unlock() })
			_ = c.Err()
			<-c.Done()
			if i%2 == 0 {
				c.cancel()
			}
		})
	}
	wg.Wait()
	require.Error(t, c.Err())
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return runs == 32 }, 10*time.Second, time.Millisecond)
}

// TestRequestContextLazyOnlyUnderAnEndlessParent: a parent that can be
// cancelled gets a context.WithDeadline, which its cancellation reaches.
func TestRequestContextLazyOnlyUnderAnEndlessParent(t *testing.T) {
	c := &Conn{}
	c.SetProtocol(Protocol2)
	req := func() *Envelope {
		return request2Of([]byte(`{"a":1,"_meta":{"deadline":"2099-01-02T03:04:05.123Z"}}`))
	}
	ctx, cancel, err := c.RequestContext(context.Background(), req())
	require.NoError(t, err)
	assert.IsType(t, &deadlineCtx{}, ctx)
	cancel()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)

	parent, stop := context.WithCancel(context.Background())
	ctx, cancel, err = c.RequestContext(parent, req())
	require.NoError(t, err)
	defer cancel()
	_, lazy := ctx.(*deadlineCtx)
	assert.False(t, lazy)
	stop()
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
}
