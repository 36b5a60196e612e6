package plugintest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The report keeps the last lines of both streams, tagged, and the last
// line of each that had no newline.
func TestTailKeepsTheLastLines(t *testing.T) {
	out := &tail{max: 3}
	stdout, stderr := out.stream("stdout"), out.stream("stderr")
	for i := range 5 {
		fmt.Fprintf(stdout, "line %d\r\n", i)
	}
	fmt.Fprint(stderr, "panic: boom\ngorout")
	fmt.Fprint(stdout, "no newline")
	assert.Equal(t, []string{"stdout: line 3", "stdout: line 4", "stderr: panic: boom", "stderr: gorout", "stdout: no newline"}, out.lines())
}
