package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// A target is one line of issue 13's "Targets": what was measured, the
// figure, what it must be, and the verdict.
type target struct {
	section string
	what    string
	got     string // the figure, formatted; empty when not run
	want    string
	met     bool
	run     bool
	note    string // why it was not run, or what went wrong
}

// targets collects every target the sections measured, in order, for the
// summary at the end of the run.
var targets []target

// addTarget records a measured target and prints its line.
func addTarget(section, what, got, want string, met bool) {
	t := target{section: section, what: what, got: got, want: want, met: met, run: true}
	targets = append(targets, t)
	fmt.Printf("target: %s = %s (want %s) %s\n", what, got, want, t.verdict())
}

// skipTarget records a target that was not measured, and why; the
// summary prints it.
func skipTarget(section, what, want, why string) {
	targets = append(targets, target{section: section, what: what, want: want, note: why})
}

// failTarget records a target whose measurement failed: it is missed, and
// the error says why.
func failTarget(section, what, want string, err error) {
	t := target{section: section, what: what, got: "error", want: want, run: true, note: err.Error()}
	targets = append(targets, t)
	fmt.Printf("target: %s (want %s) %s: %v\n", what, want, t.verdict(), err)
}

func (t target) verdict() string {
	switch {
	case !t.run:
		return "not run"
	case t.met:
		return "met"
	}
	return "missed"
}

// printTargets writes the summary of every target.
func printTargets(w io.Writer, ts []target) {
	met, missed, notRun := 0, 0, 0
	for _, t := range ts {
		switch t.verdict() {
		case "met":
			met++
		case "missed":
			missed++
		default:
			notRun++
		}
	}
	fmt.Fprintf(w, "targets of issue 13: %d met, %d missed, %d not run\n", met, missed, notRun)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "section\ttarget\tgot\twant\tverdict\n")
	for _, t := range ts {
		got := t.got
		if got == "" {
			got = "-"
		}
		v := t.verdict()
		if t.note != "" {
			v += " (" + firstLine(t.note) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.section, t.what, got, t.want, v)
	}
	_ = tw.Flush()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 90 {
		s = s[:87] + "..."
	}
	return s
}

// fitExponent fits t = c·n^k by least squares on log t against log n and
// returns k: how fast t grows with n.
func fitExponent(ns, ts []float64) float64 {
	if len(ns) != len(ts) || len(ns) < 2 {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range ns {
		x, y := math.Log(ns[i]), math.Log(ts[i])
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	n := float64(len(ns))
	d := n*sxx - sx*sx
	if d == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / d
}

// hist is a latency histogram with buckets 1/16 of a power of two wide
// (at most about 6% off), cheap enough to record every call of a parallel
// measurement: one goroutine owns each, and they are merged at the end.
type hist struct {
	counts [64 * histSub]uint32
	n      uint64
}

const histSub = 16

func histBucket(d time.Duration) int {
	v := uint64(max(d, 1))
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1))
	sub := (v >> (e - 4)) & (histSub - 1)
	return (e-3)*histSub + int(sub)
}

// histLow is the lowest duration that falls in bucket b.
func histLow(b int) time.Duration {
	if b < histSub {
		return time.Duration(b)
	}
	e := b/histSub + 3
	sub := uint64(b % histSub)
	return time.Duration((histSub + sub) << (e - 4))
}

func (h *hist) add(d time.Duration) {
	h.counts[histBucket(d)]++
	h.n++
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the duration below which a fraction q of the samples
// fall, as the middle of its bucket.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			lo, hi := histLow(b), histLow(b+1)
			return lo + (hi-lo)/2
		}
	}
	return histLow(len(h.counts) - 1)
}

// targetSpec names a target a section measures, so that one the section
// did not get to still gets its line.
type targetSpec struct{ what, want string }

// section runs one section of the benchmark and prints how long it took.
// An error is printed, each of the section's targets it left unmeasured
// is missed with it, and the run goes on with the next section, so that
// one broken measurement leaves the other targets standing.
func section(name string, specs []targetSpec, f func() error) {
	start := time.Now()
	fmt.Printf("==== %s\n", name)
	err := f()
	if err != nil {
		fmt.Printf("section %s failed: %v\n", name, err)
		sectionErrs = append(sectionErrs, fmt.Errorf("%s: %w", name, err))
	} else {
		err = errors.New("not measured")
	}
	for _, sp := range specs {
		if !slices.ContainsFunc(targets, func(t target) bool { return t.what == sp.what }) {
			failTarget(name, sp.what, sp.want, err)
		}
	}
	fmt.Printf("(section %s took %v)\n\n", name, time.Since(start).Round(100*time.Millisecond))
}

// sectionErrs are the errors of sections that failed.
var sectionErrs []error

// The targets of each section, as the sections name them.
var (
	callsTargets = []targetSpec{
		{"sequential echo 16 B, plugsock ÷ gob", "≤ 1.0×"},
		{"small calls, plugsock ÷ bare TCP ping-pong", "≤ 1.5×"},
	}
	payloadTargets = []targetSpec{
		{payloadBigWhat, "works"},
		{payloadOverWhat[0], payloadOverWant},
		{payloadOverWhat[1], payloadOverWant},
	}
)

func echoTargets() []targetSpec {
	var ts []targetSpec
	for _, sz := range echoSizes() {
		ts = append(ts, targetSpec{echoWhat(sz), fmt.Sprintf("≤ %.1f×", sz.want)})
	}
	return ts
}

func parallelTargets() []targetSpec {
	var ts []targetSpec
	for _, lv := range parLevels {
		ts = append(ts, targetSpec{parThroughputWhat(lv.callers), fmt.Sprintf("≥ %.1f×", lv.minThroughput)})
		if lv.maxP99 > 0 {
			ts = append(ts, targetSpec{parP99What(lv.callers), fmt.Sprintf("≤ %.1f×", lv.maxP99)})
		}
	}
	return ts
}

func broadcastTargets() []targetSpec {
	return []targetSpec{
		{broadcastRatioWhat(), "≤ 1.0×"},
		{"broadcast growth exponent, plugsock", "≤ N^1.05"},
	}
}

func idleSpecs() []targetSpec {
	ts := make([]targetSpec, len(idleTargets))
	for i, t := range idleTargets {
		ts[i] = targetSpec{t.what, t.want}
	}
	return ts
}

func echoWhat(sz echoSize) string { return "sequential echo " + sz.name + ", plugsock ÷ gob" }

func parThroughputWhat(callers int) string {
	return fmt.Sprintf("parallel throughput, %d callers, plugsock ÷ gob", callers)
}

func parP99What(callers int) string {
	return fmt.Sprintf("parallel p99, %d callers, plugsock ÷ gob", callers)
}

func broadcastRatioWhat() string {
	return fmt.Sprintf("broadcast to %d, plugsock ÷ gob", broadcastNs[len(broadcastNs)-1])
}
