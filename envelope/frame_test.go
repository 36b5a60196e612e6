package envelope_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// readAll reads frames until an error and returns copies of the bodies,
// since a body is only valid until the next ReadFrame.
func readAll(fr *envelope.FrameReader) ([]string, error) {
	var out []string
	for {
		b, err := fr.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, string(b))
	}
}

func TestAppendFrame(t *testing.T) {
	got := envelope.AppendFrame([]byte("prefix|"), []byte(`{"a":1}`))
	assert.Equal(t, "prefix|Content-Length: 7\r\n\r\n{\"a\":1}", string(got))
	assert.Equal(t, "Content-Length: 0\r\n\r\n", string(envelope.AppendFrame(nil, nil)))
}

func TestFrameReaderMultipleFrames(t *testing.T) {
	bodies := []string{`{"jsonrpc":"2.0","method":"a"}`, ``, `[1,2,3]`, strings.Repeat("x", 5000)}
	var stream []byte
	for _, b := range bodies {
		stream = envelope.AppendFrame(stream, []byte(b))
	}

	// The same stream delivered whole and in awkward pieces must read the
	// same: a network hands over bytes however it likes.
	readers := map[string]func() io.Reader{
		"whole":   func() io.Reader { return bytes.NewReader(stream) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := readAll(envelope.NewFrameReader(r(), 0))
			assert.Equal(t, bodies, got)
			assert.ErrorIs(t, err, io.EOF)
			assert.NotErrorIs(t, err, io.ErrUnexpectedEOF)
		})
	}
}

func TestFrameReaderHeaders(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []string
	}{
		{
			name:   "extra headers ignored",
			stream: "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 2\r\nX-Trace: abc\r\n\r\n{}",
			want:   []string{"{}"},
		},
		{
			name:   "lower case",
			stream: "content-length: 2\r\n\r\n{}",
			want:   []string{"{}"},
		},
		{
			name:   "upper case without space",
			stream: "CONTENT-LENGTH:2\r\n\r\n{}",
			want:   []string{"{}"},
		},
		{
			name:   "padded name and value",
			stream: " Content-Length \t:   2  \r\n\r\n{}",
			want:   []string{"{}"},
		},
		{
			name:   "bare LF line ends",
			stream: "Content-Length: 2\n\n{}",
			want:   []string{"{}"},
		},
		{
			name:   "stray blank lines between frames",
			stream: "\r\n\r\nContent-Length: 1\r\n\r\n1\r\n\r\nContent-Length: 1\r\n\r\n2\r\n",
			want:   []string{"1", "2"},
		},
		{
			name:   "last Content-Length wins",
			stream: "Content-Length: 100\r\nContent-Length: 3\r\n\r\nabc",
			want:   []string{"abc"},
		},
		{
			name:   "long but acceptable header line",
			stream: "X-Pad: " + strings.Repeat("p", 3000) + "\r\nContent-Length: 2\r\n\r\nok",
			want:   []string{"ok"},
		},
		{
			name:   "several extra header lines",
			stream: strings.Repeat("X-A: b\r\n", 20) + "Content-Length: 2\r\n\r\nok",
			want:   []string{"ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(envelope.NewFrameReader(strings.NewReader(tt.stream), 0))
			assert.Equal(t, tt.want, got)
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestFrameReaderProtocolErrors(t *testing.T) {
	tests := []struct {
		name   string
		stream string
	}{
		{"missing Content-Length", "Content-Type: text/plain\r\n\r\n{}"},
		{"empty Content-Length", "Content-Length: \r\n\r\n{}"},
		{"non-numeric Content-Length", "Content-Length: abc\r\n\r\n{}"},
		{"fractional Content-Length", "Content-Length: 1.5\r\n\r\n{}"},
		{"hex Content-Length", "Content-Length: 0x10\r\n\r\n{}"},
		{"negative Content-Length", "Content-Length: -1\r\n\r\n{}"},
		{"overflowing Content-Length", "Content-Length: 99999999999999999999999\r\n\r\n{}"},
		{"header line without colon", "Content-Length 2\r\n\r\n{}"},
		{"body without header", `{"jsonrpc":"2.0","method":"x"}` + "\r\n\r\n"},
		{"bare body without colon", "[]\r\n"},
		{"too many header lines", strings.Repeat("X-A: b\r\n", 100) + "Content-Length: 2\r\n\r\n{}"},
		{"overlong header line", "X-Long: " + strings.Repeat("a", 10000) + "\r\nContent-Length: 2\r\n\r\n{}"},
		{"overlong line without newline", strings.Repeat("a", 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := envelope.NewFrameReader(strings.NewReader(tt.stream), 0).ReadFrame()
			assert.Nil(t, body)
			assert.ErrorIs(t, err, envelope.ErrProtocol)
			assert.NotErrorIs(t, err, envelope.ErrFrameTooLarge)
		})
	}
}

func TestFrameReaderLimit(t *testing.T) {
	t.Run("at the limit", func(t *testing.T) {
		body, err := envelope.NewFrameReader(strings.NewReader("Content-Length: 10\r\n\r\n0123456789"), 10).ReadFrame()
		require.NoError(t, err)
		assert.Equal(t, "0123456789", string(body))
	})
	t.Run("declared over the limit", func(t *testing.T) {
		// No body follows: the declaration alone must be refused, before
		// any of it is read or allocated.
		body, err := envelope.NewFrameReader(strings.NewReader("Content-Length: 11\r\n\r\n"), 10).ReadFrame()
		assert.Nil(t, body)
		assert.ErrorIs(t, err, envelope.ErrFrameTooLarge)
		assert.NotErrorIs(t, err, envelope.ErrProtocol)
		assert.Contains(t, err.Error(), "11")
	})
	t.Run("default limit", func(t *testing.T) {
		for _, max := range []int{0, -5} {
			fr := envelope.NewFrameReader(strings.NewReader("Content-Length: 4194305\r\n\r\n"), max)
			_, err := fr.ReadFrame()
			assert.ErrorIs(t, err, envelope.ErrFrameTooLarge, "max %d", max)
		}
		big := strings.Repeat("z", envelope.DefaultMaxFrameSize)
		fr := envelope.NewFrameReader(bytes.NewReader(envelope.AppendFrame(nil, []byte(big))), 0)
		body, err := fr.ReadFrame()
		require.NoError(t, err)
		assert.Len(t, body, envelope.DefaultMaxFrameSize)
		assert.True(t, string(body) == big, "body differs")
	})
}

// TestFrameReaderSlowLargeBody streams frames through io.Pipe in small
// pieces, so each ReadFrame has to wait for its body to arrive in many
// reads; the large one takes the path that grows the buffer as bytes come.
func TestFrameReaderSlowLargeBody(t *testing.T) {
	large := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	medium := bytes.Repeat([]byte("m"), 40<<10)
	small := []byte(`{"small":true}`)
	var stream []byte
	for _, b := range [][]byte{large, small, medium, large} {
		stream = envelope.AppendFrame(stream, b)
	}

	pr, pw := io.Pipe()
	writerDone := make(chan error, 1)
	go func() {
		rest := stream
		for len(rest) > 0 {
			n := min(len(rest), 1000)
			if _, err := pw.Write(rest[:n]); err != nil {
				writerDone <- err
				return
			}
			rest = rest[n:]
		}
		writerDone <- pw.Close()
	}()

	fr := envelope.NewFrameReader(pr, 2<<20)
	for i, want := range [][]byte{large, small, medium, large} {
		got, err := fr.ReadFrame()
		require.NoError(t, err, "frame %d", i)
		assert.True(t, bytes.Equal(want, got), "frame %d: got %d bytes, want %d", i, len(got), len(want))
	}
	_, err := fr.ReadFrame()
	assert.ErrorIs(t, err, io.EOF)
	assert.NoError(t, recv(t, writerDone))
}

func TestFrameReaderTruncated(t *testing.T) {
	tests := []struct {
		name   string
		stream string
	}{
		{"short body", "Content-Length: 10\r\n\r\n{}"},
		{"no body", "Content-Length: 10\r\n\r\n"},
		{"short large body", "Content-Length: 100000\r\n\r\n" + strings.Repeat("a", 50000)},
		{"no large body", "Content-Length: 3000000\r\n\r\n"},
		{"header without blank line", "Content-Length: 10\r\n"},
		{"partial header line", "Content-Len"},
		{"after a good frame", "Content-Length: 2\r\n\r\n{}Content-Length: 5\r\n\r\nab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(envelope.NewFrameReader(strings.NewReader(tt.stream), 0))
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.NotErrorIs(t, err, envelope.ErrProtocol)
		})
	}
}

func TestFrameReaderCleanEOF(t *testing.T) {
	for name, stream := range map[string]string{
		"empty stream":          "",
		"after one frame":       "Content-Length: 2\r\n\r\n{}",
		"after stray newlines":  "Content-Length: 2\r\n\r\n{}\r\n\r\n",
		"only blank lines":      "\r\n\n\r\n",
		"after two frames, LFs": "Content-Length: 1\n\n1Content-Length: 1\n\n2",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readAll(envelope.NewFrameReader(strings.NewReader(stream), 0))
			// Exactly io.EOF: callers compare with == to tell a clean
			// hang-up from a broken one.
			assert.Equal(t, io.EOF, err)
		})
	}
}

func TestFrameReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	good := envelope.AppendFrame(nil, []byte("{}"))
	r := io.MultiReader(bytes.NewReader(good), iotest.ErrReader(boom))
	got, err := readAll(envelope.NewFrameReader(r, 0))
	assert.Equal(t, []string{"{}"}, got)
	assert.ErrorIs(t, err, boom)

	r = io.MultiReader(strings.NewReader("Content-Length: 5\r\n\r\nab"), iotest.ErrReader(boom))
	_, err = envelope.NewFrameReader(r, 0).ReadFrame()
	assert.ErrorIs(t, err, boom)
}
