package socket

import "github.com/plugsock/plugsock/internal/proc"

// maxLogLine bounds one logged line of a plugin's output; longer lines
// are logged in pieces.
const maxLogLine = 16 << 10

// newLog returns a writer for the process's stream (stdout or stderr)
// that logs every line written to it through the socket's logger, tagged
// with the plugin's name and the stream. The supervisor flushes it once
// the process has exited.
func (in *instance) newLog(stream string) *proc.Lines {
	e := in.owner
	l := proc.NewLines(maxLogLine, func(line string) {
		e.log.Info("plugsock: plugin output", "plugin", e.displayName(), "stream", stream, "line", line)
	})
	in.logs = append(in.logs, l)
	return l
}
