//go:build race

package socket_test

// raceEnabled: the race detector makes TestPayload64MiB take minutes.
const raceEnabled = true
