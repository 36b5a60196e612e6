package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// parLevels are the numbers of concurrent callers of the parallel
// targets, each with the most plugsock's p99 may be over gob's (0: no
// target) and the least its throughput must be.
var parLevels = []struct {
	callers       int
	minThroughput float64
	maxP99        float64
}{
	{64, 1.3, 0},
	{256, 1.0, 1.2},
	{1024, 1.0, 1.2},
}

// parResult is one parallel measurement.
type parResult struct {
	cps    float64
	p50    time.Duration
	p99    time.Duration
	errs   int64
	first  error
	called int64
}

// measureParLatency runs g goroutines calling c for d and returns the
// calls per second and the latency quantiles. Each goroutine keeps its
// own histogram, so recording costs two clock reads and an increment per
// call and no shared cache line.
func measureParLatency(c client, d time.Duration, g int) parResult {
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		mu    sync.Mutex
		total hist
		res   parResult
	)
	start := time.Now()
	for range g {
		wg.Go(func() {
			in := payload
			var out Small
			h := new(hist)
			var errs int64
			var first error
			for !stop.Load() {
				t0 := time.Now()
				if err := c.call(&in, &out); err != nil {
					if first == nil {
						first = err
					}
					errs++
					continue
				}
				h.add(time.Since(t0))
			}
			mu.Lock()
			total.merge(h)
			res.errs += errs
			if res.first == nil {
				res.first = first
			}
			mu.Unlock()
		})
	}
	time.Sleep(d) // the measurement window: nothing to wait for
	stop.Store(true)
	wg.Wait()
	el := time.Since(start)
	res.called = int64(total.n)
	res.cps = float64(total.n) / el.Seconds()
	res.p50, res.p99 = total.quantile(0.5), total.quantile(0.99)
	return res
}

// parallelRun measures plugsock and net/rpc gob with 64, 256 and 1024
// callers on one connection, in interleaved rounds.
func parallelRun(rounds int, d time.Duration, verbose bool) error {
	var sel []system
	for _, s := range systems() {
		if s.name == "plugsock" || s.name == "net/rpc gob" {
			sel = append(sel, s)
		}
	}
	clients := make([]client, len(sel))
	defer func() {
		for _, c := range clients {
			if c != nil {
				_ = c.close()
			}
		}
	}()
	for i, s := range sel {
		var (
			c   client
			err error
		)
		pprof.Do(context.Background(), pprof.Labels("system", s.name), func(context.Context) {
			c, err = s.start(false)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		clients[i] = c
	}
	// res[level][system] holds one result per round.
	res := make([][][]parResult, len(parLevels))
	for k := range parLevels {
		res[k] = make([][]parResult, len(sel))
	}
	for r := range rounds {
		for k, lv := range parLevels {
			for j := range sel {
				i := (j + r + k) % len(sel)
				// Labelled as in the calls section, so that a CPU profile
				// can be split: go tool pprof -tagfocus=system=plugsock.
				var pr parResult
				pprof.Do(context.Background(), pprof.Labels("system", sel[i].name, "phase", "parallel", "callers", strconv.Itoa(lv.callers)), func(context.Context) {
					pr = measureParLatency(clients[i], d, lv.callers)
				})
				res[k][i] = append(res[k][i], pr)
				if verbose {
					fmt.Printf("round %d  %4d callers  %-12s %8.0f calls/s  p50 %v  p99 %v  errors %d\n",
						r+1, lv.callers, sel[i].name, pr.cps, pr.p50, pr.p99, pr.errs)
				}
			}
		}
	}
	med := func(rs []parResult, f func(parResult) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	cps := func(r parResult) float64 { return r.cps }
	p50 := func(r parResult) float64 { return float64(r.p50) / 1e3 }
	p99 := func(r parResult) float64 { return float64(r.p99) / 1e3 }
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "callers\tsystem\tcalls/s\tp50 µs\tp99 µs\terrors\t\n")
	for k, lv := range parLevels {
		for i, s := range sel {
			var errs int64
			for _, r := range res[k][i] {
				errs += r.errs
			}
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.0f\t%.0f\t%d\t\n", lv.callers, s.name, med(res[k][i], cps), med(res[k][i], p50), med(res[k][i], p99), errs)
		}
	}
	_ = tw.Flush()
	fmt.Println()
	ps, gob := 0, 1
	for k, lv := range parLevels {
		var errs int64
		var first error
		for _, r := range res[k][ps] {
			errs += r.errs
			if first == nil {
				first = r.first
			}
		}
		tr := med(res[k][ps], cps) / med(res[k][gob], cps)
		what := parThroughputWhat(lv.callers)
		want := fmt.Sprintf("≥ %.1f×", lv.minThroughput)
		if errs > 0 {
			failTarget("parallel", what, want, fmt.Errorf("%.2f×, but %d calls failed: %w", tr, errs, first))
		} else {
			addTarget("parallel", what, fmt.Sprintf("%.2f×", tr), want, tr >= lv.minThroughput)
		}
		if lv.maxP99 > 0 {
			pr := med(res[k][ps], p99) / med(res[k][gob], p99)
			addTarget("parallel", parP99What(lv.callers),
				fmt.Sprintf("%.2f×", pr), fmt.Sprintf("≤ %.1f×", lv.maxP99), pr <= lv.maxP99 && errs == 0)
		}
	}
	return nil
}
