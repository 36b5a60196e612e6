package admin

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// stallWriter is a ResponseWriter whose first event write blocks until
// released, standing in for a client that stopped reading.
type stallWriter struct {
	header   http.Header
	mu       sync.Mutex
	buf      bytes.Buffer
	stalled  chan struct{} // closed when the first event write begins
	release  chan struct{}
	stalling sync.Once
}

func (w *stallWriter) Header() http.Header { return w.header }
func (w *stallWriter) WriteHeader(int)     {}
func (w *stallWriter) Flush()              {}

func (w *stallWriter) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("event:")) {
		w.stalling.Do(func() {
			close(w.stalled)
			<-w.release
		})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *stallWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestSlowSubscriberLosesEventsAndIsTold(t *testing.T) {
	a := New(new(socket.Socket), Config{Logger: slog.New(slog.DiscardHandler)})
	defer a.Close()
	w := &stallWriter{header: http.Header{}, stalled: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "GET", "http://localhost/api/events", nil)
	served := make(chan struct{})
	go func() {
		defer close(served)
		a.ServeHTTP(w, req)
	}()
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.subs) == 1
	}, 5*time.Second, time.Millisecond)

	a.Publish(&envelope.AsyncData{Name: "p", Payload: 0})
	<-w.stalled // the stream holds event 0 and writes no more
	const extra = 10
	for i := 1; i <= subscriberBuffer+extra; i++ {
		a.Publish(&envelope.AsyncData{Name: "p", Payload: i})
	}
	assert.Equal(t, uint64(extra), a.dropped.Load())
	close(w.release)

	// The buffered events follow, then the notice, then the next one.
	require.Eventually(t, func() bool { return strings.Count(w.String(), "event: async\n") == subscriberBuffer+1 },
		5*time.Second, time.Millisecond)
	a.Publish(&envelope.AsyncData{Name: "p", Payload: "last"})
	require.Eventually(t, func() bool { return strings.Contains(w.String(), `"payload":"last"`) },
		5*time.Second, time.Millisecond)
	cancel()
	<-served
	out := w.String()
	assert.Equal(t, subscriberBuffer+2, strings.Count(out, "event: async\n"), "events 0..256 and last")
	notice := strings.Index(out, ": dropped 10 events: this stream fell behind\n\n")
	require.GreaterOrEqual(t, notice, 0, out)
	assert.Less(t, notice, strings.Index(out, `"payload":"last"`))
	assert.Greater(t, notice, strings.Index(out, `"payload":256}`))
}
