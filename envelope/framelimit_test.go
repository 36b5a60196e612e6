package envelope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

// requireTooLarge checks that err is a frame-too-large failure naming
// limit.
func requireTooLarge(t *testing.T, err error, limit int) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, envelope.ErrFrameTooLarge)
	assert.Contains(t, err.Error(), fmt.Sprintf("limit of %d bytes", limit))
}

func TestFrameReaderReadsThroughOversized(t *testing.T) {
	const limit = 1024
	big := `{"jsonrpc":"2.0","method":"m","params":"` + strings.Repeat("x", 1<<20) + `","id":1}`
	var stream []byte
	for range 8 {
		stream = envelope.AppendFrame(stream, []byte(big))
	}
	stream = envelope.AppendFrame(stream, []byte(`{"ok":1}`))
	fr := envelope.NewFrameReader(bytes.NewReader(stream), limit)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 8 {
		body, err := fr.ReadFrame()
		assert.Nil(t, body)
		require.ErrorIs(t, err, envelope.ErrFrameTooLarge)
		assert.NotErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Contains(t, err.Error(), fmt.Sprintf("%d bytes, limit is %d", len(big), limit))
	}
	runtime.ReadMemStats(&after)
	// Eight bodies of 1 MiB went past; none of them was allocated.
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(512<<10), "bytes allocated reading 8 MiB over the limit")

	body, err := fr.ReadFrame()
	require.NoError(t, err, "the frame after them")
	assert.Equal(t, `{"ok":1}`, string(body))
	_, err = fr.ReadFrame()
	assert.Equal(t, io.EOF, err)
}

func TestFrameReaderOversizedEnds(t *testing.T) {
	t.Run("truncated", func(t *testing.T) {
		fr := envelope.NewFrameReader(strings.NewReader("Content-Length: 2000\r\n\r\n{\"id\":1,"), 1000)
		_, err := fr.ReadFrame()
		assert.ErrorIs(t, err, envelope.ErrFrameTooLarge)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("declared 2^62 bytes", func(t *testing.T) {
		// Not read through: no one waits for that many bytes.
		var body readCounter
		r := io.MultiReader(strings.NewReader("Content-Length: 4611686018427387904\r\n\r\n"), &body)
		fr := envelope.NewFrameReader(r, 1000)
		_, err := fr.ReadFrame()
		assert.ErrorIs(t, err, envelope.ErrFrameTooLarge)
		assert.NotErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Zero(t, body.reads, "the body is not waited for")
	})
	t.Run("headers after Content-Length", func(t *testing.T) {
		stream := "Content-Length: 20\r\nContent-Type: x\r\n\r\n" + strings.Repeat("y", 20) + "Content-Length: 2\r\n\r\n{}"
		fr := envelope.NewFrameReader(strings.NewReader(stream), 10)
		_, err := fr.ReadFrame()
		require.ErrorIs(t, err, envelope.ErrFrameTooLarge)
		body, err := fr.ReadFrame()
		require.NoError(t, err)
		assert.Equal(t, "{}", string(body))
	})
}

// readCounter counts the reads of a body that never comes.
type readCounter struct{ reads int }

func (r *readCounter) Read(p []byte) (int, error) { r.reads++; return 0, io.EOF }

func echoString(n int) string { return strings.Repeat("e", n) }

// TestOversizedRequestFailsOnlyItsCall: the peer's limit is below this
// side's, so the request goes out, and the peer reads it through and
// answers with an error naming its limit.
func TestOversizedRequestFailsOnlyItsCall(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const limit = 1024
		srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: calcHandler(newWorkers(t)), MaxFrameSize: limit}, envelope.ConnOptions{})
		ctx := context.Background()
		var out string
		err := cli.Call(ctx, "Echo", echoString(4*limit), &out)
		requireTooLarge(t, err, limit)
		assert.Contains(t, err.Error(), `request "Echo" of`)
		var rpcErr *envelope.Error
		require.ErrorAs(t, err, &rpcErr)
		assert.EqualValues(t, envelope.CodeFrameTooLarge, rpcErr.Code)

		var sum struct{ Sum int }
		require.NoError(t, cli.Call(ctx, "Add", map[string]int{"A": 1, "B": 2}, &sum), "the next call")
		assert.Equal(t, 3, sum.Sum)
		require.NoError(t, cli.Call(ctx, "Echo", echoString(limit/2), &out))
		assert.Equal(t, echoString(limit/2), out)
		assert.NoError(t, srv.Err())
		assert.NoError(t, cli.Err())
	})
}

// TestOversizedResponseFailsOnlyItsCall: this side's limit is below the
// peer's, so the answer comes, and is read through and failed here.
func TestOversizedResponseFailsOnlyItsCall(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		const limit = 1024
		srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: calcHandler(newWorkers(t))}, envelope.ConnOptions{MaxFrameSize: limit})
		ctx := context.Background()
		// Sent as params, under this side's send limit, and echoed back
		// over its read limit.
		var out string
		err := cli.Call(ctx, "Echo", echoString(2*limit), &out)
		requireTooLarge(t, err, limit)
		assert.Contains(t, err.Error(), "response of")
		assert.Empty(t, out)

		require.NoError(t, cli.Call(ctx, "Echo", echoString(limit/2), &out), "the next call")
		assert.Equal(t, echoString(limit/2), out)
		assert.NoError(t, srv.Err())
		assert.NoError(t, cli.Err())
	})
}

// TestSendRefusesOverLimit: a message over the limit both sides share is
// not written at all: the call fails here, a result too large is answered
// with an error, and the peer sees nothing of either.
func TestSendRefusesOverLimit(t *testing.T) {
	const limit = envelope.DefaultMaxFrameSize + 1<<10
	forEachTransport(t, func(t *testing.T, tr transport) {
		var echoes atomic.Int32
		replied := make(chan error, 1)
		wg := newWorkers(t)
		calc := calcHandler(wg)
		handler := func(c *envelope.Conn, m *envelope.Envelope) {
			switch m.Method {
			case "Echo":
				echoes.Add(1)
			case "Big":
				wg.Go(func() { replied <- c.Reply(m.ID, echoString(limit)) })
				return
			}
			calc(c, m)
		}
		srv, cli := startPair(t, tr, envelope.ConnOptions{Handler: handler, MaxFrameSize: limit}, envelope.ConnOptions{MaxFrameSize: limit})
		ctx := context.Background()

		err := cli.Call(ctx, "Echo", echoString(limit), nil)
		requireTooLarge(t, err, limit)
		assert.Contains(t, err.Error(), `request "Echo" of`)
		requireTooLarge(t, cli.Notify("Echo", echoString(limit)), limit)

		err = cli.Call(ctx, "Big", nil, nil)
		requireTooLarge(t, err, limit)
		assert.Contains(t, err.Error(), "result of")
		requireTooLarge(t, recv(t, replied), limit)

		var out string
		require.NoError(t, cli.Call(ctx, "Echo", "small", &out), "the next call")
		assert.Equal(t, "small", out)
		assert.EqualValues(t, 1, echoes.Load(), "the peer saw only the call that fitted")
		assert.NoError(t, srv.Err())
		assert.NoError(t, cli.Err())
	})
}

// TestForeignPeerOversizedFrames plays a foreign peer writing frames over
// the limit by hand, with "id" wherever it likes.
func TestForeignPeerOversizedFrames(t *testing.T) {
	const limit = 256
	pad := strings.Repeat("p", 2*limit)
	tests := []struct {
		name string
		body string
		id   envelope.ID // the error answer's id; the zero ID for none
	}{
		{"request, id last", `{"jsonrpc":"2.0","method":"Echo","params":{"id":1,"x":"` + pad + `"},"id":"last"}`, envelope.StringID("last")},
		{"request, id first", `{"id":41,"jsonrpc":"2.0","method":"Echo","params":["` + pad + `"]}`, envelope.NumberID(41)},
		{"id only in params", `{"jsonrpc":"2.0","method":"Echo","params":{"id":2,"x":"` + pad + `"}}`, envelope.ID{}},
		{"notification", `{"jsonrpc":"2.0","method":"note","params":"` + pad + `"}`, envelope.ID{}},
		{"answer to an id never sent", `{"jsonrpc":"2.0","result":"` + pad + `","id":"zzz"}`, envelope.ID{}},
		{"an array", `[{"jsonrpc":"2.0","method":"Echo","id":3,"params":"` + pad + `"}]`, envelope.ID{}},
		{"not JSON", pad, envelope.ID{}},
	}
	forEachTransport(t, func(t *testing.T, tr transport) {
		a, peer := tr.pair(t)
		conn := startConn(t, a, envelope.ConnOptions{MaxFrameSize: limit})
		fr := envelope.NewFrameReader(peer, 0)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				next := fmt.Sprintf(`{"jsonrpc":"2.0","id":"next-%d","method":"Nope"}`, i)
				frames := envelope.AppendFrame(envelope.AppendFrame(nil, []byte(tt.body)), []byte(next))
				wrote := make(chan error, 1)
				go func() { _, err := peer.Write(frames); wrote <- err }()
				if !tt.id.IsZero() {
					m := readResponse(t, fr)
					assert.Equal(t, tt.id, m.ID)
					require.NotNil(t, m.Error)
					assert.EqualValues(t, envelope.CodeFrameTooLarge, m.Error.Code)
					assert.Contains(t, m.Error.Message, fmt.Sprintf("request \"Echo\" of %d bytes exceeds the limit of %d bytes", len(tt.body), limit))
				}
				// The connection lives on: the next request is answered.
				m := readResponse(t, fr)
				assert.Equal(t, envelope.StringID(fmt.Sprintf("next-%d", i)), m.ID)
				require.NotNil(t, m.Error)
				assert.EqualValues(t, envelope.CodeMethodNotFound, m.Error.Code)
				require.NoError(t, recv(t, wrote))
				assert.NoError(t, conn.Err())
			})
		}
	})
}

// TestForeignPeerOversizedAnswer: a foreign peer answers a call with a
// response over the limit, its "id" last; that call fails, the next one
// succeeds.
func TestForeignPeerOversizedAnswer(t *testing.T) {
	const limit = 256
	forEachTransport(t, func(t *testing.T, tr transport) {
		a, peer := tr.pair(t)
		conn := startConn(t, a, envelope.ConnOptions{MaxFrameSize: limit})
		fr := envelope.NewFrameReader(peer, 0)
		answer := func(result string) {
			body, err := fr.ReadFrame()
			require.NoError(t, err)
			m, err := envelope.Decode(body)
			require.NoError(t, err)
			frame := envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","result":`+result+`,"id":`+m.ID.String()+`}`))
			go func() { _, _ = peer.Write(frame) }()
		}
		done := make(chan error, 1)
		var out string
		go func() { done <- conn.Call(context.Background(), "Echo", "x", &out) }()
		answer(`"` + strings.Repeat("r", 2*limit) + `"`)
		requireTooLarge(t, recv(t, done), limit)

		go func() { done <- conn.Call(context.Background(), "Echo", "y", &out) }()
		answer(`"fine"`)
		require.NoError(t, recv(t, done))
		assert.Equal(t, "fine", out)
		assert.NoError(t, conn.Err())
	})
}

// TestTooLargeErrorMatches: the code travels, and errors.Is matches it
// on the far side too.
func TestTooLargeErrorMatches(t *testing.T) {
	var e error = fmt.Errorf("calling: %w", envelope.Errorf(envelope.CodeFrameTooLarge, "x"))
	assert.ErrorIs(t, e, envelope.ErrFrameTooLarge)
	assert.False(t, errors.Is(envelope.Errorf(envelope.CodeInternalError, "x"), envelope.ErrFrameTooLarge))
	raw, err := json.Marshal(envelope.Errorf(envelope.CodeFrameTooLarge, "x"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"code":-32006,"message":"x"}`, string(raw))
}

// BenchmarkOversized compares reading a 1 MiB body in, under a limit
// above it, with reading it through and discarding it, over a limit below.
func BenchmarkOversized(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","method":"m","params":{"data":"` + strings.Repeat("QUJD", 1<<18) + `"},"id":1}`)
	frame := envelope.AppendFrame(nil, body)
	for _, bc := range []struct {
		name  string
		limit int
	}{{"read", 2 << 20}, {"discard", 64 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			r := bytes.NewReader(frame)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(frame)
				_, err := envelope.NewFrameReader(r, bc.limit).ReadFrame()
				if (err != nil) != (bc.name == "discard") {
					b.Fatal(err)
				}
			}
		})
	}
}
