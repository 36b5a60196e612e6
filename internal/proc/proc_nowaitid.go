//go:build unix && !linux

package proc

// awaitExit cannot wait without reaping here; stray members of the group
// are signalled only while the leader is stopped by Terminate or Kill.
func awaitExit(int) bool { return false }
