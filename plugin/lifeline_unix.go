//go:build unix

package plugin

import (
	"errors"
	"os"
	"syscall"
)

// watchStdin calls gone when standard input reaches end of file (or
// fails), which for a process started by a host that set
// envelope.EnvLifeline means the host has died. It reads a duplicate of
// the descriptor in non-blocking mode, through the runtime's poller, so
// that stop can end the read and the goroutine with it.
func watchStdin(gone func()) (stop func()) { return watchFD(0, gone) }

// watchFD is watchStdin for any descriptor; fd itself is left open.
func watchFD(fd int, gone func()) (stop func()) {
	fd, err := syscall.Dup(fd)
	if err != nil {
		return func() {}
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return func() {}
	}
	f := os.NewFile(uintptr(fd), "lifeline")
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			if _, err := f.Read(buf); err != nil {
				if !errors.Is(err, os.ErrClosed) {
					gone()
				}
				return
			}
		}
	}()
	return func() {
		_ = f.Close()
		<-done
	}
}
