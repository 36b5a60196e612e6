//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package plugin

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// waiter waits for a descriptor, or a wake-up pipe, to be readable,
// through a kqueue of its own.
type waiter struct {
	kq, fd, wake int
}

func newWaiter(fd, wake int) (*waiter, error) {
	// Opened under ForkLock and marked close-on-exec before it is
	// released, like the watch's other descriptors (lifeline_unix.go).
	syscall.ForkLock.RLock()
	kq, err := unix.Kqueue()
	if err == nil {
		unix.CloseOnExec(kq)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, err
	}
	var changes [2]unix.Kevent_t
	unix.SetKevent(&changes[0], fd, unix.EVFILT_READ, unix.EV_ADD)
	unix.SetKevent(&changes[1], wake, unix.EVFILT_READ, unix.EV_ADD)
	if _, err := unix.Kevent(kq, changes[:], nil, nil); err != nil {
		_ = unix.Close(kq)
		return nil, err
	}
	return &waiter{kq: kq, fd: fd, wake: wake}, nil
}

// wait blocks its thread in kevent(2) until fd is readable or at end of
// file (woken false), or wake is readable (woken true).
func (w *waiter) wait() (woken bool, err error) {
	var events [2]unix.Kevent_t
	n, err := unix.Kevent(w.kq, nil, events[:], nil)
	if err != nil {
		return false, err
	}
	ready := false
	for _, ev := range events[:n] {
		switch int(ev.Ident) {
		case w.wake:
			return true, nil
		case w.fd:
			ready = true
		}
	}
	if !ready {
		return false, syscall.EINTR // nothing happened; wait again
	}
	return false, nil
}

func (w *waiter) close() { _ = unix.Close(w.kq) }
