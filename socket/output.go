package socket

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/plugsock/plugsock/internal/logline"
	"github.com/plugsock/plugsock/internal/proc"
)

// maxLogLine bounds one logged line of a plugin's output; longer lines
// are logged in pieces.
const maxLogLine = 16 << 10

// Of a process's standard error the last tailLines lines are kept, each
// cut to tailLineBytes, to show with its exit (Exits).
const (
	tailLines     = 20
	tailLineBytes = 1 << 10
)

// newLog returns a writer for the process's stream (stdout or stderr)
// that logs every line written to it through the socket's logger, tagged
// with the plugin's name and the stream. A line that is a log record of
// its own (slog's JSON or text, hclog's, an E!/W!/I!/D! prefix: package
// logline) is logged at its level, with its message and attributes;
// others at info, as they are. The supervisor flushes it once the process
// has exited.
func (in *instance) newLog(stream string) *proc.Lines {
	e := in.owner
	keep := stream == "stderr"
	l := proc.NewLines(maxLogLine, func(line string) {
		if keep {
			in.tail.add(line)
		}
		if rec, ok := logline.Parse(line); ok {
			attrs := make([]slog.Attr, 0, len(rec.Attrs)+2)
			attrs = append(attrs, slog.String("plugin", e.displayName()), slog.String("stream", stream))
			attrs = append(attrs, rec.Attrs...)
			e.log.LogAttrs(context.Background(), rec.Level, rec.Msg, attrs...)
			return
		}
		e.log.Info("plugsock: plugin output", "plugin", e.displayName(), "stream", stream, "line", line)
	})
	in.logs = append(in.logs, l)
	return l
}

// tail is the last lines a process wrote to its standard error.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	if len(line) > tailLineBytes {
		line = line[:tailLineBytes]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == tailLines {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:tailLines-1]
	}
	// A copy: the line is a slice of the reader's buffer.
	t.lines = append(t.lines, strings.Clone(line))
}

func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}
