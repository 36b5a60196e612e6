package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/kv/kv"
	"github.com/plugsock/plugsock/plugin"
)

// TestServeMetrics scrapes /metrics after known calls: it wants the admin
// token, and holds the socket's metrics in the Prometheus text format.
func TestServeMetrics(t *testing.T) {
	s := startAdminServe(t, "scrape-token", "--admin-token", "scrape-token")
	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	p := &plugin.Plugin{Logger: quiet}
	connected := make(chan string, 1)
	p.OnConnect = func(n string) { connected <- n }
	started := make(chan error, 1)
	go func() {
		started <- p.Start(new(kv.Store), &envelope.PluginInfo{Name: "kv", Version: "1.0.0"}, conn, nil)
	}()
	select {
	case <-connected:
	case err := <-started:
		t.Fatalf("kv did not connect: %v", err)
	}
	t.Cleanup(func() {
		s.stop()
		<-started
	})

	post := func(method, body string) int {
		req, err := http.NewRequest("POST", s.url+"/api/plugins/kv/call/"+method, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer scrape-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, post("Set", `{"key":"k","value":1}`))
	assert.Equal(t, http.StatusOK, post("Set", `{"key":"j","value":2}`))
	assert.NotEqual(t, http.StatusOK, post("Get", `{"key":"missing"}`))
	// Both changes have reached the host once the second is logged.
	s.logs.waitFor(t, "plugsock: async", map[string]any{"plugin": "kv", "payload": `{"key": "j", "op": "set", "value": 2}`})

	status, body := s.get(t, "/metrics", "", "")
	assert.Equal(t, http.StatusUnauthorized, status, body)
	assert.NotContains(t, body, "plugsock_calls_total")
	status, _ = s.get(t, "/metrics", "Bearer wrong", "")
	assert.Equal(t, http.StatusUnauthorized, status)

	status, body = s.get(t, "/metrics", "Bearer scrape-token", "")
	require.Equal(t, http.StatusOK, status, body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)

	require.Contains(t, mfs, "plugsock_plugins_connected")
	assert.Equal(t, 1.0, mfs["plugsock_plugins_connected"].GetMetric()[0].GetGauge().GetValue())
	calls := map[string]float64{}
	for _, m := range mfs["plugsock_calls_total"].GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		assert.Equal(t, "kv", l["plugin"])
		calls[l["method"]+" "+l["outcome"]] = m.GetCounter().GetValue()
	}
	assert.Equal(t, map[string]float64{"Set ok": 2, "Get method_error": 1}, calls)
	hist := map[string]uint64{}
	for _, m := range mfs["plugsock_call_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		b := h.GetBucket()
		require.NotEmpty(t, b)
		assert.Equal(t, h.GetSampleCount(), b[len(b)-1].GetCumulativeCount(), "within 10s")
		hist[m.GetLabel()[0].GetValue()] = h.GetSampleCount()
	}
	assert.Equal(t, map[string]uint64{"Set": 2, "Get": 1}, hist)
	assert.Equal(t, 2.0, mfs["plugsock_async_items_total"].GetMetric()[0].GetCounter().GetValue(), "a change per Set")
	assert.Contains(t, mfs, "go_goroutines", "with the Go runtime's")

	// GET only.
	req, err := http.NewRequestWithContext(context.Background(), "DELETE", s.url+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer scrape-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
