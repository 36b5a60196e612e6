package envelope

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// discard is a connection that takes every write and reads nothing
// until it is closed.
type discard struct {
	once   sync.Once
	closed chan struct{}
}

func (d *discard) Read([]byte) (int, error)  { <-d.closed; return 0, io.EOF }
func (*discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) Close() error              { d.once.Do(func() { close(d.closed) }); return nil }

// acceptedStream is a callee's stream with window 4, as AcceptStream
// makes it for a request that granted the callee credit.
func acceptedStream(t testing.TB) (*Conn, *Stream) {
	c := NewConn(&discard{closed: make(chan struct{})}, ConnOptions{Logger: slog.New(slog.DiscardHandler)})
	c.SetProtocol(Protocol2)
	c.Start()
	t.Cleanup(func() { c.Close(); c.Wait() })
	m := &Envelope{JSONRPC: "2.0", ID: NumberID(7), Method: "S", proto: Protocol2}
	m.meta2.Stream, m.meta2.Window = true, 4
	s, err := c.AcceptStream(m, 4, nil)
	require.NoError(t, err)
	s.flush() // the grant of the window
	return c, s
}

// Every stream message a peer may send, however malformed, is either
// taken or fails that stream: the read loop never panics, the queue
// never holds more than the window, and the sender's record never more
// than what it sent.
func FuzzStreamMessage(f *testing.F) {
	for _, seed := range []struct {
		method byte
		params string
	}{
		{0, `{"stream":7,"seq":1,"item":{"a":1}}`},
		{0, `{"stream":7,"seq":1,"item":1,"position":"p"}`},
		{0, `{"stream":7,"seq":2,"item":1}`},
		{0, `{"stream":7,"seq":18446744073709551615,"item":1}`},
		{1, `{"stream":7,"credit":1099511627776}`},
		{1, `{"stream":7,"credit":-1}`},
		{2, `{"stream":7,"through":1}`},
		{2, `{"stream":7,"seq":1,"reject":"no"}`},
		{2, `{"stream":7,"through":1,"seq":1}`},
		{3, `{"stream":7}`},
		{4, `{"stream":7,"reason":"x","error":{"code":-32600,"message":"m"}}`},
		{4, `{"stream":7,"error":[1]}`},
		{0, `{"stream":"7","seq":1,"item":1}`},
		{0, `[1,2]`},
		{0, `{"stream":7,"seq":1,"item":`},
	} {
		f.Add(seed.method, []byte(seed.params))
	}
	methods := []string{MethodStreamItem, MethodStreamCredit, MethodStreamAck, MethodStreamClose, MethodStreamCancel}
	f.Fuzz(func(t *testing.T, method byte, params []byte) {
		c, s := acceptedStream(t)
		defer c.Close()
		// Something sent, so that acknowledgements have items to name.
		for range 2 {
			_, err := s.Send(context.Background(), 1)
			require.NoError(t, err)
		}
		m := &Envelope{JSONRPC: "2.0", Method: methods[int(method)%len(methods)], Params: params}
		c.streamMessage(m)
		s.mu.Lock()
		defer s.mu.Unlock()
		assert.LessOrEqual(t, len(s.queue)-s.qhead, 4, "the queue holds at most the window")
		assert.LessOrEqual(t, uint64(len(s.track)-s.thead), s.sent)
		assert.LessOrEqual(t, s.credit, int64(maxCredit))
		assert.LessOrEqual(t, s.acked+s.rejected, s.sent)
	})
}

// An item past the window fails the stream, and says why.
func TestStreamItemWithoutCreditFailsTheStream(t *testing.T) {
	c, s := acceptedStream(t)
	defer c.Close()
	for i := 1; i <= 4; i++ {
		c.streamMessage(&Envelope{Method: MethodStreamItem, Params: []byte(`{"stream":7,"seq":` + string(rune('0'+i)) + `,"item":1}`)})
	}
	require.NoError(t, s.Err())
	c.streamMessage(&Envelope{Method: MethodStreamItem, Params: []byte(`{"stream":7,"seq":5,"item":1}`)})
	var e *Error
	require.ErrorAs(t, s.Err(), &e)
	assert.Equal(t, int64(CodeInvalidRequest), e.Code)
	assert.Contains(t, e.Message, "item 5 sent without credit: 4 granted")
}
