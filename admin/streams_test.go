package admin_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/plugin"
)

// Ticks is a source of numbers that stops when the host is done with it.
type Ticks struct{}

func (Ticks) Count(ctx context.Context, out *plugin.Source[int]) error {
	for i := 1; ; i++ {
		if _, err := out.Send(ctx, i); err != nil {
			return err
		}
	}
}

func TestStreamsAreListed(t *testing.T) {
	e := newEnv(t)
	e.attach(Ticks{}, "ticks", "1.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	got, err := e.c.Streams(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.JSONEq(t, `{"streams":[]}`, string(e.do("GET", "/api/streams", "").body))

	st, err := e.s.OpenStream(ctx, "ticks", "Count", nil)
	require.NoError(t, err)
	for range 3 {
		it, err := st.Recv(ctx)
		require.NoError(t, err)
		require.NoError(t, st.Ack(it.Seq))
	}
	require.Eventually(t, func() bool {
		got, err = e.c.Streams(ctx)
		return err == nil && len(got) == 1 && got[0].Received >= 3
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, "ticks", got[0].Plugin)
	assert.Equal(t, "Count", got[0].Method)
	assert.GreaterOrEqual(t, got[0].Settled, uint64(3))
	assert.False(t, got[0].Opened.IsZero())

	st.Cancel("done")
	<-st.Done()
	_, err = st.Recv(ctx)
	assert.NotErrorIs(t, err, io.EOF)
	require.Eventually(t, func() bool {
		got, err = e.c.Streams(ctx)
		return err == nil && len(got) == 0
	}, 5*time.Second, 10*time.Millisecond)
}
