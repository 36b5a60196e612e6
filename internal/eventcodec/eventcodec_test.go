package eventcodec

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/eventlog"
)

func TestEventHeadRoundTrip(t *testing.T) {
	in := eventlog.Event{Time: time.Date(2026, 12, 2, 6, 0, 0, 5, time.UTC), Type: "order", Action: "created",
		Key: "k1", Attrs: map[string]string{"region": "eu", "": "empty name"}}
	b, err := AppendEventHead(nil, &in)
	require.NoError(t, err)
	b = AppendString(b, "tail")
	d := Decoder{B: b}
	var out eventlog.Event
	d.EventHead(&out)
	assert.Equal(t, "tail", string(d.Bytes()))
	require.False(t, d.Bad)
	assert.Empty(t, d.B)
	assert.True(t, in.Time.Equal(out.Time))
	out.Time = in.Time
	assert.Equal(t, in, out)
}

// A value someone else wrote decodes or is marked Bad; it never panics,
// and a count or a length larger than what is left allocates nothing.
func FuzzDecoder(f *testing.F) {
	good, _ := AppendEventHead(nil, &eventlog.Event{Type: "t", Attrs: map[string]string{"a": "b"}})
	f.Add(good)
	f.Add([]byte{Version, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{Version, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Decoder{B: b}
		var e eventlog.Event
		d.EventHead(&e)
		if !d.Bad {
			assert.LessOrEqual(t, 2*len(e.Attrs), len(b))
		}
		_ = d.Fixed(32)
		_ = d.Time()
	})
}
