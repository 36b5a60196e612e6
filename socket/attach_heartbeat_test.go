package socket_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/socket"
)

// Each side's read loop writes answers itself: to pings, and on the
// plugin's side to calls that finish within the hand-off window. Over
// net.Pipe, which holds no byte, two read loops writing to each other at
// once waited for each other until a heartbeat or the write timeout cut
// the connection, so Attach used to turn the plugin's heartbeat off. Over
// its buffered connection both sides ping every millisecond while 32
// goroutines call, and every call is answered.
func TestAttachHeartbeatsBothWaysUnderLoad(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// A deadlock is for good, so a second of missed pings finds it; a
	// busy machine's scheduling does not come near that.
	h := newHost(t, "attach", socket.Config{HeartbeatInterval: time.Millisecond, HeartbeatMisses: 1000})
	gone := h.callbacks()
	name := h.plugVia("attach", newCalc(), "calc")
	payload := strings.Repeat("p", 2<<10) // enough bytes in flight for both loops to write at once

	var (
		calls atomic.Int64
		wg    sync.WaitGroup
	)
	errs := make(chan error, 32)
	until := time.Now().Add(time.Second)
	for i := range 32 {
		wg.Go(func() {
			for time.Now().Before(until) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				var sum int
				var echo string
				err := h.s.CallContext(ctx, name, "Add", testplugins.Args{A: i, B: 1}, &sum)
				if err == nil {
					err = h.s.CallContext(ctx, name, "Echo", payload, &echo)
				}
				cancel()
				if err == nil && (sum != i+1 || echo != payload) {
					err = fmt.Errorf("caller %d: wrong answers: sum %d, echo of %d bytes", i, sum, len(echo))
				}
				if err != nil {
					errs <- err
					return
				}
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Greater(t, calls.Load(), int64(32), "every caller got through more than once")
	assert.Contains(t, h.s.Connected(false), name, "the plugin is still connected")
	select {
	case g := <-gone.ch:
		t.Errorf("the plugin was disconnected: %s", g)
	default:
	}
	assert.NoError(t, h.s.Shutdown(""))
	assert.Equal(t, name+" graceful=true", recv(t, gone.ch, "the disconnect at shutdown"))
	goleak.VerifyNone(t, ignore)
	t.Logf("%d pairs of calls in 1s, pinged both ways every 1ms", calls.Load())
}
