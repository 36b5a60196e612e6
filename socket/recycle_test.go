package socket_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Mixer echoes its input after spinning for about its Spin, so that some
// calls end while they still hold the read loop and others after reading
// has moved on to another goroutine.
type Mixer struct{}

// MixIn is Mixer's input: a value to send back and a time to spin first.
type MixIn struct {
	Nonce string   `json:"nonce"`
	Items []string `json:"items"`
	Spin  int64    `json:"spin"` // nanoseconds
}

// Echo returns in unchanged once in.Spin has passed, spinning rather than
// sleeping: a sleep parks the goroutine, where the hand-off under test
// happens while it still runs.
func (Mixer) Echo(_ context.Context, in MixIn) (MixIn, error) {
	for end := time.Now().Add(time.Duration(in.Spin)); time.Now().Before(end); {
	}
	return in, nil
}

// TestRecycledMessagesKeepTheirValues: a request the plugin has answered,
// and an answer the host has decoded, give their memory to later
// messages. Many callers at once, on each transport, with calls that end
// on either side of the read loop's hand-off, must each get back exactly
// what they sent.
func TestRecycledMessagesKeepTheirValues(t *testing.T) {
	callers, calls := 16, 300
	if testing.Short() {
		calls = 60
	}
	for _, network := range transports {
		t.Run(network, func(t *testing.T) {
			h := newHost(t, network)
			name := h.plugVia(network, Mixer{}, "mixer")
			var wg sync.WaitGroup
			errs := make(chan error, callers)
			for g := range callers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 1))
					for i := range calls {
						in := MixIn{
							Nonce: fmt.Sprintf("%d/%d", g, i),
							Items: make([]string, r.IntN(6)),
							Spin:  int64(time.Duration(r.IntN(120)) * time.Microsecond),
						}
						for k := range in.Items {
							in.Items[k] = fmt.Sprintf("%d-%d-%d", g, i, k)
						}
						switch r.IntN(16) {
						case 0:
							// Copied out of its frame into a pooled buffer.
							in.Items = append(in.Items, strings.Repeat(in.Nonce, 20<<10/len(in.Nonce)))
						case 1:
							// A frame of its own, which the message keeps.
							in.Items = append(in.Items, strings.Repeat(in.Nonce, 80<<10/len(in.Nonce)))
						}
						var out MixIn
						if err := h.s.CallContext(context.Background(), name, "Echo", in, &out); err != nil {
							errs <- fmt.Errorf("call %s: %w", in.Nonce, err)
							return
						}
						if out.Nonce != in.Nonce || fmt.Sprint(out.Items) != fmt.Sprint(in.Items) || out.Spin != in.Spin {
							errs <- fmt.Errorf("asked %+v, got %+v", in, out)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				assert.NoError(t, err)
			}
			require.NoError(t, h.s.Shutdown(""))
		})
	}
}
