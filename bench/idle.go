package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// swarmConcurrency is how many connections the swarm child opens at once.
var swarmConcurrency = 64

// raiseFileLimit lifts the soft limit on open files to the hard one: each
// plugin is a file descriptor on both sides.
func raiseFileLimit(need uint64) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return err
		}
	}
	if rl.Cur < need {
		return fmt.Errorf("open-file limit is %d, need about %d: raise the hard limit (ulimit -Hn)", rl.Cur, need)
	}
	return nil
}

// fileLimit is the soft limit on open files.
func fileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(min(rl.Cur, 1<<30))
}

// rss returns this process's resident set size in bytes.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

type memSnap struct {
	heap, stack, sys, rss uint64
	goroutines            int
}

func snapshot() memSnap {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSnap{heap: m.HeapInuse, stack: m.StackInuse, sys: m.Sys, rss: rss(), goroutines: runtime.NumGoroutine()}
}

// Idle2 is an idle plugin with 2 functions.
type Idle2 struct{}

func (Idle2) Echo(_ context.Context, in Small) (Small, error) { return in, nil }
func (Idle2) Ping(context.Context, struct{}) (bool, error)    { return true, nil }

// Idle20 is an idle plugin with 20 functions, each with its own types,
// so that its description is ten times Idle2's.
type Idle20 struct{}

func (Idle20) Echo(_ context.Context, in Small) (Small, error)  { return in, nil }
func (Idle20) F02(_ context.Context, in Order) (Order, error)   { return in, nil }
func (Idle20) F03(_ context.Context, in Item) (Item, error)     { return in, nil }
func (Idle20) F04(_ context.Context, in []byte) ([]byte, error) { return in, nil }
func (Idle20) F05(_ context.Context, in string) (string, error) { return in, nil }
func (Idle20) F06(_ context.Context, in int) (int, error)       { return in, nil }
func (Idle20) F07(_ context.Context, in []Item) (int, error)    { return len(in), nil }
func (Idle20) F08(_ context.Context, in map[string]int) (int, error) {
	return len(in), nil
}
func (Idle20) F09(_ context.Context, in Small) (Order, error)     { return Order{ID: in.A}, nil }
func (Idle20) F10(_ context.Context, in Order) (Small, error)     { return Small{A: in.ID}, nil }
func (Idle20) F11(_ context.Context, in []Small) ([]Small, error) { return in, nil }
func (Idle20) F12(_ context.Context, in bool) (bool, error)       { return !in, nil }
func (Idle20) F13(_ context.Context, in float64) (float64, error) { return in, nil }
func (Idle20) F14(_ context.Context, in []string) (int, error)    { return len(in), nil }
func (Idle20) F15(_ context.Context, in Item) (Order, error)      { return Order{Items: []Item{in}}, nil }
func (Idle20) F16(_ context.Context, in struct{}) (string, error) { return "ok", nil }
func (Idle20) F17(_ context.Context, in string) (Small, error)    { return Small{S: in}, nil }
func (Idle20) F18(_ context.Context, in Small) (string, error)    { return in.S, nil }
func (Idle20) F19(_ context.Context, in []int) ([]int, error)     { return in, nil }
func (Idle20) F20(_ context.Context, in map[string]Small) (int, error) {
	return len(in), nil
}

// idleLocal is how many plugins run in the host (Attach): one busy,
// the rest idle. "With 10 connections" is the host with these alone.
const idleLocal = 10

// openFiles counts this process's open file descriptors.
func openFiles() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(es)
}

// childCPU is the CPU time, user and system, of process pid so far.
func childCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// seqLatency makes sequential calls to name for d and returns µs per call.
func seqLatency(s *socket.Socket, name string, d time.Duration) (float64, error) {
	in, out := payload, Small{}
	ctx := context.Background()
	for range 200 {
		if err := s.CallContext(ctx, name, "Echo", in, &out); err != nil {
			return 0, err
		}
	}
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 16 {
			if err := s.CallContext(ctx, name, "Echo", in, &out); err != nil {
				return 0, err
			}
		}
		n += 16
	}
	return float64(time.Since(start).Nanoseconds()) / 1e3 / float64(n), nil
}

// pairRatio is the median of a[i]/b[i].
func pairRatio(a, b []float64) float64 {
	r := make([]float64, min(len(a), len(b)))
	for i := range r {
		r[i] = a[i] / b[i]
	}
	return median(r)
}

// warmUp makes sequential calls to name until the collector has ended
// two cycles, or for 5 s, and returns the µs per call of the first
// 200 ms. After thousands of plugins have connected, the first cycles'
// worth of allocation grows the heap into memory the kernel has to map
// and zero once (about twice the system time of the rounds after them,
// for about 1.4 to 1.8 times the latency): a cost of the heap's growth,
// not of a call among many connections, and one host10 never pays, its
// ballast never being touched.
func warmUp(s *socket.Socket, name string) (first float64, err error) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	gc0 := m.NumGC
	start := time.Now()
	for i := 0; time.Since(start) < 5*time.Second; i++ {
		v, err := seqLatency(s, name, 200*time.Millisecond)
		if err != nil {
			return 0, err
		}
		if i == 0 {
			first = v
		}
		runtime.ReadMemStats(&m)
		if m.NumGC >= gc0+2 {
			break
		}
	}
	return first, nil
}

// pollRound makes sequential calls to name for d, with a goroutine
// calling Connected(true) every 100 ms when poll is set, and returns the
// call latencies and how long the polls took.
func pollRound(s *socket.Socket, name string, d time.Duration, poll bool) (calls, polls *hist, maxCall time.Duration, err error) {
	calls, polls = new(hist), new(hist)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if poll {
		wg.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					t0 := time.Now()
					if len(s.Connected(true)) == 0 {
						return
					}
					polls.add(time.Since(t0))
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	in, out := payload, Small{}
	ctx := context.Background()
	start := time.Now()
	for time.Since(start) < d {
		t0 := time.Now()
		if err := s.CallContext(ctx, name, "Echo", in, &out); err != nil {
			return nil, nil, 0, err
		}
		el := time.Since(t0)
		calls.add(el)
		maxCall = max(maxCall, el)
	}
	return calls, polls, maxCall, nil
}

// swarm is the child process holding the idle plugins.
type swarm struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

// next waits for the child's next "connected" line.
func (w *swarm) next() error {
	for w.lines.Scan() {
		t := w.lines.Text()
		if strings.HasPrefix(t, "connected") {
			return nil
		}
		if strings.HasPrefix(t, "error") {
			return errors.New(t)
		}
	}
	return errors.New("swarm ended before it connected")
}

func (w *swarm) kill() {
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// waitPlugins waits until s has n plugins, up to d.
func waitPlugins(s *socket.Socket, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for s.Stats().Plugins != n {
		if time.Now().After(deadline) {
			return fmt.Errorf("host has %d plugins after %v, want %d", s.Stats().Plugins, d, n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
	return nil
}

// idleTargets are the targets of the idle section, for "not run".
var idleTargets = []struct{ what, want string }{
	{"idle: worst call while Connected(true) is polled every 100 ms, above the worst unpolled", "≤ 2 ms"},
	{"idle: heartbeat CPU at the host", "≤ 2% of a core"},
	{"idle: in-process call latency with all connected ÷ a host with 10", "≤ 1.05×"},
	{"idle: heap + stacks per idle plugin, 2 functions", "≤ 16 KiB"},
	{"idle: heap + stacks per idle plugin, 20 functions", "≤ 16 KiB"},
}

// idleRun connects n plugins to a socket in this process, idleLocal of
// them in-process (Attach) and the rest idle ones dialling from a child
// process, half with 2 functions and half with 20, and measures the idle
// targets.
func idleRun(n int, hbWindow time.Duration, hbProfile string) error {
	// The limit may hold fewer than n: the room is measured below.
	if err := raiseFileLimit(1024); err != nil {
		return err
	}
	limit := fileLimit()
	remote := n - idleLocal
	// Each remote plugin is a descriptor here; keep 32 for the rest, and
	// make up the difference with idle plugins in this process, which
	// need none.
	if room := limit - openFiles() - 32; remote > room {
		remote = room
	}
	fill := n - idleLocal - remote
	n1 := remote / 2
	n2 := remote - n1

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: quiet, ShutdownTimeout: time.Minute, AsyncBuffer: 16, MaxPlugins: n + 1})
	defer func() { _ = s.Shutdown("") }()
	if _, err := s.Attach(Echoer{}, &envelope.PluginInfo{Name: "echo"}); err != nil {
		return err
	}
	for i := range idleLocal - 1 {
		if _, err := s.Attach(Idle2{}, &envelope.PluginInfo{Name: fmt.Sprintf("local-%d", i)}); err != nil {
			return err
		}
	}
	// "With 10 connections" is a second host, a child process of this
	// binary with the same 10 plugins attached and nothing else, measured
	// in rounds interleaved with this one's: the runtime's timers and
	// heap are per process, and the machine's load changes too fast for
	// a before-and-after.
	ten, err := startHost10()
	if err != nil {
		return err
	}
	defer ten.close()
	// Each round measures both hosts, one after the other, in an order
	// that alternates; the ratio is the median of the rounds' ratios,
	// since the two halves of a round see the same load, where the
	// machine's load moves the medians of all rounds of one host by ±15 %
	// between runs.
	const seqRounds, seqD = 15, 150 * time.Millisecond
	interleaved := func() (here, there []float64, err error) {
		// The child holds as much heap as this process, so that the
		// garbage collector runs as often in both.
		heap := snapshot().heap
		for r := range seqRounds {
			for k := range 2 {
				if (k+r)%2 == 0 {
					v, err := seqLatency(s, "echo", seqD)
					if err != nil {
						return nil, nil, err
					}
					here = append(here, v)
				} else {
					v, err := ten.measure(seqD, heap)
					if err != nil {
						return nil, nil, err
					}
					there = append(there, v)
				}
			}
		}
		return here, there, nil
	}
	base10, base10b, err := interleaved()
	if err != nil {
		return err
	}

	before := snapshot()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-child=swarm", fmt.Sprintf("-addr=%s/%d,%d", l.Addr(), n1, n2), "-connpar="+strconv.Itoa(swarmConcurrency))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	w := &swarm{cmd: cmd, in: stdin, lines: bufio.NewScanner(out)}
	defer w.kill()
	if err := w.next(); err != nil {
		return err
	}
	if err := waitPlugins(s, idleLocal+n1, 10*time.Second); err != nil {
		return err
	}
	mid := snapshot()
	if _, err := io.WriteString(stdin, "go on\n"); err != nil {
		return err
	}
	if err := w.next(); err != nil {
		return err
	}
	connected := time.Since(start)
	if err := waitPlugins(s, idleLocal+remote, 10*time.Second); err != nil {
		return err
	}
	after := snapshot()
	for i := range fill {
		if _, err := s.Attach(Idle2{}, &envelope.PluginInfo{Name: fmt.Sprintf("fill-%d", i)}); err != nil {
			return err
		}
	}
	total := idleLocal + remote + fill

	// Every plugin still answers.
	for _, name := range []string{"idle-0", fmt.Sprintf("idle-%d", remote-1)} {
		var out Small
		if err := s.CallContext(context.Background(), name, "Echo", payload, &out); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	firstAll, err := warmUp(s, "echo")
	if err != nil {
		return err
	}
	withAll, with10, err := interleaved()
	if err != nil {
		return err
	}

	// Bookkeeping: rounds with and without a poller, alternating.
	const pollRounds, pollD = 10, time.Second
	var (
		maxPoll, maxQuiet []float64
		allCalls, polls   hist
		worst             time.Duration
	)
	for r := range 2 * pollRounds {
		poll := r%2 == 0
		calls, ps, m, err := pollRound(s, "echo", pollD, poll)
		if err != nil {
			return err
		}
		if poll {
			maxPoll = append(maxPoll, float64(m))
			allCalls.merge(calls)
			polls.merge(ps)
			worst = max(worst, m)
		} else {
			maxQuiet = append(maxQuiet, float64(m))
		}
	}

	// Heartbeats: the host's CPU while nothing else happens. The memory
	// the poll rounds freed goes back to the system first: the runtime's
	// scavenger returning it was an eighth of the window's CPU samples,
	// and is not the heartbeats' doing.
	debug.FreeOSMemory()
	if hbProfile != "" {
		f, err := os.Create(hbProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cpu0, child0 := cpuTime(), childCPU(cmd.Process.Pid)
	t0 := time.Now()
	time.Sleep(hbWindow) // the measurement window: nothing to wait for
	el := time.Since(t0)
	if hbProfile != "" {
		pprof.StopCPUProfile()
	}
	hostCPU := float64(cpuTime()-cpu0) / float64(el)
	plugCPU := float64(childCPU(cmd.Process.Pid)-child0) / float64(el)

	per := func(a, b uint64, k int) float64 { return (float64(b) - float64(a)) / float64(k) }
	fmt.Printf("%d plugins: %d idle from a child process (%d dialling at once), %d in this process (Attach: %d, one busy, then %d more idle; the open-file limit is %d), at the host:\n",
		total, remote, swarmConcurrency, idleLocal+fill, idleLocal, fill, limit)
	fmt.Printf("  connect rate          %8.0f plugins/s (%v for all, dial to admitted)\n", float64(remote)/connected.Seconds(), connected.Round(time.Millisecond))
	fmt.Printf("                        %10s %10s\n", "2 fns", "20 fns")
	fmt.Printf("  plugins               %10d %10d\n", n1, n2)
	fmt.Printf("  heap in use           %10.0f %10.0f B/plugin\n", per(before.heap, mid.heap, n1), per(mid.heap, after.heap, n2))
	fmt.Printf("  goroutine stacks      %10.0f %10.0f B/plugin\n", per(before.stack, mid.stack, n1), per(mid.stack, after.stack, n2))
	mem2 := per(before.heap+before.stack, mid.heap+mid.stack, n1)
	mem20 := per(mid.heap+mid.stack, after.heap+after.stack, n2)
	fmt.Printf("  heap + stacks         %10.0f %10.0f B/plugin\n", mem2, mem20)
	fmt.Printf("  process RSS           %10.0f %10.0f B/plugin\n", per(before.rss, mid.rss, n1), per(mid.rss, after.rss, n2))
	fmt.Printf("  goroutines            %10.2f %10.2f /plugin\n", float64(mid.goroutines-before.goroutines)/float64(n1), float64(after.goroutines-mid.goroutines)/float64(n2))
	fmt.Printf("  Connected(true)       p50 %v, max %v (%d polls)\n", polls.quantile(0.5).Round(time.Microsecond), time.Duration(polls.quantile(1)).Round(time.Microsecond), polls.n)
	med := allCalls.quantile(0.5)
	fmt.Printf("  calls while polled    p50 %v, p99 %v, p99.9 %v, max %v; worst per 1 s round, median: %v polled, %v not\n",
		med.Round(time.Microsecond), allCalls.quantile(0.99).Round(time.Microsecond), allCalls.quantile(0.999).Round(time.Microsecond),
		worst.Round(time.Microsecond), time.Duration(median(maxPoll)).Round(time.Microsecond), time.Duration(median(maxQuiet)).Round(time.Microsecond))
	fmt.Printf("  idle CPU over %v     host %.2f%% of a core, plugins' process %.2f%% (heartbeat interval %v, both sides)\n",
		el.Round(100*time.Millisecond), 100*hostCPU, 100*plugCPU, socket.DefaultHeartbeatInterval)
	fmt.Printf("  in-process call       %.1f µs with %d connected, %.1f µs in a host with %d: %.2f× (the median of %d rounds' ratios); before the child connected, %.1f and %.1f µs: %.2f×; the first 200 ms after it, while the heap grew, %.1f µs\n\n",
		median(withAll), total, median(with10), idleLocal, pairRatio(withAll, with10), seqRounds,
		median(base10), median(base10b), pairRatio(base10, base10b), firstAll)

	// The worst call of a round is mostly the machine's noise: what the
	// polls add is the polled rounds' worst above the quiet rounds'.
	excess := time.Duration(median(maxPoll) - median(maxQuiet))
	addTarget("idle", idleTargets[0].what, excess.Round(10*time.Microsecond).String(), idleTargets[0].want, excess <= 2*time.Millisecond)
	addTarget("idle", idleTargets[1].what, fmt.Sprintf("%.2f%%", 100*hostCPU), idleTargets[1].want, hostCPU <= 0.02)
	r := pairRatio(withAll, with10)
	addTarget("idle", idleTargets[2].what, fmt.Sprintf("%.2f×", r), idleTargets[2].want, r <= 1.05)
	addTarget("idle", idleTargets[3].what, fmt.Sprintf("%.1f KiB", mem2/1024), idleTargets[3].want, mem2 <= 16<<10)
	addTarget("idle", idleTargets[4].what, fmt.Sprintf("%.1f KiB", mem20/1024), idleTargets[4].want, mem20 <= 16<<10)
	return nil
}

// host10 is a host in a child process with the idle section's 10
// in-process plugins and nothing else.
type host10 struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

func startHost10() (*host10, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-child=host10")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &host10{cmd: cmd, in: in, lines: bufio.NewScanner(out)}
	if !h.lines.Scan() || h.lines.Text() != "ready" {
		h.close()
		return nil, fmt.Errorf("host10 child did not start: %q", h.lines.Text())
	}
	return h, nil
}

// measure has the child make sequential calls for d, with its heap
// grown to heap bytes first, and returns its µs per call.
func (h *host10) measure(d time.Duration, heap uint64) (float64, error) {
	if _, err := fmt.Fprintln(h.in, d, heap); err != nil {
		return 0, err
	}
	if !h.lines.Scan() {
		return 0, errors.New("host10 child ended")
	}
	v, err := strconv.ParseFloat(h.lines.Text(), 64)
	if err != nil {
		return 0, fmt.Errorf("host10 child: %q", h.lines.Text())
	}
	return v, nil
}

// close ends the child: it shuts down when its stdin closes.
func (h *host10) close() {
	_ = h.in.Close()
	_ = h.cmd.Wait()
}

// runHost10 is the child side of host10: for each duration read from
// stdin it prints the µs per call of sequential calls for that long.
func runHost10() error {
	s := new(socket.Socket)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.Serve(l, socket.Config{Logger: quiet, ShutdownTimeout: time.Minute, AsyncBuffer: 16})
	defer func() { _ = s.Shutdown("") }()
	if _, err := s.Attach(Echoer{}, &envelope.PluginInfo{Name: "echo"}); err != nil {
		return err
	}
	for i := range idleLocal - 1 {
		if _, err := s.Attach(Idle2{}, &envelope.PluginInfo{Name: fmt.Sprintf("local-%d", i)}); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	var ballast []byte // pointer-free: it paces the collector, costs no marking
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		ds, hs, _ := strings.Cut(in.Text(), " ")
		d, err := time.ParseDuration(ds)
		if err != nil {
			return err
		}
		heap, err := strconv.ParseUint(hs, 10, 64)
		if err != nil {
			return err
		}
		ballast = nil
		if own := snapshot().heap; heap > own {
			ballast = make([]byte, heap-own)
		}
		v, err := seqLatency(s, "echo", d)
		if err != nil {
			return err
		}
		fmt.Println(v)
	}
	runtime.KeepAlive(ballast)
	return in.Err()
}

// runSwarm is the child side of idleRun: arg is "host:port/n1,n2". It
// connects n1 plugins with 2 functions, says "connected", waits for a line
// on stdin, connects n2 with 20 functions, says "connected" again, and
// serves until the host lets go or the parent kills it.
func runSwarm(arg string) error {
	addr, ns, ok := strings.Cut(arg, "/")
	a, b, ok2 := strings.Cut(ns, ",")
	n1, err1 := strconv.Atoi(a)
	n2, err2 := strconv.Atoi(b)
	if !ok || !ok2 || err1 != nil || err2 != nil || n1 < 0 || n2 < 0 {
		return fmt.Errorf("bad swarm argument %q, want host:port/n1,n2", arg)
	}
	if err := raiseFileLimit(uint64(n1+n2) + 16); err != nil {
		fmt.Println("error", err)
		return err
	}
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, swarmConcurrency)
		mu    sync.Mutex
		first error
		next  atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	batch := func(k int, v any) error {
		for range k {
			i := next.Add(1) - 1
			slots <- struct{}{}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				fail(err)
				<-slots
				break
			}
			var release sync.Once
			free := func() { release.Do(func() { <-slots }) }
			p := &plugin.Plugin{Logger: quiet, HandshakeTimeout: time.Minute, OnConnect: func(string) { free() }}
			wg.Go(func() {
				if err := p.Start(v, &envelope.PluginInfo{Name: fmt.Sprintf("idle-%d", i)}, conn, nil); err != nil {
					fail(err)
				}
				free()
			})
		}
		// Wait until the last ones are admitted.
		for range swarmConcurrency {
			slots <- struct{}{}
		}
		for range swarmConcurrency {
			<-slots
		}
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	say := func(err error) error {
		if err != nil {
			fmt.Println("error", err)
		} else {
			fmt.Println("connected")
		}
		return err
	}
	if err := say(batch(n1, Idle2{})); err != nil {
		return err
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	if err := say(batch(n2, Idle20{})); err != nil {
		return err
	}
	wg.Wait()
	return nil
}
