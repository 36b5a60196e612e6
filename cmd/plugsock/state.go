package main

// The state command: what a running host holds of a plugin's state.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/eventlog/bolt"
)

func init() {
	register(clientCommand("state", "[flags] NAME",
		"Show the snapshot a running host holds of a plugin's state: its size and age.\n"+
			"A plugin with Snapshot and Restore methods is snapshotted as it is unplugged and\n"+
			"on serve's --snapshot-interval, under the name it asks for, and restored from\n"+
			"the latest when it connects again. Exits 1 when the host holds none.", 1, 1, false, runState))
}

func runState(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int {
	ev, code, ok := eventsOf(c, api, stderr)
	if !ok {
		return code
	}
	st, err := ev.State(ctx, args[0])
	if err != nil {
		return reportError(c, f, err, stderr)
	}
	if f.json {
		return writeJSON(stdout, st)
	}
	age := time.Duration(st.Age * float64(time.Second)).Round(time.Millisecond)
	fmt.Fprintf(stdout, "%s: %d bytes, taken %s (%v ago)\n", text(st.Plugin), st.Size, st.Time.Format(time.RFC3339), age)
	return exitOK
}

// dataFile is the file in serve's --data directory that holds the host's
// events, offsets and snapshots.
const dataFile = "plugsock.db"

// openStore opens the store of serve's --data directory, made if need be,
// or, without one, a store in memory, and says which in the log.
func openStore(dir string, log *slog.Logger) (eventlog.Store, error) {
	if dir == "" {
		log.Info("plugsock: events, offsets and snapshots are kept in memory and lost when serve stops; --data DIR keeps them")
		return eventlog.NewMemory(), nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, dataFile)
	st, err := bolt.Open(path)
	if err != nil {
		return nil, err
	}
	log.Info("plugsock: events, offsets and snapshots are kept durably", "file", path)
	return st, nil
}
