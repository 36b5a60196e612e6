package plugintest

import (
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/plugsock/plugsock/internal/proc"
)

// tail keeps the last lines a process wrote to its streams, each
// prefixed with the stream's name.
type tail struct {
	mu      sync.Mutex
	max     int
	buf     []string
	streams map[string]*proc.Lines
}

// maxTailLine bounds one line of the output kept; longer lines are kept
// in pieces.
const maxTailLine = 4096

// stream returns the writer for the stream called name.
func (t *tail) stream(name string) io.Writer {
	l := proc.NewLines(maxTailLine, func(line string) { t.push(name + ": " + line) })
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.streams == nil {
		t.streams = make(map[string]*proc.Lines)
	}
	t.streams[name] = l
	return l
}

func (t *tail) push(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, line)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
}

// lines returns the lines kept, then each stream's last line if it had
// no newline.
func (t *tail) lines() []string {
	t.mu.Lock()
	out := append([]string(nil), t.buf...)
	streams := maps.Clone(t.streams)
	t.mu.Unlock()
	// A stream's lock is taken before t.mu when it pushes a line, so
	// t.mu is not held here.
	for _, name := range slices.Sorted(maps.Keys(streams)) {
		if part := streams[name].Partial(); part != "" {
			out = append(out, name+": "+part)
		}
	}
	return out
}
