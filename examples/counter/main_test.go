package main

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/examples/counter/counter"
	"github.com/plugsock/plugsock/examples/internal/exampletest"
	"github.com/plugsock/plugsock/socket"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The program, launched as a process, keeps its running count across a
// SIGKILL, which Launch restarts it after, and across an Unplug and a new
// Launch: restored from its last snapshot, and delivered again what came
// after it, it counts every event once.
func TestCountSurvivesSIGKILLAndUnplug(t *testing.T) {
	logs := new(exampletest.Output)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	st := eventlog.NewMemory()
	defer st.Close()
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), Store: st, SnapshotInterval: 20 * time.Millisecond})
	t.Cleanup(func() { _ = s.Shutdown("") })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := exampletest.Build(t, ".")
	name, err := s.Launch(ctx, exec.Command(bin))
	require.NoError(t, err, "log:\n%s", logs)
	require.Equal(t, counter.Name, name)

	published := 0
	publish := func(n int) {
		t.Helper()
		for i := range n {
			typ := []string{"cpu", "mem", "disk"}[i%3]
			_, err := s.Publish(ctx, "points", eventlog.Event{Type: typ})
			require.NoError(t, err)
			published++
		}
	}
	totalIs := func(want int) counter.Counts {
		t.Helper()
		var c counter.Counts
		require.Eventually(t, func() bool {
			return s.CallContext(ctx, name, "Counts", nil, &c) == nil && c.Total == want
		}, 20*time.Second, 5*time.Millisecond, "total %d: %+v\nlog:\n%s", want, c, logs)
		return c
	}
	pid := func() int {
		t.Helper()
		var p int
		require.Eventually(t, func() bool { return s.CallContext(ctx, name, "Pid", nil, &p) == nil }, 20*time.Second, 5*time.Millisecond)
		return p
	}

	publish(150)
	totalIs(150)
	require.Eventually(t, func() bool {
		c, err := st.Committed(ctx, counter.Subscription+"/points")
		return err == nil && c == 150
	}, 20*time.Second, 5*time.Millisecond, "a snapshot on the interval covers the 150, and commits them")
	// Killed while events keep coming: some counted after the last
	// snapshot, some not delivered at all.
	first := pid()
	publish(60)
	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		var p int
		return s.CallContext(ctx, name, "Pid", nil, &p) == nil && p != first
	}, 20*time.Second, 5*time.Millisecond, "Launch restarts it\nlog:\n%s", logs)
	publish(90)
	c := totalIs(300)
	assert.Equal(t, map[string]int{"cpu": 100, "mem": 100, "disk": 100}, c.ByType, "nothing counted twice")
	logs.WaitFor(t, "plugin state restored", 5*time.Second)

	// Unplugged, it leaves its snapshot; a new Launch takes it up.
	s.Unplug("", name)
	info, ok, err := s.State(ctx, name)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Positive(t, info.Size)
	publish(30) // while it is away
	name, err = s.Launch(ctx, exec.Command(bin))
	require.NoError(t, err)
	c = totalIs(330)
	assert.Equal(t, map[string]int{"cpu": 110, "mem": 110, "disk": 110}, c.ByType)
	require.Equal(t, 330, published)
}
