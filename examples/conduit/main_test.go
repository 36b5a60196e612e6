//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/conduit/conduit"
	"github.com/plugsock/plugsock/examples/internal/exampletest"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	total    = 100_000 // records in the source
	window   = 256     // unsettled records the plugin may send (Config.StreamWindow)
	ackEvery = 100     // the host acknowledges cumulatively, every that many records
	// killAt is how many records the host has written when it kills the
	// plugin: half of them, and some past the last acknowledgement, so
	// that records written but not acknowledged come again.
	killAt = total/2 + ackEvery/2
)

// destination is the host application: it writes each record it receives
// to its store, keyed by position, and acknowledges positions once
// written. The last position it acknowledged is where it resumes.
type destination struct {
	ackEvery    conduit.Position // acknowledge every that many records, and the last
	last        conduit.Position // the source's last position, when the host knows it
	store       map[conduit.Position]conduit.Record
	acked       conduit.Position // the last position acknowledged
	delivered   int              // records received, counting those received again
	redelivered int              // records received that the store had already
	// holding stops acknowledgements: the test sets it when it kills the
	// plugin, so that what was written after the kill, which the dead
	// plugin can no longer hear of, is written and not acknowledged
	// whatever the stream still held.
	holding bool
}

// read opens the source's stream from the last acknowledged position and
// writes what it receives until the stream ends: io.EOF when the source
// has sent everything, else the error that cut it off. after is called
// with the position of each record written.
func (d *destination) read(ctx context.Context, s *socket.Socket, name string, after func(conduit.Position)) error {
	st, err := s.OpenStream(ctx, name, "Read", d.acked)
	if err != nil {
		return err
	}
	next := d.acked + 1
	for {
		it, err := st.Recv(ctx)
		if err != nil {
			return err
		}
		var p conduit.Position
		if err := json.Unmarshal(it.Position, &p); err != nil {
			return fmt.Errorf("item %d: position %s: %w", it.Seq, it.Position, err)
		}
		if p != next {
			return fmt.Errorf("item %d is at position %d where %d was due", it.Seq, p, next)
		}
		next++
		var r conduit.Record
		if err := it.Decode(&r); err != nil {
			return fmt.Errorf("item %d: %w", it.Seq, err)
		}
		d.delivered++
		if old, ok := d.store[p]; ok {
			if old != r {
				return fmt.Errorf("position %d came again as %+v, was %+v", p, r, old)
			}
			d.redelivered++
		}
		d.store[p] = r
		if !d.holding && (p%d.ackEvery == 0 || p == d.last) {
			if err := st.AckThrough(it.Seq); err != nil {
				return err
			}
			d.acked = p
			if stats := st.Stats(); stats.Received-stats.Settled > window {
				return fmt.Errorf("the host holds %d unsettled records, past the window of %d", stats.Received-stats.Settled, window)
			}
		}
		after(p)
	}
}

// newHost is a socket on a loopback port, with the plugin's window, whose
// log the test can show, and which reports each disconnect on gone.
func newHost(t *testing.T) (s *socket.Socket, logs *exampletest.Output, gone chan bool) {
	t.Helper()
	logs = new(exampletest.Output)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s = new(socket.Socket)
	s.Serve(l, socket.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), StreamWindow: window})
	gone = make(chan bool, 4)
	s.RegisterCallback(func(_ *envelope.PluginInfo, graceful bool) { gone <- graceful })
	t.Cleanup(func() { _ = s.Shutdown("") })
	return s, logs, gone
}

// disconnect waits for the next disconnect and says whether it was
// graceful.
func disconnect(t *testing.T, gone <-chan bool, logs *exampletest.Output, what string) bool {
	t.Helper()
	select {
	case graceful := <-gone:
		return graceful
	case <-time.After(20 * time.Second):
		require.FailNow(t, "no disconnect "+what, "log:\n%s", logs)
		return false
	}
}

// launch starts the plugin with records records.
func launch(ctx context.Context, t *testing.T, s *socket.Socket, logs *exampletest.Output, records int) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(exampletest.Build(t, "."))
	cmd.Env = append(os.Environ(), EnvRecords+"="+strconv.Itoa(records))
	name, err := s.Launch(ctx, cmd, socket.LaunchConfig{
		Restart:         socket.RestartOnFailure,
		RestartBackoff:  10 * time.Millisecond,
		RestartMaxDelay: 100 * time.Millisecond,
	})
	require.NoError(t, err, "log:\n%s", logs)
	require.Equal(t, conduit.Name, name)
	return cmd, name
}

func pidOf(t *testing.T, s *socket.Socket, name string) int {
	t.Helper()
	var pid int
	require.NoError(t, s.CallContext(t.Context(), name, "Pid", nil, &pid))
	return pid
}

// The source streams 100,000 records; the host acknowledges them; the
// plugin is killed halfway, Launch restarts it, and the host resumes from
// its last acknowledged position, ending with every record exactly once.
func TestSourceResumesAfterSIGKILL(t *testing.T) {
	s, logs, gone := newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd, name := launch(ctx, t, s, logs, total)
	pid := pidOf(t, s, name)
	require.Equal(t, cmd.Process.Pid, pid, "the process Launch started")

	d := &destination{ackEvery: ackEvery, last: total, store: make(map[conduit.Position]conduit.Record, total)}
	began := time.Now()
	killed := false
	err := d.read(ctx, s, name, func(conduit.Position) {
		if !killed && len(d.store) == killAt {
			killed = true
			d.holding = true
			require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		}
	})
	first := time.Since(began)
	require.True(t, killed, "the plugin was killed; the stream ended with %v", err)
	require.ErrorIs(t, err, envelope.ErrShutdown, "the stream ends with the connection")
	written, acked := len(d.store), d.acked
	require.Less(t, int(acked), written, "records were written and not acknowledged when the plugin died")
	assert.False(t, disconnect(t, gone, logs, "of the killed plugin"), "a kill is not a graceful disconnect")

	restarting := time.Now()
	require.True(t, s.WaitFor(name, 20*time.Second), "Launch restarted the plugin; log:\n%s", logs)
	restarted := time.Since(restarting)
	newPid := pidOf(t, s, name)
	require.NotEqual(t, pid, newPid, "a new process")

	d.holding = false
	began = time.Now()
	err = d.read(ctx, s, name, func(conduit.Position) {})
	second := time.Since(began)
	require.ErrorIs(t, err, io.EOF, "the source sent every record and the stream ended")

	// Every record, exactly once, and the right one.
	require.Len(t, d.store, total)
	for p := conduit.Position(1); p <= total; p++ {
		r, ok := d.store[p]
		require.True(t, ok, "no record at position %d", p)
		require.Equal(t, conduit.Generate(p), r, "position %d", p)
	}
	assert.Equal(t, conduit.Position(total), d.acked, "the host acknowledged the last record")
	// What came again is exactly what was written and not acknowledged
	// before the kill: the resumed source starts right after the last
	// acknowledged position.
	assert.Equal(t, written-int(acked), d.redelivered, "redelivered")
	assert.Equal(t, total+d.redelivered, d.delivered, "delivered")

	elapsed := first + second
	t.Logf("%d records delivered in %v (%.0f records/s; %v before the kill, %v after the restart); killed at record %d, "+
		"the stream cut off with %d written and %d acknowledged; restarted in %v; %d records redelivered",
		d.delivered, elapsed.Round(time.Millisecond), float64(d.delivered)/elapsed.Seconds(),
		first.Round(time.Millisecond), second.Round(time.Millisecond), killAt, written, acked, restarted.Round(time.Millisecond), d.redelivered)

	require.NoError(t, s.Shutdown(""))
	assert.True(t, disconnect(t, gone, logs, "at shutdown"), "the restarted plugin leaves in good order")
}

// Unplugging the plugin mid-stream stops the source in good order: it
// sends nothing more, waits for the host to settle what it sent, and
// returns, so that the stream ends (io.EOF, not a cancellation) with the
// host's last acknowledged position exactly where it stopped.
func TestSourceDrainsWhenUnplugged(t *testing.T) {
	s, logs, gone := newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	const records = 1 << 30 // more than the test will ever read
	cmd, name := launch(ctx, t, s, logs, records)

	// Acknowledging every record: a host that acknowledged every hundred
	// would leave the draining source waiting, up to the shutdown
	// timeout, for the last few.
	d := &destination{ackEvery: 1, last: records, store: make(map[conduit.Position]conduit.Record)}
	unplugged := make(chan struct{})
	err := d.read(ctx, s, name, func(p conduit.Position) {
		if p == 1000 {
			go func() {
				defer close(unplugged)
				s.Unplug("", name)
			}()
		}
	})
	require.ErrorIs(t, err, io.EOF, "the source returned, drained; log:\n%s", logs)
	<-unplugged
	assert.True(t, disconnect(t, gone, logs, "once unplugged"), "graceful")
	require.NotNil(t, cmd.ProcessState)
	assert.True(t, cmd.ProcessState.Success(), "the plugin exits 0: %v", cmd.ProcessState)

	n := conduit.Position(len(d.store))
	assert.GreaterOrEqual(t, n, conduit.Position(1000))
	assert.Less(t, n, conduit.Position(records), "the source stopped early")
	assert.Equal(t, n, d.acked, "every record sent was acknowledged")
	assert.Equal(t, 0, d.redelivered)
	t.Logf("the source stopped after %d records, all acknowledged", n)
}
