//go:build unix

package proc_test

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/internal/proc"
)

func TestStatus(t *testing.T) {
	for script, want := range map[string]string{
		"exit 0":     "exit status 0",
		"exit 3":     "exit status 3",
		"kill -9 $$": "signal: killed",
	} {
		p, err := proc.Start(exec.Command("sh", "-c", script))
		require.NoError(t, err)
		assert.Equal(t, want, p.Status(), script)
	}
	assert.Equal(t, "exit status 0", proc.ExitStatus(nil))
	assert.Equal(t, "exec: not started", proc.ExitStatus(errors.New("exec: not started")))
}
