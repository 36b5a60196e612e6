package plugin

import (
	"syscall"
	"unsafe"
)

// pollFd is struct pollfd, the same on every Linux architecture.
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

const (
	pollIn   = 0x1
	pollErr  = 0x8
	pollHup  = 0x10
	pollNval = 0x20
)

// waiter waits for a descriptor, or a wake-up pipe, to be readable.
type waiter struct{ fd, wake int32 }

func newWaiter(fd, wake int) (*waiter, error) { return &waiter{int32(fd), int32(wake)}, nil }

// wait blocks its thread in ppoll(2), which every Linux architecture has
// (poll(2) is missing on some), until fd is readable, hung up or in error
// (woken false), or wake is readable (woken true).
func (w *waiter) wait() (woken bool, err error) {
	fds := [2]pollFd{{fd: w.fd, events: pollIn}, {fd: w.wake, events: pollIn}}
	_, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), 0, 0, 0, 0)
	if e != 0 {
		return false, e
	}
	if fds[1].revents != 0 {
		return true, nil
	}
	if fds[0].revents&(pollIn|pollHup|pollErr|pollNval) == 0 {
		return false, syscall.EINTR // nothing happened; wait again
	}
	return false, nil
}

func (w *waiter) close() {}
