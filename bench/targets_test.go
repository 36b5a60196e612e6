package main

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFitExponent(t *testing.T) {
	ns := []float64{100, 300, 1000}
	for _, k := range []float64{0.5, 1, 1.05, 2} {
		ts := make([]float64, len(ns))
		for i, n := range ns {
			ts[i] = 3.7 * math.Pow(n, k)
		}
		assert.InDelta(t, k, fitExponent(ns, ts), 1e-9, "t = c·n^%v", k)
	}
	// Noise around linear growth: between the extremes.
	k := fitExponent(ns, []float64{110, 300, 950})
	assert.Greater(t, k, 0.9)
	assert.Less(t, k, 1.0)
	assert.True(t, math.IsNaN(fitExponent([]float64{1}, []float64{1})), "one point fits nothing")
	assert.True(t, math.IsNaN(fitExponent([]float64{5, 5}, []float64{1, 2})), "one N fits nothing")
}

func TestHistBuckets(t *testing.T) {
	// Every duration falls in a bucket whose range holds it, about 6% wide.
	for _, d := range []time.Duration{1, 15, 16, 17, 100, 999, 1000, 12345, time.Millisecond, 3*time.Second + 7} {
		b := histBucket(d)
		lo, hi := histLow(b), histLow(b+1)
		assert.LessOrEqual(t, lo, d, "%v in bucket %d", d, b)
		assert.Less(t, d, hi, "%v in bucket %d", d, b)
		if d >= histSub {
			assert.LessOrEqual(t, float64(hi-lo)/float64(lo), 1.0/16+1e-9, "%v: bucket too wide", d)
		}
	}
}

func TestHistQuantile(t *testing.T) {
	var a, b hist
	for i := 1; i <= 990; i++ {
		a.add(10 * time.Microsecond)
	}
	for i := 1; i <= 10; i++ {
		b.add(5 * time.Millisecond)
	}
	a.merge(&b)
	require.EqualValues(t, 1000, a.n)
	assert.InEpsilon(t, float64(10*time.Microsecond), float64(a.quantile(0.5)), 0.07)
	assert.InEpsilon(t, float64(10*time.Microsecond), float64(a.quantile(0.99)), 0.07)
	assert.InEpsilon(t, float64(5*time.Millisecond), float64(a.quantile(0.995)), 0.07)
	assert.InEpsilon(t, float64(5*time.Millisecond), float64(a.quantile(1)), 0.07)
	var empty hist
	assert.Zero(t, empty.quantile(0.99))
}

func TestPrintTargets(t *testing.T) {
	ts := []target{
		{section: "echo", what: "a", got: "0.90×", want: "≤ 1.0×", met: true, run: true},
		{section: "echo", what: "b", got: "1.20×", want: "≤ 1.0×", run: true},
		{section: "idle", what: "c", want: "≤ 2 ms", note: "-idle 0"},
		{section: "payload", what: "d", got: "error", want: "works", run: true, note: "boom\nsecond line"},
	}
	var sb strings.Builder
	printTargets(&sb, ts)
	out := sb.String()
	assert.Contains(t, out, "1 met, 2 missed, 1 not run")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 6)
	assert.True(t, strings.HasSuffix(lines[2], "met"), lines[2])
	assert.True(t, strings.HasSuffix(lines[3], "missed"), lines[3])
	assert.True(t, strings.HasSuffix(lines[4], "not run (-idle 0)"), lines[4])
	assert.True(t, strings.HasSuffix(lines[5], "missed (boom)"), lines[5])
}

func TestSectionFillsUnmeasuredTargets(t *testing.T) {
	saved, savedErrs := targets, sectionErrs
	t.Cleanup(func() { targets, sectionErrs = saved, savedErrs })
	targets, sectionErrs = nil, nil
	specs := []targetSpec{{"x", "≤ 1"}, {"y", "≤ 2"}}
	section("s", specs, func() error {
		addTarget("s", "x", "0.5", "≤ 1", true)
		return errors.New("broke before y")
	})
	require.Len(t, targets, 2)
	assert.Equal(t, "met", targets[0].verdict())
	assert.Equal(t, "y", targets[1].what)
	assert.Equal(t, "missed", targets[1].verdict())
	assert.Contains(t, targets[1].note, "broke before y")
	assert.Len(t, sectionErrs, 1)
}

func TestMakeOrderSize(t *testing.T) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b, err := json.Marshal(makeOrder(size))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(b), size)
		assert.Less(t, len(b), size+100, "at most one item over")
	}
}

func TestNamesLimit(t *testing.T) {
	assert.True(t, namesLimit(errors.New("frame of 2000000 bytes is over the limit of 1048576 bytes"), 1<<20))
	assert.True(t, namesLimit(errors.New("payload over the 1 MiB frame limit"), 1<<20))
	assert.False(t, namesLimit(errors.New("connection reset by peer"), 1<<20))
}
