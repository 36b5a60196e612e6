//go:build !unix

package proc

import (
	"os"
	"os/exec"
)

func ownGroup(*exec.Cmd) bool { return false }

func signal(p *os.Process, _, _ bool) { _ = p.Kill() }

func awaitExit(int) bool { return false }

func killGroup(int) error { return nil }

func signalled(*exec.ExitError) (int, string, bool) { return 0, "", false }
