package proc_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/internal/proc"
)

// What the host inherited under PLUGSOCK_ does not reach its plugins;
// everything else does, in order, followed by what the host sets.
func TestEnvScrubsTheProtocolsVariables(t *testing.T) {
	env := []string{"HOME=/h", "PLUGSOCK_ADDR=inherited:1", "PLUGSOCKET=kept", "PATH=/bin", "PLUGSOCK_TOKEN=secret", "plugsock_addr=kept"}
	got := proc.Env(env, "PLUGSOCK_ADDR=127.0.0.1:9", "PLUGSOCK_LAUNCH=id")
	assert.Equal(t, []string{"HOME=/h", "PLUGSOCKET=kept", "PATH=/bin", "plugsock_addr=kept", "PLUGSOCK_ADDR=127.0.0.1:9", "PLUGSOCK_LAUNCH=id"}, got)
	assert.Equal(t, "PLUGSOCK_ADDR=inherited:1", env[1], "the caller's slice is left alone")

	got[0] = "changed"
	assert.Equal(t, "HOME=/h", env[0], "the result shares no memory with env")
}

// A nil environment means the host's own, scrubbed the same way.
func TestEnvDefaultsToTheHostsEnvironment(t *testing.T) {
	t.Setenv("PLUGSOCK_TOKEN", "the host's own")
	t.Setenv("PROC_ENV_TEST", "inherited")
	got := proc.Env(nil, "PLUGSOCK_ADDR=unix:/s")
	assert.Contains(t, got, "PROC_ENV_TEST=inherited")
	assert.NotContains(t, got, "PLUGSOCK_TOKEN=the host's own")
	assert.Equal(t, "PLUGSOCK_ADDR=unix:/s", got[len(got)-1])

	assert.Equal(t, []string{}, proc.Env([]string{}), "an empty environment stays empty, not the host's")
}
