package proc

import (
	"errors"
	"fmt"
	"os/exec"
)

// Status is how the process ended, as a text for logs and reports: Err's
// text, or "exit status 0" (as exec.ExitError would put it) when Err is
// nil. Like Err, it waits for the process to exit.
func (p *Process) Status() string { return ExitStatus(p.Err()) }

// ExitStatus is the text Status gives for err, an error from
// exec.Cmd.Wait or nil.
func ExitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Ended says how a process that ended with err (from exec.Cmd.Wait, or
// nil) ended, for people: "exited with code 0", "exited with code 3",
// "killed by signal 9 (SIGKILL)", or err's text when it says nothing of
// the kind.
func Ended(err error) string {
	if err == nil {
		return "exited with code 0"
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err.Error()
	}
	if sig, name, ok := signalled(ee); ok {
		return fmt.Sprintf("killed by signal %d (%s)", sig, name)
	}
	return fmt.Sprintf("exited with code %d", ee.ExitCode())
}
