//go:build linux

package proc

import (
	"syscall"
	"unsafe"
)

// awaitExit waits until the process pid has exited without reaping it
// (waitid with WNOWAIT), so that its process group still exists. It
// reports false when it could not wait.
func awaitExit(pid int) bool {
	const (
		pPID    = 1
		wExited = 0x4
		wNoWait = 0x1000000
	)
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), wExited|wNoWait, 0, 0)
		switch errno {
		case 0:
			return true
		case syscall.EINTR:
			continue
		default:
			return false
		}
	}
}
