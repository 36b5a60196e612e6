package plugin

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// waiter waits for a descriptor, or a wake-up pipe, to be readable.
type waiter struct{ fd, wake int32 }

func newWaiter(fd, wake int) (*waiter, error) { return &waiter{int32(fd), int32(wake)}, nil }

// wait blocks its thread in ppoll(2), which every Linux architecture has
// (poll(2) is missing on some), until fd is readable, hung up or in error
// (woken false), or wake is readable (woken true).
func (w *waiter) wait() (woken bool, err error) {
	fds := []unix.PollFd{{Fd: w.fd, Events: unix.POLLIN}, {Fd: w.wake, Events: unix.POLLIN}}
	if _, err := unix.Ppoll(fds, nil, nil); err != nil {
		return false, err
	}
	if fds[1].Revents != 0 {
		return true, nil
	}
	if fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) == 0 {
		return false, syscall.EINTR // nothing happened; wait again
	}
	return false, nil
}

func (w *waiter) close() {}
