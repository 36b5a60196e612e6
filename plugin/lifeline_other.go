//go:build !unix

package plugin

// watchStdin is not supported here: a read of standard input could not
// be interrupted, so the plugin does not watch it.
func watchStdin(gone func()) (stop func()) { return func() {} }

func watchFD(fd int, gone func()) (stop func()) { return func() {} }
