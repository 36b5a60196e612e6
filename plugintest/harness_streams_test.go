package plugintest_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/plugintest"
)

// Doubler is a processor for the harness's stream test.
type Doubler struct{}

func (Doubler) Double(ctx context.Context, s *plugin.Stream[int, int]) error {
	for {
		it, err := s.Recv(ctx)
		if err == io.EOF {
			return s.Drain(ctx)
		}
		if err != nil {
			return err
		}
		if _, err := s.Send(ctx, 2*it.Value); err != nil {
			return err
		}
		_ = s.Ack(it.Seq)
	}
}

func TestHarnessOpensStreams(t *testing.T) {
	for _, cfg := range []plugintest.Config{{}, {TCP: true}} {
		h := plugintest.New(t, Doubler{}, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := h.OpenStream(ctx, "Double", nil)
		require.NoError(t, err)
		for i := 1; i <= 3; i++ {
			_, err := st.Send(ctx, i)
			require.NoError(t, err)
		}
		require.NoError(t, st.CloseSend())
		var got []int
		for {
			it, err := st.Recv(ctx)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			var v int
			require.NoError(t, it.Decode(&v))
			got = append(got, v)
			require.NoError(t, st.Ack(it.Seq))
		}
		assert.Equal(t, []int{2, 4, 6}, got)
		require.NoError(t, st.Err())
		assert.Empty(t, st.Unacked())
	}
}
