package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/examples/firefly/firefly"
	"github.com/plugsock/plugsock/examples/internal/exampletest"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The program, launched as a process, is delivered every event published
// to two topics; what it rejects comes again, from the rejected event on,
// in order, until the ledger has every event and the subscription's
// offsets are committed past them all.
func TestTransportAcksRejectsAndGetsEveryEvent(t *testing.T) {
	const n = 300 // per topic
	logs := new(exampletest.Output)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	st := eventlog.NewMemory()
	defer st.Close()
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), Store: st})
	t.Cleanup(func() { _ = s.Shutdown("") })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.Command(exampletest.Build(t, "."))
	cmd.Env = append(os.Environ(), "FIREFLY_FAIL_EVERY=10")
	name, err := s.Launch(ctx, cmd)
	require.NoError(t, err, "log:\n%s", logs)
	require.Equal(t, firefly.Name, name)

	for i := range n {
		for _, topic := range []string{"ff.orders", "ff.payments"} {
			_, err := s.Publish(ctx, topic, eventlog.Event{Type: "message", Key: fmt.Sprint(i)})
			require.NoError(t, err)
		}
	}
	_, err = s.Publish(ctx, "elsewhere", eventlog.Event{Type: "message"})
	require.NoError(t, err)

	var stats firefly.Stats
	require.Eventually(t, func() bool {
		return s.CallContext(ctx, name, "Stats", nil, &stats) == nil && stats.Distinct == 2*n
	}, 30*time.Second, 5*time.Millisecond, "every event reaches the ledger: %+v", stats)
	assert.Equal(t, 2*n/10, stats.Rejected, "the first try of every tenth event")
	assert.GreaterOrEqual(t, stats.Delivered, 2*n+stats.Rejected, "each rejected event came again")
	for _, topic := range []string{"ff.orders", "ff.payments"} {
		require.Eventually(t, func() bool {
			c, err := st.Committed(ctx, firefly.Subscription+"/"+topic)
			return err == nil && c == n
		}, 10*time.Second, time.Millisecond, "%s committed", topic)
	}
	c, err := st.Committed(ctx, firefly.Subscription+"/elsewhere")
	require.NoError(t, err)
	assert.Zero(t, c, "a topic the filter leaves out")

	// Per topic, deliveries go up one at a time, but for a redelivery,
	// which starts again at the event rejected: nothing skipped.
	var ds []firefly.Delivery
	require.NoError(t, s.CallContext(ctx, name, "Deliveries", nil, &ds))
	last := map[string]uint64{}     // every event up to it was delivered in order
	rejected := map[string]uint64{} // the event rejected, until it comes again
	for _, d := range ds {
		if r := rejected[d.Topic]; r != 0 {
			if d.Offset > r {
				continue // sent before the reject took effect
			}
			require.Equal(t, r, d.Offset, "%s: the redelivery starts at the event rejected", d.Topic)
			rejected[d.Topic] = 0
		}
		require.Equal(t, last[d.Topic]+1, d.Offset, "%s: in order, nothing skipped", d.Topic)
		if d.Rejected {
			rejected[d.Topic] = d.Offset
			continue
		}
		last[d.Topic] = d.Offset
	}
	assert.Equal(t, map[string]uint64{"ff.orders": n, "ff.payments": n}, last)
}
