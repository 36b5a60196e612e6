package envelope_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

func TestHealthStatusValid(t *testing.T) {
	for _, st := range []envelope.HealthStatus{envelope.Healthy, envelope.Degraded, envelope.Unhealthy} {
		assert.True(t, st.Valid(), st)
	}
	for _, st := range []envelope.HealthStatus{"", "unknown", "Healthy", "ok", "healthy "} {
		assert.False(t, st.Valid(), st)
	}
}

// The wire form of an answer to $/health: the message is left out when
// empty.
func TestHealthResultJSON(t *testing.T) {
	b, err := json.Marshal(envelope.HealthResult{Status: envelope.Healthy})
	require.NoError(t, err)
	assert.Equal(t, `{"status":"healthy"}`, string(b))
	b, err = json.Marshal(envelope.HealthResult{Status: envelope.Degraded, Message: "cache cold"})
	require.NoError(t, err)
	assert.Equal(t, `{"status":"degraded","message":"cache cold"}`, string(b))
}

func TestClipHealthMessage(t *testing.T) {
	const n = envelope.MaxHealthMessage
	short := strings.Repeat("a", n)
	assert.Equal(t, short, envelope.ClipHealthMessage(short), "a message of the limit is kept whole")
	assert.Equal(t, "", envelope.ClipHealthMessage(""))

	ascii := envelope.ClipHealthMessage(strings.Repeat("a", n+1))
	assert.Equal(t, strings.Repeat("a", n-len("…"))+"…", ascii)

	for _, r := range []string{"ü", "日", "🙂"} {
		got := envelope.ClipHealthMessage(strings.Repeat(r, n))
		assert.LessOrEqual(t, len(got), n, r)
		assert.True(t, utf8.ValidString(got), "%s: cut inside a character", r)
		assert.True(t, strings.HasSuffix(got, "…"), r)
		assert.Greater(t, len(got), n-len("…")-len(r), "%s: cut no more than needed", r)
	}
}
