//go:build !unix

package envelope

import "io"

// quickWriter is only on unix (quickwrite_unix.go); elsewhere every write
// goes through the connection's Write, under its write deadline.
type quickWriter struct{}

func newQuickWriter(io.ReadWriteCloser) *quickWriter { return nil }

func (*quickWriter) write([]byte) (int, error) { panic("unreachable") }
