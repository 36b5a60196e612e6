package envelope_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every read
// loop must end with its connection, whatever way it ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
