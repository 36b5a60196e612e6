package proc_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/internal/proc"
)

// collect returns a Lines with the limit max and the lines it passed on.
func collect(max int) (*proc.Lines, func() []string) {
	var (
		mu    sync.Mutex
		lines []string
	)
	l := proc.NewLines(max, func(s string) {
		mu.Lock()
		lines = append(lines, s)
		mu.Unlock()
	})
	return l, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

func write(t *testing.T, l *proc.Lines, s string) {
	t.Helper()
	n, err := l.Write([]byte(s))
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}

func TestLinesSplitsAtNewlines(t *testing.T) {
	l, lines := collect(64)
	write(t, l, "one\ntw")
	write(t, l, "o\r\n\nthree\r\r\nfou")
	assert.Equal(t, []string{"one", "two", "", "three"}, lines(), "CR LF and LF both end a line; blank lines count")
	assert.Equal(t, "fou", l.Partial())
	assert.Equal(t, []string{"one", "two", "", "three"}, lines(), "Partial passes nothing on")
	write(t, l, "r")
	l.Flush()
	assert.Equal(t, []string{"one", "two", "", "three", "four"}, lines(), "Flush passes on the last line, which had no newline")
	assert.Equal(t, "", l.Partial())
	l.Flush()
	assert.Len(t, lines(), 5, "a second Flush has nothing to pass on")
}

// A process that never writes a newline holds no more than the limit:
// its line is passed on in pieces, whether it comes in one Write or many.
func TestLinesCutsLongLines(t *testing.T) {
	for _, chunk := range []int{1, 3, 4, 7, 1000} {
		t.Run(fmt.Sprintf("writes of %d", chunk), func(t *testing.T) {
			l, lines := collect(4)
			in := "abcdefghij\nabcd\nxy"
			for s := in; s != ""; {
				n := min(chunk, len(s))
				write(t, l, s[:n])
				s = s[n:]
				assert.LessOrEqual(t, len(l.Partial()), 4)
			}
			l.Flush()
			assert.Equal(t, []string{"abcd", "efgh", "ij", "abcd", "xy"}, lines())
		})
	}
}

func TestLinesLargeWrite(t *testing.T) {
	l, lines := collect(16 << 10)
	big := strings.Repeat("x", 100<<10+5)
	write(t, l, big)
	got := lines()
	require.Len(t, got, 6)
	for _, s := range got {
		assert.Len(t, s, 16<<10)
	}
	assert.Len(t, l.Partial(), 100<<10+5-6*(16<<10))
}

// Lines from several writers at once each arrive whole.
func TestLinesConcurrentWriters(t *testing.T) {
	l, lines := collect(64)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				_, _ = fmt.Fprintf(l, "writer %d line %d\n", w, i)
			}
		})
	}
	wg.Wait()
	got := lines()
	require.Len(t, got, 400)
	for _, s := range got {
		assert.Regexp(t, `^writer \d line \d+$`, s)
	}
}
