package proc_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/internal/proc"
)

// noOTEL removes the OTEL_ variables the test process may have inherited,
// for the length of the test, so that it sees only those it sets.
func noOTEL(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "OTEL_") {
			t.Setenv(name, "") // restored when the test ends
			require.NoError(t, os.Unsetenv(name))
		}
	}
}

// What the host inherited under PLUGSOCK_ does not reach its plugins;
// everything else does, in order, followed by what the host sets.
func TestEnvScrubsTheProtocolsVariables(t *testing.T) {
	noOTEL(t)
	env := []string{"HOME=/h", "PLUGSOCK_ADDR=inherited:1", "PLUGSOCKET=kept", "PATH=/bin", "PLUGSOCK_TOKEN=secret", "plugsock_addr=kept"}
	got := proc.Env(env, "PLUGSOCK_ADDR=127.0.0.1:9", "PLUGSOCK_LAUNCH=id")
	assert.Equal(t, []string{"HOME=/h", "PLUGSOCKET=kept", "PATH=/bin", "plugsock_addr=kept", "PLUGSOCK_ADDR=127.0.0.1:9", "PLUGSOCK_LAUNCH=id"}, got)
	assert.Equal(t, "PLUGSOCK_ADDR=inherited:1", env[1], "the caller's slice is left alone")

	got[0] = "changed"
	assert.Equal(t, "HOME=/h", env[0], "the result shares no memory with env")
}

// A nil environment means the host's own, scrubbed the same way.
func TestEnvDefaultsToTheHostsEnvironment(t *testing.T) {
	noOTEL(t)
	t.Setenv("PLUGSOCK_TOKEN", "the host's own")
	t.Setenv("PROC_ENV_TEST", "inherited")
	got := proc.Env(nil, "PLUGSOCK_ADDR=unix:/s")
	assert.Contains(t, got, "PROC_ENV_TEST=inherited")
	assert.NotContains(t, got, "PLUGSOCK_TOKEN=the host's own")
	assert.Equal(t, "PLUGSOCK_ADDR=unix:/s", got[len(got)-1])

	assert.Equal(t, []string{}, proc.Env([]string{}), "an empty environment stays empty, not the host's")
}

// The host's OTEL_ variables reach a plugin whose command has an
// environment of its own, unless that environment sets them; the host's
// OTEL_SERVICE_NAME reaches none, since it names the host.
func TestEnvPassesTheHostsOpenTelemetryVariables(t *testing.T) {
	noOTEL(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
	t.Setenv("OTEL_PROPAGATORS", "tracecontext,baggage")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
	t.Setenv("OTEL_SERVICE_NAME", "the-host")
	t.Setenv("OTELX_NOT_OURS", "x")

	t.Run("a command with its own environment", func(t *testing.T) {
		env := []string{"PATH=/bin", "OTEL_PROPAGATORS=tracecontext", "OTEL_RESOURCE_ATTRIBUTES=", "PLUGSOCK_TOKEN=inherited"}
		got := proc.Env(env, "PLUGSOCK_ADDR=unix:/s")
		assert.Equal(t, []string{
			"PATH=/bin", "OTEL_PROPAGATORS=tracecontext", "OTEL_RESOURCE_ATTRIBUTES=", // the command's own win, even empty
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318", // the host's, added
			"PLUGSOCK_ADDR=unix:/s",
		}, got)
		assert.Len(t, env, 4, "the caller's slice is left alone")
	})

	t.Run("a command that names its service", func(t *testing.T) {
		got := proc.Env([]string{"OTEL_SERVICE_NAME=calc"})
		assert.Contains(t, got, "OTEL_SERVICE_NAME=calc")
		assert.NotContains(t, got, "OTEL_SERVICE_NAME=the-host")
		assert.Contains(t, got, "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318")
	})

	t.Run("an empty environment", func(t *testing.T) {
		got := proc.Env([]string{})
		assert.ElementsMatch(t, []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
			"OTEL_PROPAGATORS=tracecontext,baggage",
			"OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod",
		}, got)
	})

	t.Run("the host's environment", func(t *testing.T) {
		got := proc.Env(nil)
		assert.Contains(t, got, "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318")
		assert.Contains(t, got, "OTEL_PROPAGATORS=tracecontext,baggage")
		assert.Contains(t, got, "OTELX_NOT_OURS=x")
		assert.NotContains(t, got, "OTEL_SERVICE_NAME=the-host")
		n := 0
		for _, kv := range got {
			if strings.HasPrefix(kv, "OTEL_EXPORTER_OTLP_ENDPOINT=") {
				n++
			}
		}
		assert.Equal(t, 1, n, "each variable once")
	})
}
