// Command bench compares plugsock's call path with Go's own RPC and with
// other plugin and JSON-RPC systems on one workload: the echo of a small
// struct {"a": int, "s": string} to one server over loopback TCP.
//
// Every system is measured in interleaved rounds in one run, so that they
// share the machine's state of the moment; each figure is the median of
// the rounds. With -streams it measures streams instead: records through a
// plugsock stream, gRPC bidirectional streaming and $/async, and the
// host's heap under a backlog (streams.go). See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/plugsock/plugsock/socket"
)

const timeout = 10 * time.Second

func main() {
	var (
		rounds   = flag.Int("rounds", 10, "interleaved `rounds`; each figure is the median")
		dur      = flag.Duration("d", 500*time.Millisecond, "how long each measurement runs in each round")
		par      = flag.Int("par", 64, "goroutines calling at once in the parallel measurement")
		only     = flag.String("systems", "", "comma-separated `names` to run (default all); matched as substrings, or exactly when prefixed with =")
		procs    = flag.Bool("procs", false, "run every server in a child process (go-plugin always does)")
		extra    = flag.Bool("extra", true, "also measure plugsock's broadcast, async and handshake")
		streams  = flag.Bool("streams", false, "measure streams instead of calls: plugsock's beside gRPC's and $/async, and the host's heap under a backlog")
		idle     = flag.Int("idle", 20000, "plugins in the idle section, `n` (0 skips it): most of them idle, from a child process")
		hbProf   = flag.String("hbprofile", "", "write a CPU profile of the idle section's heartbeat window alone to `file`")
		hbWindow = flag.Duration("hbwindow", 2*socket.DefaultHeartbeatInterval, "how long the idle section measures the host's CPU while idle")
		sections = flag.String("sections", "", "comma-separated `sections` to run (default all): calls, echo, payload, parallel, broadcast, extra, idle")
		verbose  = flag.Bool("v", false, "print every round's figures")
		child    = flag.String("child", "", "internal: run as a child process in this role")
		addr     = flag.String("addr", "", "internal: the address a child connects to")
		swarmPar = flag.Int("connpar", 64, "connections the idle measurement's child opens at once")
		cpuprof  = flag.String("cpuprofile", "", "write a CPU profile of the comparison to `file`")
		tracef   = flag.String("trace", "", "write an execution trace of the comparison to `file`")
	)
	flag.Parse()
	if *tracef != "" {
		f, err := os.Create(*tracef)
		if err == nil {
			err = trace.Start(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer trace.Stop()
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *child != "" {
		swarmConcurrency = *swarmPar
		if err := runChild(*child, *addr); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}

	if *streams {
		d := *dur
		if !flagSet("d") {
			d = 200 * time.Millisecond
		}
		fmt.Printf("%s, %d CPUs, GOMAXPROCS %d, %s\n", runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS+"/"+runtime.GOARCH)
		if err := streamsRun(*only, *rounds, d, *verbose); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		if *only == "" || matches(sysStream, *only) {
			if err := streamMemory(3, *verbose); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
		}
		return
	}

	fmt.Printf("plugsock comparison: echo of %+v over loopback TCP, and the targets of issue 13\n", payload)
	// The sections that measure big payloads, many callers or many plugins
	// get fewer, shorter rounds, so that a full run stays within minutes.
	bigRounds, bigD := max(3, *rounds*6/10), *dur*3/5
	fmt.Printf("%s, %d CPUs, GOMAXPROCS %d, %s; %d rounds of %v per figure (%d of %v in echo, parallel, broadcast and extra), %d goroutines in parallel\n\n",
		runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS+"/"+runtime.GOARCH, *rounds, *dur, bigRounds, bigD, *par)

	want := func(name string) bool { return *sections == "" || matches(name, *sections) }
	all := []struct {
		name  string
		specs []targetSpec
		on    bool
		why   string // when not on
		run   func() error
	}{
		{"calls", callsTargets, want("calls"), "not selected", func() error {
			var sel []system
			for _, s := range systems() {
				if *only == "" || matches(s.name, *only) {
					sel = append(sel, s)
				}
			}
			return compare(sel, *rounds, *dur, *par, *procs, *verbose)
		}},
		{"echo", echoTargets(), want("echo"), "not selected", func() error { return echoRun(bigRounds, bigD, *verbose) }},
		{"payload", payloadTargets, want("payload"), "not selected", payloadRun},
		{"parallel", parallelTargets(), want("parallel"), "not selected", func() error { return parallelRun(bigRounds, bigD, *verbose) }},
		{"broadcast", broadcastTargets(), want("broadcast"), "not selected", func() error { return broadcastRun(bigRounds, bigD, *verbose) }},
		{"extra", nil, want("extra") && *extra, "not selected", func() error { return extras(bigRounds, bigD, *verbose) }},
		{"idle", idleSpecs(), want("idle") && *idle > 0, "-idle 0", func() error { return idleRun(*idle, *hbWindow, *hbProf) }},
	}
	start := time.Now()
	for _, sec := range all {
		if !sec.on {
			fmt.Printf("==== %s: not run (%s)\n\n", sec.name, sec.why)
			for _, t := range sec.specs {
				skipTarget(sec.name, t.what, t.want, sec.why)
			}
			continue
		}
		section(sec.name, sec.specs, sec.run)
	}
	fmt.Printf("==== summary (the whole run took %v)\n", time.Since(start).Round(time.Second))
	printTargets(os.Stdout, targets)
	if len(sectionErrs) > 0 {
		os.Exit(1)
	}
}

// flagSet reports whether the flag called name was given.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func matches(name, list string) bool {
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if exact, ok := strings.CutPrefix(s, "="); ok {
			if name == exact {
				return true
			}
			continue
		}
		if s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// figures is one system's measurements, one entry per round.
type figures struct {
	seqUS, seqCPU, seqAllocs, parCPS, parAllocs []float64
}

func compare(sel []system, rounds int, d time.Duration, par int, procs, verbose bool) error {
	clients := make([]client, len(sel))
	defer func() {
		for _, c := range clients {
			if c != nil {
				_ = c.close()
			}
		}
	}()
	for i, s := range sel {
		// Label everything each system starts, so that a CPU profile
		// (-cpuprofile) can be split by system: go tool pprof
		// -tagfocus=system=plugsock.
		var (
			c   client
			err error
		)
		pprof.Do(context.Background(), pprof.Labels("system", s.name), func(context.Context) {
			c, err = s.start(procs)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		clients[i] = c
		if err := check(c); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	figs := make([]figures, len(sel))
	for r := range rounds {
		// Rotate the order every round so that no system always runs
		// right after the same neighbour.
		for k := range sel {
			i := (k + r) % len(sel)
			var (
				us, cpu, allocs float64
				err             error
			)
			pprof.Do(context.Background(), pprof.Labels("system", sel[i].name, "phase", "seq"), func(context.Context) {
				us, cpu, allocs, err = measureSeq(clients[i], d)
			})
			if err != nil {
				return fmt.Errorf("%s: %w", sel[i].name, err)
			}
			figs[i].seqUS = append(figs[i].seqUS, us)
			figs[i].seqCPU = append(figs[i].seqCPU, cpu)
			figs[i].seqAllocs = append(figs[i].seqAllocs, allocs)
			if sel[i].parallel && par > 0 {
				var (
					cps, pallocs float64
					err          error
				)
				pprof.Do(context.Background(), pprof.Labels("system", sel[i].name, "phase", "par"), func(context.Context) {
					cps, pallocs, err = measurePar(clients[i], d, par)
				})
				if err != nil {
					return fmt.Errorf("%s parallel: %w", sel[i].name, err)
				}
				figs[i].parCPS = append(figs[i].parCPS, cps)
				figs[i].parAllocs = append(figs[i].parAllocs, pallocs)
			}
			if verbose {
				fmt.Printf("round %d  %-22s seq %7.2f µs  cpu %7.2f µs  %5.1f allocs", r+1, sel[i].name, us, cpu, allocs)
				if n := len(figs[i].parCPS); n > 0 && sel[i].parallel {
					fmt.Printf("   par %8.0f calls/s (%.2f CPUs busy)", figs[i].parCPS[n-1], parUtil)
				}
				fmt.Println()
			}
		}
	}
	printTable(sel, figs, par)
	return nil
}

// check makes one call and verifies the echo.
func check(c client) error {
	in, out := payload, Small{}
	if err := c.call(&in, &out); err != nil {
		return err
	}
	switch c.(type) {
	case *pingClient, *pingHandoffClient:
		// Bytes, not values: nothing to compare.
		return nil
	}
	if out != in {
		return fmt.Errorf("echo returned %+v, want %+v", out, in)
	}
	return nil
}

// measureSeq makes calls one after another for d and returns the time,
// the CPU time (of this process, user and system) and the allocations (in
// this process) per call.
func measureSeq(c client, d time.Duration) (us, cpu, allocs float64, err error) {
	in := payload
	var out Small
	for range 200 { // warm up connections, pools and caches
		if err := c.call(&in, &out); err != nil {
			return 0, 0, 0, err
		}
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	n := 0
	c0 := cpuTime()
	start := time.Now()
	for time.Since(start) < d {
		for range 16 {
			if err := c.call(&in, &out); err != nil {
				return 0, 0, 0, err
			}
		}
		n += 16
	}
	el := time.Since(start)
	c1 := cpuTime()
	runtime.ReadMemStats(&m1)
	return float64(el.Microseconds()) / float64(n), float64((c1 - c0).Microseconds()) / float64(n),
		float64(m1.Mallocs-m0.Mallocs) / float64(n), nil
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measurePar runs g goroutines calling for d and returns calls per second
// and allocations per call.
func measurePar(c client, d time.Duration, g int) (cps, allocs float64, err error) {
	runtime.GC()
	var (
		stop  atomic.Bool
		total atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
		m0    runtime.MemStats
		m1    runtime.MemStats
	)
	runtime.ReadMemStats(&m0)
	c0 := cpuTime()
	start := time.Now()
	for range g {
		wg.Go(func() {
			in := payload
			var out Small
			n := int64(0)
			for !stop.Load() {
				if err := c.call(&in, &out); err != nil {
					once.Do(func() { first = err })
					break
				}
				n++
			}
			total.Add(n)
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	el := time.Since(start)
	parUtil = float64(cpuTime()-c0) / float64(el)
	runtime.ReadMemStats(&m1)
	n := float64(total.Load())
	return n / el.Seconds(), float64(m1.Mallocs-m0.Mallocs) / n, first
}

// parUtil is how many CPUs the process kept busy in the last parallel
// measurement.
var parUtil float64

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTable(sel []system, figs []figures, par int) {
	ref := -1
	for i, s := range sel {
		if s.name == "plugsock" {
			ref = i
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "system\tseq µs/call\t× plugsock\tCPU µs/call\tallocs/call\tparallel calls/s (%d)\t× plugsock\tallocs/call\t\n", par)
	var notes []string
	for i, s := range sel {
		seq, alloc := median(figs[i].seqUS), median(figs[i].seqAllocs)
		name := s.name
		if s.note != "" {
			notes = append(notes, s.note)
			name += fmt.Sprintf(" [%d]", len(notes))
		}
		ratio := func(v, r float64) string {
			if ref < 0 || r == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", v/r)
		}
		row := fmt.Sprintf("%s\t%.1f\t%s\t%.1f\t%.1f\t", name, seq, ratio(seq, refOr(ref, figs, func(f figures) []float64 { return f.seqUS })), median(figs[i].seqCPU), alloc)
		if s.parallel {
			cps := median(figs[i].parCPS)
			row += fmt.Sprintf("%.0f\t%s\t%.1f\t", cps, ratio(cps, refOr(ref, figs, func(f figures) []float64 { return f.parCPS })), median(figs[i].parAllocs))
		} else {
			row += "-\t-\t-\t"
		}
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
	fmt.Println()
	for i, n := range notes {
		fmt.Printf("[%d] %s\n", i+1, n)
	}
	fmt.Println("CPU and allocs/call count this process only: client and server when the server runs in it (every system but")
	fmt.Println("go-plugin, unless -procs); parallel CPU is in the per-round output (-v).")
	// The targets; the others' parallel throughput is the parallel
	// section's, with its latencies.
	gob, js, ping, handoff := -1, -1, -1, -1
	for i, s := range sel {
		switch s.name {
		case "ping-pong, one hand-off":
			handoff = i
		case "net/rpc gob":
			gob = i
		case "net/rpc JSON":
			js = i
		case "bare TCP ping-pong":
			ping = i
		}
	}
	fmt.Println()
	if ref >= 0 && gob >= 0 {
		r := median(figs[ref].seqUS) / median(figs[gob].seqUS)
		addTarget("calls", callsTargets[0].what, fmt.Sprintf("%.2f×", r), callsTargets[0].want, r <= 1.0)
	}
	if ref >= 0 && ping >= 0 {
		r := median(figs[ref].seqUS) / median(figs[ping].seqUS)
		addTarget("calls", callsTargets[1].what, fmt.Sprintf("%.2f×", r), callsTargets[1].want, r <= 1.5)
	}
	if ref >= 0 && ping >= 0 && handoff >= 0 {
		fmt.Printf("plugsock seq latency ÷ ping-pong with one hand-off = %.2f×; the hand-off alone makes the ping-pong %.2f× as slow\n",
			median(figs[ref].seqUS)/median(figs[handoff].seqUS), median(figs[handoff].seqUS)/median(figs[ping].seqUS))
	}
	if ref >= 0 && js >= 0 {
		r := median(figs[ref].seqUS) / median(figs[js].seqUS)
		fmt.Printf("plugsock seq latency ÷ net/rpc JSON = %.2f× (an older target: < 1)\n", r)
	}
	if ref >= 0 && gob >= 0 && par > 0 {
		p := median(figs[ref].parCPS) / median(figs[gob].parCPS)
		fmt.Printf("plugsock parallel throughput (%d) ÷ net/rpc gob = %.2f× (the target is the parallel section's)\n", par, p)
	}
}

func refOr(ref int, figs []figures, f func(figures) []float64) float64 {
	if ref < 0 {
		return 0
	}
	return median(f(figs[ref]))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}
