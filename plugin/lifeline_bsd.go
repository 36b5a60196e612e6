//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package plugin

import "syscall"

// waiter waits for a descriptor, or a wake-up pipe, to be readable,
// through a kqueue of its own.
type waiter struct {
	kq, fd, wake int
}

func newWaiter(fd, wake int) (*waiter, error) {
	syscall.ForkLock.RLock()
	kq, err := syscall.Kqueue()
	if err == nil {
		syscall.CloseOnExec(kq)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, err
	}
	var changes [2]syscall.Kevent_t
	syscall.SetKevent(&changes[0], fd, syscall.EVFILT_READ, syscall.EV_ADD)
	syscall.SetKevent(&changes[1], wake, syscall.EVFILT_READ, syscall.EV_ADD)
	if _, err := syscall.Kevent(kq, changes[:], nil, nil); err != nil {
		_ = syscall.Close(kq)
		return nil, err
	}
	return &waiter{kq: kq, fd: fd, wake: wake}, nil
}

// wait blocks its thread in kevent(2) until fd is readable or at end of
// file (woken false), or wake is readable (woken true).
func (w *waiter) wait() (woken bool, err error) {
	var events [2]syscall.Kevent_t
	n, err := syscall.Kevent(w.kq, nil, events[:], nil)
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

func (w *waiter) close() { _ = syscall.Close(w.kq) }
