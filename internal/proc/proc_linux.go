//go:build linux

package proc

import "golang.org/x/sys/unix"

// awaitExit waits until the process pid has exited without reaping it
// (waitid with WNOWAIT), so that its process group still exists. It
// reports false when it could not wait.
func awaitExit(pid int) bool {
	var info unix.Siginfo
	for {
		switch err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err {
		case nil:
			return true
		case unix.EINTR:
			continue
		default:
			return false
		}
	}
}
