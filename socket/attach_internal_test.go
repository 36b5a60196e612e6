package socket

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// An attached plugin pings and bounds its writes as the socket does, and
// a setting the socket turns off is off on the plugin's side too (where
// zero would mean the default).
func TestAttachedPluginTakesTheSocketsSettings(t *testing.T) {
	c := defaults()
	c.heartbeat, c.misses, c.writeTimeout = time.Millisecond, 7, 3*time.Second
	p := attachedPlugin(&c)
	assert.Equal(t, time.Millisecond, p.HeartbeatInterval)
	assert.Equal(t, 7, p.HeartbeatMisses)
	assert.Equal(t, 3*time.Second, p.WriteTimeout)
	assert.Equal(t, c.maxFrame, p.MaxFrameSize)
	assert.Equal(t, c.handshakeTimeout, p.HandshakeTimeout)

	c.heartbeat, c.writeTimeout = 0, 0
	p = attachedPlugin(&c)
	assert.Negative(t, p.HeartbeatInterval, "off, not the plugin's default")
	assert.Negative(t, p.WriteTimeout, "off, not the plugin's default")
}
