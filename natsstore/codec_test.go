package natsstore

import (
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/eventlog"
)

func TestEventRoundTrip(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
	e := eventlog.Event{Topic: "t", Time: when, Type: "order", Action: "create", Key: "42",
		Attrs: map[string]string{"region": "eu", "": "empty name", "tier": ""}, Data: json.RawMessage(`{"a": [1, 2]}`)}
	b, err := encodeEvent(&e)
	require.NoError(t, err)
	got, err := decodeEvent(b, "t", 7)
	require.NoError(t, err)
	assert.True(t, when.Equal(got.Time))
	assert.Equal(t, 2*3600, offsetOf(got.Time), "the zone's offset is kept")
	e.Offset, e.Time, got.Time = 7, time.Time{}, time.Time{}
	assert.Equal(t, e, got)
	b[len(b)-1] = 'X'
	assert.Equal(t, `{"a": [1, 2]}`, string(e.Data), "decodeEvent copied the data")
}

func offsetOf(t time.Time) int {
	_, off := t.Zone()
	return off
}

func TestHeadRoundTrip(t *testing.T) {
	data := []byte("state")
	h := head{time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), size: 5, sum: sha256.Sum256(data), data: data}
	b, err := encodeHead(&h)
	require.NoError(t, err)
	got, err := decodeHead(b, "p", 100)
	require.NoError(t, err)
	assert.Equal(t, h.data, got.data)
	assert.True(t, h.time.Equal(got.time))

	_, err = decodeHead(b, "p", 4)
	require.ErrorIs(t, err, eventlog.ErrTooLarge, "a head over this store's limit")
	b[len(b)-1] = 'X'
	_, err = decodeHead(b, "p", 100)
	require.ErrorIs(t, err, ErrCorrupt, "data that is not what the sum says")

	chunked := head{time: h.time, size: 1000, chunks: 4, firstChunk: 9, id: "abc", sum: h.sum}
	b, err = encodeHead(&chunked)
	require.NoError(t, err)
	got, err = decodeHead(b, "p", 1000)
	require.NoError(t, err)
	assert.Equal(t, [3]uint64{1000, 4, 9}, [3]uint64{got.size, got.chunks, got.firstChunk})
	assert.Equal(t, "abc", got.id)
	for _, bad := range []head{
		{time: h.time, size: 3, chunks: 4, firstChunk: 9, id: "abc"},                     // more chunks than bytes
		{time: h.time, size: 1000, chunks: 4, firstChunk: 0, id: "abc"},                  // no first chunk
		{time: h.time, size: 1000, chunks: 4, firstChunk: 9, id: "a.b"},                  // not a token
		{time: h.time, size: 1000, chunks: 4, firstChunk: 9, id: "a", data: []byte("x")}, // chunks and data
	} {
		b, err := encodeHead(&bad)
		require.NoError(t, err)
		_, err = decodeHead(b, "p", 1000)
		assert.ErrorIs(t, err, ErrCorrupt, "%+v", bad)
	}
}

// FuzzDecodeEvent feeds decodeEvent what a stream may hold: it never
// panics, and what it accepts encodes back to what decodes the same.
func FuzzDecodeEvent(f *testing.F) {
	for _, e := range []eventlog.Event{
		{Time: time.Unix(1, 2)},
		{Time: time.Now(), Type: "a", Action: "b", Key: "c", Attrs: map[string]string{"k": "v"}, Data: json.RawMessage(`[1]`)},
	} {
		b, err := encodeEvent(&e)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{formatVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, msg []byte) {
		e, err := decodeEvent(msg, "t", 1)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		again, err := encodeEvent(&e)
		require.NoError(t, err)
		back, err := decodeEvent(again, "t", 1)
		require.NoError(t, err)
		assert.True(t, e.Time.Equal(back.Time))
		e.Time, back.Time = time.Time{}, time.Time{}
		assert.Equal(t, e, back)
	})
}

// FuzzDecodeHead: decodeHead never panics, and never lets through a head
// over the limit or one whose inline data is not what its sum says.
func FuzzDecodeHead(f *testing.F) {
	data := []byte("state")
	for _, h := range []head{
		{time: time.Unix(1, 2), size: 5, sum: sha256.Sum256(data), data: data},
		{time: time.Unix(1, 2), size: 1 << 20, chunks: 4, firstChunk: 2, id: "x"},
	} {
		b, err := encodeHead(&h)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := decodeHead(msg, "p", 1<<20)
		if err != nil {
			return
		}
		require.LessOrEqual(t, h.size, uint64(1<<20))
		if h.chunks == 0 {
			require.Equal(t, h.sum, sha256.Sum256(h.data))
		} else {
			require.LessOrEqual(t, h.chunks, h.size)
			require.True(t, validToken(h.id))
		}
	})
}

// FuzzEscapeName: escapeName is one to one and gives a key and a subject
// token, and unescapeName accepts only what escapeName writes.
func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"a.b", "a=2Eb", "é", "", "=3D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := escapeName(s)
		for i := 0; i < len(esc); i++ {
			require.True(t, plainByte(esc[i]) || esc[i] == '=', "%q escapes to %q", s, esc)
		}
		back, ok := unescapeName(esc)
		require.True(t, ok)
		require.Equal(t, s, back)
		if name, ok := unescapeName(s); ok {
			require.Equal(t, s, escapeName(name), "two spellings of %q", name)
		}
	})
}

func TestServerAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"2.11.0": true, "2.12.15": true, "2.15.0-RC.1": true, "3.0.0": true, "2.10.29": false, "1.99.0": false,
		"": false, "2": false, "x.y.z": false,
	} {
		assert.Equal(t, want, serverAtLeast(v, 2, 11), "%q", v)
	}
}
