package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Pumper is a plugin that pushes async items on request.
type Pumper struct {
	hook chan any
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// UseAsyncHook receives the async channel.
func (p *Pumper) UseAsyncHook(h chan any) { p.hook = h }

// Echo returns its input.
func (p *Pumper) Echo(_ context.Context, in Small) (Small, error) { return in, nil }

// Start pushes in through the hook until Stop.
func (p *Pumper) Start(_ context.Context, in Small) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		return false, errors.New("already pumping")
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	stop, done := p.stop, p.done
	go func() {
		defer close(done)
		for {
			select {
			case p.hook <- in:
			case <-stop:
				return
			}
		}
	}()
	return true, nil
}

// Stop ends the pumping and pushes one marker item after the last one.
func (p *Pumper) Stop(_ context.Context, marker string) (bool, error) {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop, p.done = nil, nil
	p.mu.Unlock()
	if stop == nil {
		return false, errors.New("not pumping")
	}
	close(stop)
	<-done
	p.hook <- marker
	return true, nil
}

// extraHost is a socket with in-process plugins over loopback TCP.
type extraHost struct {
	s    *socket.Socket
	addr string
	wg   sync.WaitGroup
}

func newExtraHost() (*extraHost, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &extraHost{s: new(socket.Socket), addr: l.Addr().String()}
	h.s.Serve(l, socket.Config{Logger: quiet})
	return h, nil
}

// plug connects v as name and waits until it is admitted; it returns
// how long that took and a channel that receives what Start returned.
func (h *extraHost) plug(v any, name string) (time.Duration, <-chan error, error) {
	start := time.Now()
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		return 0, nil, err
	}
	connected := make(chan string, 1)
	ended := make(chan error, 1)
	p := &plugin.Plugin{Logger: quiet, OnConnect: func(n string) { connected <- n }}
	h.wg.Go(func() { ended <- p.Start(v, &envelope.PluginInfo{Name: name}, conn, nil) })
	select {
	case <-connected:
		return time.Since(start), ended, nil
	case err := <-ended:
		return 0, nil, err
	case <-time.After(timeout):
		return 0, nil, errors.New("plugin did not connect in time")
	}
}

func (h *extraHost) close() error {
	err := h.s.Shutdown("")
	h.wg.Wait()
	return err
}

type extraFigure struct {
	name, unit string
	vals       []float64
	measure    func(d time.Duration) (float64, error)
}

func extras(rounds int, d time.Duration, verbose bool) error {
	var hosts []*extraHost
	defer func() {
		for _, h := range hosts {
			_ = h.close()
		}
	}()
	host := func() (*extraHost, error) {
		h, err := newExtraHost()
		if err == nil {
			hosts = append(hosts, h)
		}
		return h, err
	}
	broadcast := func(n int) (func(time.Duration) (float64, error), error) {
		h, err := host()
		if err != nil {
			return nil, err
		}
		for i := range n {
			if _, _, err := h.plug(&Pumper{}, fmt.Sprintf("echo-%d", i)); err != nil {
				return nil, err
			}
		}
		return func(d time.Duration) (float64, error) {
			n0 := 0
			start := time.Now()
			for time.Since(start) < d {
				res, errs := h.s.Broadcast("", "Echo", payload)
				if len(errs) > 0 || len(res) != n {
					return 0, fmt.Errorf("broadcast: %d results, errors %v", len(res), errs)
				}
				n0++
			}
			return float64(time.Since(start).Microseconds()) / float64(n0), nil
		}, nil
	}
	b10, err := broadcast(10)
	if err != nil {
		return err
	}
	b100, err := broadcast(100)
	if err != nil {
		return err
	}

	ah, err := host()
	if err != nil {
		return err
	}
	if _, _, err := ah.plug(&Pumper{}, "pump"); err != nil {
		return err
	}
	if _, err := ah.s.Async(); err != nil { // the connect event
		return err
	}
	asyncRate := func(d time.Duration) (float64, error) {
		if _, err := ah.s.Call("", "pump", "Start", payload); err != nil {
			return 0, err
		}
		n := 0
		start := time.Now()
		for time.Since(start) < d {
			if _, err := ah.s.Async(); err != nil {
				return 0, err
			}
			n++
		}
		el := time.Since(start)
		// Stop through a call while reading on: the plugin's items are
		// ahead of the answer on the wire.
		stopped := make(chan error, 1)
		go func() {
			_, err := ah.s.Call("", "pump", "Stop", "end")
			stopped <- err
		}()
		for {
			it, err := ah.s.Async()
			if err != nil {
				return 0, err
			}
			if it.Payload == "end" {
				break
			}
		}
		if err := <-stopped; err != nil {
			return 0, err
		}
		return float64(n) / el.Seconds(), nil
	}

	hh, err := host()
	if err != nil {
		return err
	}
	handshake := func(d time.Duration) (float64, error) {
		var total time.Duration
		n := 0
		start := time.Now()
		for time.Since(start) < d {
			took, ended, err := hh.plug(&Pumper{}, "hs")
			if err != nil {
				return 0, err
			}
			total += took
			n++
			hh.s.Unplug("", "hs")
			if err := <-ended; err != nil {
				return 0, err
			}
		}
		return float64(total.Microseconds()) / float64(n), nil
	}

	figs := []*extraFigure{
		{name: "broadcast to 10 plugins", unit: "µs", measure: b10},
		{name: "broadcast to 100 plugins", unit: "µs", measure: b100},
		{name: "async hook → Async()", unit: "items/s", measure: asyncRate},
		{name: "handshake (dial → admitted)", unit: "µs", measure: handshake},
	}
	for r := range rounds {
		for k := range figs {
			f := figs[(k+r)%len(figs)]
			v, err := f.measure(d)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			f.vals = append(f.vals, v)
			if verbose {
				fmt.Printf("round %d  %-30s %10.1f %s\n", r+1, f.name, v, f.unit)
			}
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "plugsock, in-process plugins over TCP\tmedian\t\t\n")
	for _, f := range figs {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t\n", f.name, median(f.vals), f.unit)
	}
	_ = tw.Flush()
	fmt.Println()
	return nil
}
