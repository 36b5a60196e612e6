package proc

import (
	"os"
	"strings"
)

// envPrefix starts the name of every variable the protocol defines
// (envelope.EnvAddr, envelope.EnvToken and the others).
const envPrefix = "PLUGSOCK_"

// Env returns the environment for a plugin's process: env, or the host's
// own environment when env is nil, without any PLUGSOCK_ variable, then
// set ("NAME=value" each). Whatever the host itself inherited (its own
// address, token or launch id) is not for its plugins: they learn only
// what set says. env is not modified.
func Env(env []string, set ...string) []string {
	if env == nil {
		env = os.Environ()
	}
	clean := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		if !strings.HasPrefix(kv, envPrefix) {
			clean = append(clean, kv)
		}
	}
	return append(clean, set...)
}
