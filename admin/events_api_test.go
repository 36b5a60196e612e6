package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Tally subscribes to "orders" and acknowledges what it is delivered,
// keeping a count it snapshots.
type Tally struct {
	mu sync.Mutex
	n  int
}

func (t *Tally) Subscriptions() []plugin.Subscription {
	return []plugin.Subscription{{Name: "tally", Function: "Deliver", Filter: eventlog.Filter{Topic: "orders"}}}
}

func (t *Tally) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	for {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		t.mu.Lock()
		t.n++
		t.mu.Unlock()
		_ = in.Ack(it.Seq)
	}
}

func (t *Tally) Count(context.Context, struct{}) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n, nil
}

func (t *Tally) Snapshot(context.Context) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return json.Marshal(t.n)
}

func (t *Tally) Restore(_ context.Context, data []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return json.Unmarshal(data, &t.n)
}

func TestEventsAPI(t *testing.T) {
	st := eventlog.NewMemory()
	defer st.Close()
	e := newEnvOf(t, socket.Config{Store: st}, []admin.Option{admin.Config{Logger: quiet, Token: testToken}})
	ctx := context.Background()

	// Publish, behind the token.
	r := e.do(http.MethodPost, "/api/topics/orders/events", `{"type":"order","key":"42","data":{"total":10}}`, "Authorization", "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = e.do(http.MethodPost, "/api/topics/orders/events", `{"type":"order","key":"42","data":{"total":10}}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `{"topic":"orders","offset":1}`, string(r.body))
	off, err := e.c.Publish(ctx, "orders", json.RawMessage(`{"type":"order","key":"43"}`))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), off)
	evs, err := st.Read(ctx, "orders", 1, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, "42", evs[0].Key)
	assert.JSONEq(t, `{"total":10}`, string(evs[0].Data))

	for _, tc := range []struct{ path, body, want string }{
		{"/api/topics/orders/events", `{"topic":"other"}`, "names topic"},
		{"/api/topics/orders/events", `[1]`, "not an event"},
		{"/api/topics/orders/events", `{"data":` + `"` + strings.Repeat("x", 2<<20) + `"}`, "too large"},
		{"/api/topics/a*b/events", `{}`, "for filters"},
	} {
		r := e.do(http.MethodPost, tc.path, tc.body)
		if strings.Contains(tc.want, "too large") {
			assert.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s", tc.body[:20])
		} else {
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", tc.body)
		}
		_, msg := r.apiError(t)
		assert.Contains(t, msg, tc.want)
	}

	// A plugin with a subscription and state.
	e.dial(&Tally{}, "tally", "1.0.0")
	require.Eventually(t, func() bool {
		var n int
		return e.s.CallContext(ctx, "tally", "Count", nil, &n) == nil && n == 2
	}, 5*time.Second, time.Millisecond)

	topics, err := e.c.Topics(ctx)
	require.NoError(t, err)
	assert.Equal(t, []socket.TopicInfo{{Topic: "orders", First: 1, Last: 2}}, topics)
	r = e.do(http.MethodGet, "/api/topics", "")
	assert.JSONEq(t, `{"topics":[{"topic":"orders","first":1,"last":2}]}`, string(r.body))

	subs, err := e.c.Subscriptions(ctx)
	require.NoError(t, err)
	require.Len(t, subs, 1)
	assert.Equal(t, "tally", subs[0].Name)
	assert.Equal(t, []string{"tally"}, subs[0].Instances)
	assert.True(t, subs[0].Held, "its plugin has state")
	assert.Equal(t, []socket.SubscriptionTopic{{Topic: "orders", Committed: 0, Acked: 2, Last: 2}}, subs[0].Topics)

	_, err = e.c.State(ctx, "tally")
	var apiErr *admin.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.Status)
	require.NoError(t, e.c.Unplug(ctx, "tally"))
	state, err := e.c.State(ctx, "tally")
	require.NoError(t, err)
	assert.Equal(t, "tally", state.Plugin)
	assert.Equal(t, 1, state.Size, "the count, 2, as JSON")
	assert.Less(t, state.Age, 5.0)
	r = e.do(http.MethodGet, "/api/state/tally", "")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.json(t), "age")

	// The subscription learns of the disconnect as Unplug reports it,
	// not before Unplug returns.
	require.Eventually(t, func() bool {
		subs, err = e.c.Subscriptions(ctx)
		return err == nil && len(subs) == 1 && len(subs[0].Instances) == 0
	}, 5*time.Second, time.Millisecond, "the unplugged instance leaves the subscription")
	assert.Equal(t, uint64(2), subs[0].Topics[0].Committed, "committed with the snapshot at Unplug")
	assert.Zero(t, subs[0].Topics[0].Lag)
}
