package envelope

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultMaxFrameSize bounds a frame's body when no limit is set: large
// enough for any sensible payload, small enough that a hostile peer cannot
// make the host allocate much.
const DefaultMaxFrameSize = 4 << 20

const (
	maxHeaderLines = 32
	headerBufSize  = 4096
	// Bodies above this size grow as their bytes arrive instead of being
	// allocated in full from the declared length, so a peer that declares
	// a large frame and sends nothing costs nothing.
	eagerBodySize = 64 << 10
)

// FrameReader reads LSP-style frames: header lines ending in "\r\n", a blank
// line, then Content-Length bytes of body. Header lines other than
// Content-Length are ignored.
type FrameReader struct {
	r    *bufio.Reader
	max  int
	buf  []byte
	read bool // a frame has been read
}

// keepFirst bounds the first frame's body kept as the buffer for those
// after it. The first frame of a connection is its handshake, often the
// largest it ever sends and never sent again: a buffer its size, kept for
// the connection's life, was an idle plugin's largest allocation after
// its goroutine's stack.
const keepFirst = 512

// NewFrameReader returns a FrameReader that refuses bodies longer than max
// bytes (DefaultMaxFrameSize when max <= 0).
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	return &FrameReader{r: bufio.NewReaderSize(r, headerBufSize), max: max}
}

// ReadFrame returns the next frame's body. The slice is valid until the next
// call. At a clean end of stream between frames it returns io.EOF; errors
// about the frame itself wrap ErrProtocol or ErrFrameTooLarge.
//
// A body over the limit is not allocated: it is read through and
// discarded, a buffer's worth at a time, and ReadFrame returns an error
// wrapping ErrFrameTooLarge, after which the next frame can be read. Only
// a body declared more than 16 times the limit (and over 256 MiB) is
// not read through; the stream cannot be read on after that error, nor
// after one that also wraps io.ErrUnexpectedEOF.
func (f *FrameReader) ReadFrame() ([]byte, error) {
	b, _, err := f.readFrame()
	return b, err
}

// await waits for the next frame's first byte, and returns the error that
// ends the stream instead: io.EOF at a clean end between frames, as
// ReadFrame would. An idle connection's reader spends its life here, not
// in readFrame, whose frame is far larger: with only this on its stack, a
// parked reader uses under a quarter of 8 KiB, and the garbage collector
// shrinks its stack to 4 KiB.
func (f *FrameReader) await() error {
	if f.r.Buffered() > 0 {
		return nil
	}
	_, err := f.r.Peek(1)
	return err
}

// readFrame is ReadFrame; own reports that the body is in a buffer of its
// own, which the reader will not use again.
func (f *FrameReader) readFrame() (body []byte, own bool, err error) {
	length := -1
	var over int64 // a length declared over the limit, read through
	for i := 0; ; i++ {
		if i == maxHeaderLines {
			return nil, false, fmt.Errorf("%w: more than %d header lines", ErrProtocol, maxHeaderLines)
		}
		line, err := f.r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, false, fmt.Errorf("%w: header line longer than %d bytes", ErrProtocol, headerBufSize)
			}
			if err == io.EOF && (i > 0 || len(line) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if i == 0 {
				// Tolerate stray blank lines between frames.
				i = -1
				continue
			}
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return nil, false, fmt.Errorf("%w: malformed header line %q", ErrProtocol, truncate(line))
		}
		if !bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
		if err != nil || n < 0 {
			return nil, false, fmt.Errorf("%w: bad Content-Length %q", ErrProtocol, truncate(value))
		}
		if n > discardLimit(f.max) {
			// Not worth reading through: the stream is given up.
			return nil, false, fmt.Errorf("%w: %d bytes, limit is %d", ErrFrameTooLarge, n, f.max)
		}
		length, over = int(n), 0
		if n > int64(f.max) {
			length, over = -1, n
		}
	}
	if over > 0 {
		return nil, false, f.discard(over)
	}
	if length < 0 {
		return nil, false, fmt.Errorf("%w: frame without Content-Length header", ErrProtocol)
	}
	if first := !f.read; first {
		f.read = true
		if length > keepFirst && length <= eagerBodySize {
			body = make([]byte, length)
			if _, err := io.ReadFull(f.r, body); err != nil {
				return nil, false, unexpected(err)
			}
			return body, true, nil
		}
	}
	if length <= eagerBodySize || length <= cap(f.buf) {
		if cap(f.buf) < length {
			f.buf = make([]byte, length)
		}
		body := f.buf[:length]
		if _, err := io.ReadFull(f.r, body); err != nil {
			return nil, false, unexpected(err)
		}
		return body, false, nil
	}
	// Not kept for the next frame: an idle connection should not hold on
	// to the largest frame it ever saw.
	body, err = readGrowing(f.r, length)
	return body, true, err
}

// readGrowing reads a body of length bytes into a buffer that grows only
// as the bytes arrive, so that a peer that declares a large frame and
// sends little costs little. The buffer doubles, but along sizes counted
// down from length (length/2^k, ..., length/2, length), so the last one is
// exactly length and all of them together come to less than twice it.
//
// A buffer the pool of big buffers (bufpool.go) has to spare is taken
// instead, whole: it costs nothing however little arrives. The last of
// the growing buffers has its size class's capacity, when that is not
// much more than the frame needs, so that it can go to the pool once the
// frame is done with.
func readGrowing(r io.Reader, length int) ([]byte, error) {
	if b := pooledBig(length); b != nil {
		if _, err := io.ReadFull(r, b); err != nil {
			putBig(b)
			return nil, unexpected(err)
		}
		return b, nil
	}
	size := length
	for size > eagerBodySize {
		size = (size + 1) / 2
	}
	b := make([]byte, size)
	n := 0
	for {
		m, err := io.ReadFull(r, b[n:])
		n += m
		if err != nil {
			return nil, unexpected(err)
		}
		if n == length {
			return b, nil
		}
		size = min(2*size, length)
		var nb []byte
		if size == length && bigCapFor(length) <= length+length/4 {
			// Poolable, for at most a quarter more than the frame needs:
			// what a peer can make the host allocate stays where it was.
			nb = getBig(length)
		} else {
			nb = make([]byte, size)
		}
		copy(nb, b[:n])
		b = nb
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// AppendFrame appends body framed with its Content-Length header to dst.
func AppendFrame(dst, body []byte) []byte {
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// headroom is room left in front of a message body for its header, so a
// frame is built in one buffer and written with one Write.
const headroom = len("Content-Length: ") + 20 + len("\r\n\r\n")

// putHeader writes the header for the body b[headroom:] just in front of it
// and returns the whole frame.
func putHeader(b []byte) []byte {
	var tmp [headroom]byte
	h := append(tmp[:0], "Content-Length: "...)
	h = strconv.AppendInt(h, int64(len(b)-headroom), 10)
	h = append(h, "\r\n\r\n"...)
	start := headroom - len(h)
	copy(b[start:], h)
	return b[start:]
}
