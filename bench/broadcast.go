package main

import (
	"fmt"
	"net"
	"net/rpc"
	"os"
	"sync"
	"text/tabwriter"
	"time"
)

// broadcastNs are the plugin counts of the broadcast measurement; the
// exponent is fitted over all of them, the ratio target is at the last.
var broadcastNs = []int{100, 300, 1000}

// gobFleet is n net/rpc gob connections, each served by its own
// goroutine on the server side (ServeConn): n servers as the host sees
// them.
type gobFleet struct {
	clients []*rpc.Client
	stop    func()
}

func newGobFleet(n int) (*gobFleet, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &gobFleet{stop: serveNetRPC(l, false)}
	for range n {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			f.close()
			return nil, err
		}
		f.clients = append(f.clients, rpc.NewClient(conn))
	}
	return f, nil
}

func (f *gobFleet) close() {
	for _, c := range f.clients {
		_ = c.Close()
	}
	f.stop()
}

// broadcast calls every server at once, a goroutine per server, and
// waits for every answer.
func (f *gobFleet) broadcast() error {
	var (
		wg   sync.WaitGroup
		outs = make([]Small, len(f.clients))
		errs = make([]error, len(f.clients))
	)
	in := payload
	for i, c := range f.clients {
		wg.Go(func() { errs[i] = c.Call("Echo.Echo", in, &outs[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return err
		}
		if outs[i] != in {
			return fmt.Errorf("server %d echoed %+v", i, outs[i])
		}
	}
	return nil
}

// broadcastRun measures a broadcast to 100, 300 and 1000 in-process
// plugsock plugins over loopback TCP beside as many net/rpc gob servers
// called a goroutine each, in interleaved rounds.
func broadcastRun(rounds int, d time.Duration, verbose bool) error {
	if err := raiseFileLimit(uint64(4*sumInts(broadcastNs)) + 256); err != nil {
		return err
	}
	type pair struct {
		h    *extraHost
		gob  *gobFleet
		ps   []float64
		gobs []float64
	}
	pairs := make([]*pair, len(broadcastNs))
	defer func() {
		for _, p := range pairs {
			if p == nil {
				continue
			}
			if p.h != nil {
				_ = p.h.close()
			}
			if p.gob != nil {
				p.gob.close()
			}
		}
	}()
	for k, n := range broadcastNs {
		p := new(pair)
		pairs[k] = p
		h, err := newExtraHost()
		if err != nil {
			return err
		}
		p.h = h
		for i := range n {
			if _, _, err := h.plug(Echoer{}, fmt.Sprintf("echo-%d", i)); err != nil {
				return fmt.Errorf("plugin %d of %d: %w", i, n, err)
			}
		}
		if p.gob, err = newGobFleet(n); err != nil {
			return err
		}
	}
	psOnce := func(p *pair, n int) error {
		res, errs := p.h.s.Broadcast("", "Echo", payload)
		if len(errs) > 0 || len(res) != n {
			return fmt.Errorf("broadcast: %d results, %d errors (%v)", len(res), len(errs), errs)
		}
		return nil
	}
	timeIt := func(f func() error) (float64, error) {
		for range 3 { // warm up
			if err := f(); err != nil {
				return 0, err
			}
		}
		k := 0
		start := time.Now()
		for k < 5 || time.Since(start) < d {
			if err := f(); err != nil {
				return 0, err
			}
			k++
		}
		return float64(time.Since(start).Nanoseconds()) / 1e3 / float64(k), nil
	}
	for r := range rounds {
		for k, n := range broadcastNs {
			p := pairs[k]
			order := []bool{r%2 == 0, r%2 != 0} // true: plugsock first
			for _, psFirst := range order {
				if psFirst {
					v, err := timeIt(func() error { return psOnce(p, n) })
					if err != nil {
						return fmt.Errorf("plugsock, %d plugins: %w", n, err)
					}
					p.ps = append(p.ps, v)
				} else {
					v, err := timeIt(p.gob.broadcast)
					if err != nil {
						return fmt.Errorf("gob, %d servers: %w", n, err)
					}
					p.gobs = append(p.gobs, v)
				}
			}
			if verbose {
				fmt.Printf("round %d  broadcast to %4d  plugsock %9.0f µs  gob %9.0f µs\n", r+1, n, p.ps[len(p.ps)-1], p.gobs[len(p.gobs)-1])
			}
		}
	}
	var ns, pst, gobt []float64
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "broadcast to N, µs\tplugsock\tnet/rpc gob, goroutine per server\tplugsock ÷ gob\t\n")
	for k, n := range broadcastNs {
		a, b := median(pairs[k].ps), median(pairs[k].gobs)
		ns, pst, gobt = append(ns, float64(n)), append(pst, a), append(gobt, b)
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t\n", n, a, b, a/b)
	}
	_ = tw.Flush()
	ke, kg := fitExponent(ns, pst), fitExponent(ns, gobt)
	fmt.Printf("growth exponent, fitted over N = %v: plugsock %.3f, gob %.3f\n\n", broadcastNs, ke, kg)
	last := len(broadcastNs) - 1
	r := pst[last] / gobt[last]
	addTarget("broadcast", broadcastRatioWhat(), fmt.Sprintf("%.2f×", r), "≤ 1.0×", r <= 1)
	addTarget("broadcast", "broadcast growth exponent, plugsock", fmt.Sprintf("N^%.3f", ke), "≤ N^1.05", ke <= 1.05)
	return nil
}

func sumInts(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}
