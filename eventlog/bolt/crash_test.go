package bolt

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/plugsock/plugsock/eventlog"
)

// crashEnv names the file the child of TestCrash writes to.
const crashEnv = "PLUGSOCK_EVENTLOG_CRASH_CHILD"

const crashAppenders = 4

// TestCrashChild is the process TestCrash kills: it appends, commits and
// puts snapshots in a loop and reports on file descriptor 3 each one
// that returned, one line each: "A offset writer n", "C offset",
// "S n".
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("the process TestCrash starts and kills")
	}
	report := os.NewFile(3, "report")
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(report, format+"\n", args...); err != nil {
			os.Exit(3) // TestCrash is gone
		}
	}
	// Should TestCrash die before it kills us, do not outlive it long.
	time.AfterFunc(2*time.Minute, func() { os.Exit(4) })

	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(5)
	}
	ctx := t.Context()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(6)
	}
	// Commits and snapshots go on from what the last run left.
	committed, err := s.Committed(ctx, "sub")
	if err != nil {
		fail(err)
	}
	snap, _, err := s.GetSnapshot(ctx, "p")
	if err != nil {
		fail(err)
	}
	var snapN int
	if len(snap.Data) > 0 {
		if err := json.Unmarshal(snap.Data, &snapN); err != nil {
			fail(err)
		}
	}
	for w := range crashAppenders {
		go func() {
			for n := 0; ; n++ {
				e := eventlog.Event{Topic: "crash", Key: fmt.Sprint(w), Data: json.RawMessage(fmt.Sprintf(`{"w":%d,"n":%d}`, w, n))}
				if err := s.Append(ctx, &e); err != nil {
					fail(err)
				}
				say("A %d %d %d", e.Offset, w, n)
			}
		}()
	}
	go func() {
		for n := snapN + 1; ; n++ {
			if err := s.PutSnapshot(ctx, "p", eventlog.Snapshot{Data: fmt.Append(nil, n)}); err != nil {
				fail(err)
			}
			say("S %d", n)
		}
	}()
	for o := committed + 1; ; o++ {
		if err := s.Commit(ctx, "sub", o); err != nil {
			fail(err)
		}
		say("C %d", o)
	}
}

type appended struct{ writer, n int }

// TestCrash SIGKILLs a process of TestCrashChild in the middle of its
// writes, three times over on the same file, and checks after each that
// the file holds every write the child saw return, and nothing corrupt.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	appends := make(map[uint64]appended)
	var maxCommit, maxSnap uint64
	const rounds = 3
	for round := range rounds {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		cmd.ExtraFiles = []*os.File{w}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		w.Close()
		// However the reading goes, the child does not outlive the test.
		timeout := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })

		var a, c, sn int
		killed := false
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				// A line cut by the kill was not reported: its write may or
				// may not have returned.
				require.ErrorIs(t, err, io.EOF)
				break
			}
			var off, wr, n uint64
			switch line[0] {
			case 'A':
				_, err = fmt.Sscanf(line, "A %d %d %d\n", &off, &wr, &n)
				require.NoError(t, err, "%q", line)
				_, dup := appends[off]
				require.False(t, dup, "offset %d given twice", off)
				appends[off] = appended{int(wr), int(n)}
				a++
			case 'C':
				_, err = fmt.Sscanf(line, "C %d\n", &off)
				require.NoError(t, err, "%q", line)
				maxCommit = max(maxCommit, off)
				c++
			case 'S':
				_, err = fmt.Sscanf(line, "S %d\n", &n)
				require.NoError(t, err, "%q", line)
				maxSnap = max(maxSnap, n)
				sn++
			default:
				require.Failf(t, "a line the child does not write", "%q", line)
			}
			if !killed && a >= 200 && c >= 20 && sn >= 20 {
				require.NoError(t, cmd.Process.Signal(os.Kill))
				killed = true
			}
		}
		r.Close()
		timeout.Stop()
		err = cmd.Wait()
		require.True(t, killed, "round %d: the child ended before it was killed (%v): %s", round, err, stderr.String())
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		require.Equal(t, "signal: killed", exit.String(), "stderr: %s", stderr.String())
		t.Logf("round %d: killed after %d appends, %d commits, %d snapshots returned", round, a, c, sn)

		checkCrashed(t, path, appends, maxCommit, maxSnap, round+1)
	}
}

func checkCrashed(t *testing.T, path string, appends map[uint64]appended, maxCommit, maxSnap uint64, rounds int) {
	t.Helper()
	st, err := Open(path, Config{LockTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer st.Close()
	ctx := t.Context()

	// bbolt's own check of every page.
	var problems []error
	require.NoError(t, st.(*store).db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, err)
		}
		return nil
	}))
	require.NoError(t, errors.Join(problems...), "bbolt's check")

	first, last, err := st.Bounds(ctx, "crash")
	require.NoError(t, err)
	events, err := st.Read(ctx, "crash", 1, int(last)+10)
	require.NoError(t, err, "every event decodes")
	require.Equal(t, uint64(1), first)
	require.Len(t, events, int(last))
	for i, e := range events {
		require.Equal(t, uint64(i+1), e.Offset, "dense")
		want, reported := appends[e.Offset]
		if !reported {
			continue // in flight when killed: it may or may not be there
		}
		require.Equal(t, fmt.Sprint(want.writer), e.Key, "offset %d", e.Offset)
		require.Equal(t, fmt.Sprintf(`{"w":%d,"n":%d}`, want.writer, want.n), string(e.Data), "offset %d", e.Offset)
	}
	for off := range appends {
		require.LessOrEqual(t, off, last, "a returned Append is lost")
	}
	unreported := len(events) - len(appends)
	assert.GreaterOrEqual(t, unreported, 0)
	assert.LessOrEqual(t, unreported, crashAppenders*rounds, "no more events than appends in flight at the kills")

	got, err := st.Committed(ctx, "sub")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, got, maxCommit, "a returned Commit is lost")
	assert.LessOrEqual(t, got, maxCommit+1, "at most the Commit in flight more")

	snap, ok, err := st.GetSnapshot(ctx, "p")
	require.NoError(t, err)
	require.True(t, ok)
	var n uint64
	require.NoError(t, json.Unmarshal(snap.Data, &n))
	assert.GreaterOrEqual(t, n, maxSnap, "a returned PutSnapshot is lost")
	assert.LessOrEqual(t, n, maxSnap+1)
}
