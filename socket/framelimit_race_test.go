//go:build race

package socket_test

// raceEnabled: the race detector makes TestPayload64MiB take minutes, and
// adds to what an idle plugin costs (TestIdlePluginsAreCheap).
const raceEnabled = true
