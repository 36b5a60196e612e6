package eventlog_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/eventlog/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemory(t *testing.T) {
	storetest.Run(t, func(*testing.T) eventlog.Store { return eventlog.NewMemory() })
}

func TestFilterMatch(t *testing.T) {
	e := &eventlog.Event{Topic: "orders.created", Type: "order", Action: "create", Key: "42",
		Attrs: map[string]string{"region": "eu", "empty": ""}}
	for _, c := range []struct {
		name string
		f    eventlog.Filter
		want bool
	}{
		{"zero filter", eventlog.Filter{}, true},
		{"exact topic", eventlog.Filter{Topic: "orders.created"}, true},
		{"other topic", eventlog.Filter{Topic: "orders"}, false},
		{"topic longer", eventlog.Filter{Topic: "orders.created.x"}, false},
		{"prefix", eventlog.Filter{Topic: "orders.*"}, true},
		{"prefix without dot", eventlog.Filter{Topic: "ord*"}, true},
		{"star alone", eventlog.Filter{Topic: "*"}, true},
		{"other prefix", eventlog.Filter{Topic: "users.*"}, false},
		{"prefix of the exact name with star", eventlog.Filter{Topic: "orders.created*"}, true},
		{"type", eventlog.Filter{Type: "order"}, true},
		{"other type", eventlog.Filter{Type: "user"}, false},
		{"action", eventlog.Filter{Action: "create"}, true},
		{"other action", eventlog.Filter{Action: "delete"}, false},
		{"key", eventlog.Filter{Key: "42"}, true},
		{"other key", eventlog.Filter{Key: "4"}, false},
		{"attrs", eventlog.Filter{Attrs: map[string]string{"region": "eu"}}, true},
		{"attr of empty value present", eventlog.Filter{Attrs: map[string]string{"empty": ""}}, true},
		{"attr of empty value absent", eventlog.Filter{Attrs: map[string]string{"missing": ""}}, false},
		{"other attr value", eventlog.Filter{Attrs: map[string]string{"region": "us"}}, false},
		{"all attrs must match", eventlog.Filter{Attrs: map[string]string{"region": "eu", "tier": "gold"}}, false},
		{"everything", eventlog.Filter{Topic: "orders.*", Type: "order", Action: "create", Key: "42", Attrs: map[string]string{"region": "eu"}}, true},
		{"everything but the key", eventlog.Filter{Topic: "orders.*", Type: "order", Action: "create", Key: "43"}, false},
	} {
		assert.Equal(t, c.want, c.f.Match(e), c.name)
	}
	assert.False(t, eventlog.Filter{}.Match(nil), "a nil event")
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "orders.created", "a-b_c/d:e", "été", strings.Repeat("x", eventlog.MaxNameLen), "with*star"} {
		assert.NoError(t, eventlog.CheckName(ok), "%q", ok)
	}
	for _, bad := range []string{"", strings.Repeat("x", eventlog.MaxNameLen+1), "a b", "a\tb", "\x00", "\x7f", "\xc3", "a\u2028b", "\u00a0"} {
		assert.ErrorIs(t, eventlog.CheckName(bad), eventlog.ErrInvalid, "%q", bad)
	}
	assert.ErrorIs(t, eventlog.CheckTopic("orders.*"), eventlog.ErrInvalid)
	assert.ErrorIs(t, eventlog.CheckTopic(""), eventlog.ErrInvalid)
	assert.NoError(t, eventlog.CheckTopic("orders.created"))
	assert.ErrorContains(t, eventlog.CheckTopic("a b"), `"a b"`, "the error names the name")
}

func TestEventSizeAndCheck(t *testing.T) {
	e := eventlog.Event{Topic: "tt", Type: "ty", Action: "a", Key: "k", Offset: 7,
		Attrs: map[string]string{"ab": "cde"}, Data: json.RawMessage(`[1]`)}
	assert.Equal(t, 2+2+1+1+5+3, e.Size())
	require.NoError(t, e.Check(0))
	require.NoError(t, e.Check(e.Size()))
	err := e.Check(e.Size() - 1)
	require.ErrorIs(t, err, eventlog.ErrTooLarge)
	assert.ErrorContains(t, err, "14 bytes")

	e.Data = json.RawMessage(`[1`)
	assert.ErrorIs(t, e.Check(0), eventlog.ErrInvalid, "data that is not JSON")
	e.Data = json.RawMessage(`1 2`)
	assert.ErrorIs(t, e.Check(0), eventlog.ErrInvalid, "two JSON values")
	e.Data = nil
	require.NoError(t, e.Check(0), "no data")
	e.Topic = "x*"
	assert.ErrorIs(t, e.Check(0), eventlog.ErrInvalid, "a topic with a star")
}

// TestMemoryTrimFrees checks that trimming a long topic gives the array
// back: what is kept moves to a smaller one.
func TestMemoryTrimFrees(t *testing.T) {
	s := eventlog.NewMemory()
	defer s.Close()
	for range 1000 {
		require.NoError(t, s.Append(t.Context(), &eventlog.Event{Topic: "t", Data: json.RawMessage(`"` + strings.Repeat("x", 1000) + `"`)}))
	}
	require.NoError(t, s.Trim(t.Context(), "t", 1000))
	assert.Equal(t, 1, eventlog.MemoryCap(s, "t"), "the array holds the one event kept")
	events, err := s.Read(t.Context(), "t", 0, 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, uint64(1000), events[0].Offset)
}
