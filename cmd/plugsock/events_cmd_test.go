package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// tally counts the events of "orders" and keeps the count as its state.
type tally struct {
	mu sync.Mutex
	n  int
}

func (t *tally) Subscriptions() []plugin.Subscription {
	return []plugin.Subscription{{Name: "tally", Function: "Deliver", Filter: eventlog.Filter{Topic: "orders"}}}
}

func (t *tally) Deliver(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
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

func (t *tally) Count(context.Context, struct{}) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n, nil
}

func (t *tally) Snapshot(context.Context) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return json.Marshal(t.n)
}

func (t *tally) Restore(_ context.Context, data []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return json.Unmarshal(data, &t.n)
}

func TestEventCommandsAgainstARealHost(t *testing.T) {
	var s socket.Socket
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	quiet := slog.New(slog.DiscardHandler)
	s.Serve(l, socket.Config{Logger: quiet, Store: eventlog.NewMemory()})
	a := admin.New(&s, admin.Config{Logger: quiet, Token: "tok"})
	ts := httptest.NewServer(a)
	defer func() {
		a.Close()
		require.NoError(t, s.Shutdown(""))
		ts.Close()
	}()
	cmd := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(args, "--admin", ts.URL, "--admin-token", "tok"), &out, &errb)
		return out.String(), errb.String(), code
	}

	out, _, code := cmd("topics")
	require.Equal(t, exitOK, code)
	assert.Equal(t, "No topics.\n", out)
	out, errs, code := cmd("publish", "orders", `{"type":"order","key":"1","data":{"total":3}}`)
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, "Published to orders at offset 1.\n", out)
	out, _, code = cmd("publish", "orders", `{"key":"2"}`, "--json")
	require.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"topic":"orders","offset":2}`, out)
	_, errs, code = cmd("publish", "orders", `{"data":`)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, "JSON")
	_, errs, code = cmd("publish", "a*", `{}`)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errs, "filters")

	out, _, code = cmd("topics")
	require.Equal(t, exitOK, code)
	assert.Equal(t, "TOPIC   FIRST  LAST\norders  1      2\n", out)

	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- (&plugin.Plugin{Logger: quiet}).Start(&tally{}, &envelope.PluginInfo{Name: "tally"}, conn, nil)
	}()
	require.True(t, s.WaitFor("tally", 5*time.Second))
	require.Eventually(t, func() bool {
		var n int
		return s.CallContext(context.Background(), "tally", "Count", nil, &n) == nil && n == 2
	}, 5*time.Second, time.Millisecond)
	out, _, code = cmd("subscriptions")
	require.Equal(t, exitOK, code)
	assert.Equal(t, "NAME          TOPIC   COMMITTED  ACKED  LAST  LAG  INSTANCES\ntally (held)  orders  0          2      2     0    tally\n", out)

	_, errs, code = cmd("state", "tally")
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errs, `no snapshot of plugin "tally"`)
	s.Unplug("", "tally")
	require.NoError(t, <-done)
	out, errs, code = cmd("state", "tally")
	require.Equal(t, exitOK, code, errs)
	assert.Regexp(t, `^tally: 1 bytes, taken \S+ \(\d+(\.\d+)?m?s ago\)\n$`, out)
	out, _, code = cmd("state", "tally", "--json")
	require.Equal(t, exitOK, code)
	var st admin.State
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, 1, st.Size)
	// The subscription learns of the disconnect as Unplug reports it, a
	// moment after Unplug returns.
	want := "NAME   TOPIC   COMMITTED  ACKED  LAST  LAG  INSTANCES\ntally  orders  2          2      2     0    -\n"
	require.Eventually(t, func() bool {
		out, _, code = cmd("subscriptions")
		return code == exitOK && out == want
	}, 10*time.Second, 5*time.Millisecond, "the unplugged instance leaves: %s", out)
}
