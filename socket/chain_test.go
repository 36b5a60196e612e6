package socket_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// chains is how many chains run at once.
const chains = 64

// ChainIn is what travels along a chain: host to plugin (Outer), plugin to
// host (Svc.Relay), host back to the same plugin (Inner).
type ChainIn struct {
	N    int  `json:"n"`
	Hold bool `json:"hold"` // Inner waits for its context to end
}

// chainEnd is a context that ended at one link of a chain: the chain's N
// and the context's error (nil when it did not end in time).
type chainEnd struct {
	n   int
	err error
}

// endOf waits, bounded, for ctx to end and says how it did.
func endOf(ctx context.Context, n int) chainEnd {
	select {
	case <-ctx.Done():
		return chainEnd{n, ctx.Err()}
	case <-time.After(p2Wait):
		return chainEnd{n, nil}
	}
}

// Chainer is the plugin end of the chains. Outer calls the host's
// Svc.Relay, which calls Inner on this plugin before answering.
type Chainer struct {
	holding  chan int      // Inner has begun to hold
	innerEnd chan chainEnd // Inner's context ended
	outerEnd chan chainEnd // Outer's context ended
}

func newChainer() *Chainer {
	return &Chainer{
		holding:  make(chan int, chains),
		innerEnd: make(chan chainEnd, chains),
		outerEnd: make(chan chainEnd, chains),
	}
}

func (c *Chainer) Outer(ctx context.Context, in ChainIn) (int, error) {
	h := plugin.HostFrom(ctx)
	if h == nil {
		return 0, errors.New("Outer: no host in the method's context")
	}
	var got int
	if err := h.Call(ctx, "Svc.Relay", in, &got); err != nil {
		if in.Hold {
			c.outerEnd <- endOf(ctx, in.N)
		}
		return 0, err
	}
	return 2 * got, nil
}

func (c *Chainer) Inner(ctx context.Context, in ChainIn) (int, error) {
	if !in.Hold {
		return in.N * in.N, nil
	}
	c.holding <- in.N
	e := endOf(ctx, in.N)
	c.innerEnd <- e
	if e.err == nil {
		return 0, errors.New("Inner: the context never ended")
	}
	return 0, e.err
}

// Svc is the host service in the middle of each chain.
type Svc struct {
	s     *socket.Socket
	ended chan chainEnd // Relay's context ended
}

func (v *Svc) Relay(ctx context.Context, in ChainIn) (int, error) {
	var sq int
	if err := v.s.CallContext(ctx, socket.PluginFrom(ctx), "Inner", in, &sq); err != nil {
		if in.Hold {
			v.ended <- endOf(ctx, in.N)
		}
		return 0, err
	}
	return sq + 1, nil
}

// TestChainsOverEveryTransport: 64 chains plugin → host service → the same
// plugin at once complete with their own values; then cancelling the host's
// calls while every chain is inside Inner cancels every link of every
// chain, and leaves no goroutine behind.
func TestChainsOverEveryTransport(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			// Registered first, so run last: after the host is shut down.
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

			h := newHost(t, tr)
			svc := &Svc{s: h.s, ended: make(chan chainEnd, chains)}
			require.NoError(t, h.s.Register(svc))
			c := newChainer()
			name := h.plugVia(tr, c, "chainer")

			got := make([]int, chains)
			errs := make([]error, chains)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range chains {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), p2Wait)
					defer cancel()
					errs[i] = h.s.CallContext(ctx, name, "Outer", ChainIn{N: i}, &got[i])
				})
			}
			wg.Wait()
			took := time.Since(start)
			for i := range chains {
				require.NoError(t, errs[i], "chain %d", i)
				assert.Equal(t, 2*(i*i+1), got[i], "chain %d", i)
			}
			t.Logf("%d chains at once over %s: %v", chains, tr, took)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, chains)
			for i := range chains {
				go func() { done <- h.s.CallContext(ctx, name, "Outer", ChainIn{N: i, Hold: true}, nil) }()
			}
			inside := map[int]bool{}
			for range chains {
				inside[recv(t, c.holding, "a chain to be inside Inner")] = true
			}
			require.Len(t, inside, chains, "every chain is inside Inner")
			cancel()
			cancelled := time.Now()
			for range chains {
				assert.ErrorIs(t, recv(t, done, "the host's call to return"), context.Canceled)
			}
			assert.Less(t, time.Since(cancelled), time.Second, "the host's calls return at once")

			ended := func(ch chan chainEnd, link string) {
				t.Helper()
				seen := map[int]bool{}
				for range chains {
					e := recv(t, ch, link+"'s context to end")
					assert.ErrorIs(t, e.err, context.Canceled, "%s of chain %d", link, e.n)
					seen[e.n] = true
				}
				assert.Len(t, seen, chains, "%s ended in every chain", link)
			}
			ended(c.outerEnd, "Outer")
			ended(svc.ended, "Svc.Relay")
			ended(c.innerEnd, "Inner")
			t.Logf("%d chains cancelled over %s, every link: %v", chains, tr, time.Since(cancelled))

			// The plugin and the service serve on after all that.
			var one int
			require.NoError(t, h.s.CallContext(context.Background(), name, "Outer", ChainIn{N: 3}, &one))
			assert.Equal(t, 20, one)
		})
	}
}
