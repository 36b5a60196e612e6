package proc

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
