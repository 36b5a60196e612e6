package socket

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewTraceIDIsARandomUUID(t *testing.T) {
	seen := make(map[string]bool)
	for range 100_000 {
		id := newTraceID()
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		require.Equal(t, u.String(), id, "canonical form")
		require.Equal(t, uuid.Version(4), u.Version())
		require.Equal(t, uuid.RFC4122, u.Variant())
		require.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
	}
	assert.Len(t, seen, 100_000)
}

func BenchmarkNewTraceID(b *testing.B) {
	b.Run("rand-v2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = newTraceID()
		}
	})
	b.Run("uuid.NewString", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = uuid.NewString()
		}
	})
}
