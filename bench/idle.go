package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
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

// idleRun connects n idle plugins from a child process to a socket in
// this one and reports what each costs the host.
func idleRun(n int) error {
	if err := raiseFileLimit(uint64(n) + 256); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: quiet, ShutdownTimeout: time.Minute, AsyncBuffer: 16})
	before := snapshot()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-child=swarm", "-addr="+l.Addr().String()+"/"+strconv.Itoa(n), "-connpar="+strconv.Itoa(swarmConcurrency))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := bufio.NewScanner(out)
	var connected time.Duration
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "connected") {
			connected = time.Since(start)
			break
		}
		if strings.HasPrefix(lines.Text(), "error") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return errors.New(lines.Text())
		}
	}
	if connected == 0 {
		_ = cmd.Wait()
		return errors.New("swarm ended before it connected")
	}
	if got := s.Stats().Plugins; got != n {
		return fmt.Errorf("host sees %d plugins, want %d", got, n)
	}
	after := snapshot()

	// Every plugin still answers.
	if _, err := s.Call("", "idle-0", "Echo", payload); err != nil {
		return err
	}
	if _, err := s.Call("", fmt.Sprintf("idle-%d", n-1), "Echo", payload); err != nil {
		return err
	}
	t0 := time.Now()
	if err := s.Shutdown(""); err != nil {
		return err
	}
	shut := time.Since(t0)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("swarm: %w", err)
	}

	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	fmt.Printf("%d idle plugins connected from a child process (%d dialling at once), at the host:\n", n, swarmConcurrency)
	fmt.Printf("  connect rate          %8.0f plugins/s (%v for all, dial to admitted)\n", float64(n)/connected.Seconds(), connected.Round(time.Millisecond))
	fmt.Printf("  heap in use           %8.0f B/plugin\n", per(before.heap, after.heap))
	fmt.Printf("  goroutine stacks      %8.0f B/plugin\n", per(before.stack, after.stack))
	fmt.Printf("  heap + stacks         %8.0f B/plugin (%.1f KiB; target ≤ 32 KiB)\n", per(before.heap+before.stack, after.heap+after.stack), per(before.heap+before.stack, after.heap+after.stack)/1024)
	fmt.Printf("  runtime Sys           %8.0f B/plugin\n", per(before.sys, after.sys))
	fmt.Printf("  process RSS           %8.0f B/plugin\n", per(before.rss, after.rss))
	fmt.Printf("  goroutines            %8.2f /plugin\n", float64(after.goroutines-before.goroutines)/float64(n))
	fmt.Printf("  shutdown of all       %v\n\n", shut.Round(time.Millisecond))
	return nil
}

// runSwarm is the child side of idleRun: addr is "host:port/n".
func runSwarm(arg string) error {
	addr, ns, ok := strings.Cut(arg, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil {
		return fmt.Errorf("bad swarm argument %q", arg)
	}
	if err := raiseFileLimit(uint64(n) + 256); err != nil {
		fmt.Println("error", err)
		return err
	}
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, swarmConcurrency)
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for i := range n {
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
			if err := p.Start(Echoer{}, &envelope.PluginInfo{Name: fmt.Sprintf("idle-%d", i)}, conn, nil); err != nil {
				fail(err)
			}
			free()
		})
	}
	// Wait until the last ones are admitted.
	for range swarmConcurrency {
		slots <- struct{}{}
	}
	mu.Lock()
	err = first
	mu.Unlock()
	if err != nil {
		fmt.Println("error", err)
	} else {
		fmt.Println("connected")
	}
	wg.Wait()
	return err
}
