package envelope_test

import (
	"context"
	"testing"

	"github.com/plugsock/plugsock/envelope"
)

type benchPayload struct {
	A int
	S string
}

// benchCall measures one call's round trip: encode, frame, write, read,
// decode and route on both sides. The server answers on its read loop, so
// the numbers are the wire layer's own cost without a goroutine per call.
func benchCall(b *testing.B, tr transport) {
	handler := func(c *envelope.Conn, m *envelope.Envelope) {
		var in benchPayload
		if err := envelope.DecodeParams(m, &in); err != nil {
			_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "%v", err))
			return
		}
		_ = c.Reply(m.ID, in)
	}
	_, cli := startPair(b, tr, envelope.ConnOptions{Handler: handler}, envelope.ConnOptions{})
	ctx := context.Background()
	in := benchPayload{A: 42, S: "hello, plugin"}
	b.ReportAllocs()
	for b.Loop() {
		var out benchPayload
		if err := cli.Call(ctx, "Echo", in, &out); err != nil {
			b.Fatal(err)
		}
		if out != in {
			b.Fatalf("got %+v", out)
		}
	}
}

func BenchmarkConnCallPipe(b *testing.B) { benchCall(b, transports[0]) }

func BenchmarkConnCallTCP(b *testing.B) { benchCall(b, transports[1]) }

var benchBody = []byte(`{"jsonrpc":"2.0","id":12345,"method":"Echo","params":{"A":42,"S":"hello, plugin"},"meta":{"trace":"0b8f7f3e-4a8e-4f0e-9d55-3c1f6a4c2b11"}}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := envelope.Decode(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// loopReader replays the same bytes forever, so ReadFrame is measured
// without I/O.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

func BenchmarkReadFrame(b *testing.B) {
	fr := envelope.NewFrameReader(&loopReader{b: envelope.AppendFrame(nil, benchBody)}, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := fr.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
