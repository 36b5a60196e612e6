//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package plugin

import (
	"errors"
	"sync"
	"syscall"
)

// watchStdin calls gone when standard input reaches end of file (or
// fails), which for a process started by a host that set
// envelope.EnvLifeline means the host has died.
func watchStdin(gone func()) (stop func()) { return watchFD(0, gone) }

// watchFD is watchStdin for any descriptor. fd is left open, and its
// flags as they were.
//
// The flags that matter here (O_NONBLOCK) belong to the open file
// description, which a duplicate of fd shares, and so do the child
// processes that inherit fd as their standard input: setting O_NONBLOCK
// on a duplicate, to read it through the runtime's poller, would give
// every child a non-blocking standard input that fails with EAGAIN. So
// the watch never changes a flag. Its goroutine waits in ppoll(2)
// (kevent(2) on the BSDs) for a duplicate of fd to be readable or hung
// up, or for stop, which writes to a pipe of the watch's own that the
// same wait watches; only then does it read, which does not block (the
// host never writes to the lifeline: what there is to read is end of
// file). stop ends the goroutine and closes every descriptor the watch
// opened.
func watchFD(fd int, gone func()) (stop func()) {
	// The descriptors are opened under ForkLock and marked close-on-exec
	// before it is released, as package os does, so that no child
	// started meanwhile inherits them.
	syscall.ForkLock.RLock()
	dup, err := syscall.Dup(fd)
	if err != nil {
		syscall.ForkLock.RUnlock()
		return func() {}
	}
	syscall.CloseOnExec(dup)
	var wake [2]int
	if err := syscall.Pipe(wake[:]); err != nil {
		syscall.ForkLock.RUnlock()
		_ = syscall.Close(dup)
		return func() {}
	}
	syscall.CloseOnExec(wake[0])
	syscall.CloseOnExec(wake[1])
	syscall.ForkLock.RUnlock()
	closeAll := func() {
		_ = syscall.Close(dup)
		_ = syscall.Close(wake[0])
		_ = syscall.Close(wake[1])
	}
	w, err := newWaiter(dup, wake[0])
	if err != nil {
		closeAll()
		return func() {}
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.close()
		buf := make([]byte, 512)
		for {
			woken, err := w.wait()
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case err != nil:
				// The watch cannot go on; that says nothing about the
				// host, so the plugin stays.
				return
			case woken:
				return
			}
			n, err := syscall.Read(dup, buf)
			if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if n <= 0 || err != nil {
				gone()
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_, _ = syscall.Write(wake[1], []byte{0})
			<-done
			closeAll()
		})
	}
}
