package socket

import (
	"errors"
	"os/exec"
	"time"

	"github.com/plugsock/plugsock/internal/proc"
)

// keptExits is how many exits of launched plugins' processes Exits keeps.
const keptExits = 32

// Exit is how one process of a launched plugin ended.
type Exit struct {
	Plugin string    `json:"plugin"` // the name it had, or the program's before a handshake
	PID    int       `json:"pid"`
	At     time.Time `json:"at"`
	// Status says how it ended: "exited with code 0", "exited with code
	// 2", "killed by signal 9 (SIGKILL)".
	Status string `json:"status"`
	// Code is its exit code, -1 when a signal killed it.
	Code int `json:"code"`
	// Next is what the socket did about it: "restarting in 1.2s",
	// "not restarting: ...", or "stopped" when it was being stopped.
	Next string `json:"next"`
	// Stderr is the last lines the process wrote to its standard error
	// (at most 20, each cut to 1 KiB): on a crash, often the reason.
	Stderr []string `json:"stderr,omitempty"`
}

// Exits returns the last exits of processes started by Launch, oldest
// first: the 32 most recent, across every launched plugin.
func (s *Socket) Exits() []Exit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Exit(nil), s.procs.exits...)
}

// exited records how in, a process of e, ended.
func (s *Socket) exited(e *launched, in *instance, err error, next string) {
	x := Exit{Plugin: e.displayName(), PID: in.p.Pid(), At: time.Now(), Status: proc.Ended(err), Code: 0, Next: next, Stderr: in.tail.get()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		x.Code = ee.ExitCode()
	} else if err != nil {
		x.Code = -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.procs.exits) == keptExits {
		copy(s.procs.exits, s.procs.exits[1:])
		s.procs.exits = s.procs.exits[:keptExits-1]
	}
	s.procs.exits = append(s.procs.exits, x)
}
