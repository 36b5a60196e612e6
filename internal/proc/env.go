package proc

import (
	"os"
	"strings"
)

// envPrefix starts the name of every variable the protocol defines
// (envelope.EnvAddr, envelope.EnvToken and the others).
const envPrefix = "PLUGSOCK_"

// otelPrefix starts the name of every variable OpenTelemetry's SDKs read
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_PROPAGATORS, OTEL_TRACES_SAMPLER...).
const otelPrefix = "OTEL_"

// otelServiceName names the service a process's telemetry is reported
// under: the host's is not its plugins'.
const otelServiceName = "OTEL_SERVICE_NAME"

// Env returns the environment for a plugin's process: env, or the host's
// own environment when env is nil, without any PLUGSOCK_ variable, then
// set ("NAME=value" each). Whatever the host itself inherited (its own
// address, token or launch id) is not for its plugins: they learn only
// what set says. env is not modified.
//
// The host's OTEL_ variables reach its plugins even when env is not nil:
// those env does not set are added to it, so that a plugin sends its
// traces where the host sends its own, sampled and propagated alike, as
// Grafana's plugin SDK does, whichever environment the program gives the
// command. To keep one from a plugin, set it in env, empty if need be.
// OTEL_SERVICE_NAME is the exception, from the host's environment both
// ways: a plugin that reported under the host's service name would pass
// its spans off as the host's. Set it in env to name a plugin's service.
func Env(env []string, set ...string) []string {
	host := os.Environ()
	inherited := env == nil
	if inherited {
		env = host
	}
	clean := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, envPrefix):
		case inherited && isVar(kv, otelServiceName):
		default:
			clean = append(clean, kv)
		}
	}
	if !inherited {
		for _, kv := range host {
			name, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(name, otelPrefix) && name != otelServiceName && !sets(env, name) {
				clean = append(clean, kv)
			}
		}
	}
	return append(clean, set...)
}

// isVar reports whether kv, "NAME=value", sets name.
func isVar(kv, name string) bool {
	return len(kv) > len(name) && kv[len(name)] == '=' && strings.HasPrefix(kv, name)
}

// sets reports whether env sets the variable name.
func sets(env []string, name string) bool {
	for _, kv := range env {
		if isVar(kv, name) {
			return true
		}
	}
	return false
}
