//go:build unix

package proc

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// ownGroup puts cmd in a process group of its own unless the caller set
// SysProcAttr, and reports whether signals should go to the group.
func ownGroup(cmd *exec.Cmd) bool {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	return cmd.SysProcAttr.Setpgid && cmd.SysProcAttr.Pgid == 0
}

func signal(p *os.Process, group, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if group && syscall.Kill(-p.Pid, sig) == nil {
		return
	}
	_ = p.Signal(sig)
}

func killGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGKILL) }

// signalled reports the signal that killed the process of ee, if one did.
func signalled(ee *exec.ExitError) (sig int, name string, ok bool) {
	ws, isWS := ee.Sys().(syscall.WaitStatus)
	if !isWS || !ws.Signaled() {
		return 0, "", false
	}
	s := ws.Signal()
	name = unix.SignalName(s)
	if name == "" {
		name = s.String()
	}
	return int(s), name, true
}
