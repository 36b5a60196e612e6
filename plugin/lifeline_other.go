//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package plugin

// watchStdin is not supported here: standard input could not be watched
// without either a read that cannot be interrupted or making it
// non-blocking for every process that shares it, so the plugin does not
// watch it.
func watchStdin(gone func()) (stop func()) { return func() {} }

func watchFD(fd int, gone func()) (stop func()) { return func() {} }
