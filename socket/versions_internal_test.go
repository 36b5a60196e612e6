package socket

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCompareVersions(t *testing.T) {
	ascending := []string{
		"", "banana", "nightly", // not semantic: below, as strings
		"0.9", "v1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2", "v1.10.0", "2",
	}
	for i, a := range ascending {
		for j, b := range ascending {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			assert.Equal(t, want, compareVersions(a, b), "compare(%q, %q)", a, b)
		}
	}
	assert.Equal(t, 0, compareVersions("1.0.0+build.5", "v1.0.0"), "build metadata does not count")
}
