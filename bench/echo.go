package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"text/tabwriter"
	"time"
)

// Item is one line of an Order.
type Item struct {
	ID      int    `json:"id"`
	Name    string `json:"name"`
	Price   int    `json:"price"`
	InStock bool   `json:"in_stock"`
}

// Order is the struct payload of the size measurements: a few strings and
// ints and a nested slice of small structs, grown by its items to the size
// wanted.
type Order struct {
	ID       int    `json:"id"`
	Customer string `json:"customer"`
	Email    string `json:"email"`
	Address  string `json:"address"`
	Note     string `json:"note"`
	Created  int64  `json:"created"`
	Total    int    `json:"total"`
	Items    []Item `json:"items"`
}

// makeOrder returns an Order whose JSON is about size bytes (a little
// more, by at most one item).
func makeOrder(size int) Order {
	o := Order{
		ID:       7341,
		Customer: "Ada Lovelace",
		Email:    "ada.lovelace@example.com",
		Address:  "12 St James's Square, London SW1Y 4JH, United Kingdom",
		Note:     "leave at the door; ring twice; the dog is friendly",
		Created:  1764650000,
	}
	n := 0
	for {
		b, _ := json.Marshal(o)
		if len(b) >= size {
			return o
		}
		it := Item{ID: 1000 + n, Name: fmt.Sprintf("widget %04d, blue", n), Price: 199 + 37*n%5000, InStock: n%3 != 0}
		o.Items = append(o.Items, it)
		o.Total += it.Price
		n++
	}
}

// EchoOrder and EchoBytes are the plugsock plugin's size workloads.
func (Echoer) EchoOrder(_ context.Context, in Order) (Order, error) { return in, nil }

// EchoBytes returns its input.
func (Echoer) EchoBytes(_ context.Context, in []byte) ([]byte, error) { return in, nil }

// EchoOrder and EchoBytes are net/rpc's.
func (EchoService) EchoOrder(in Order, out *Order) error { *out = in; return nil }

// EchoBytes returns its input.
func (EchoService) EchoBytes(in []byte, out *[]byte) error { *out = in; return nil }

// anyCaller is a client that can call any method with any payload; the
// method is plugsock's name for it ("EchoOrder").
type anyCaller interface {
	callAny(method string, in, out any) error
}

func (c *plugsockClient) callAny(method string, in, out any) error {
	return c.s.CallContext(context.Background(), "echo", method, in, out)
}

func (c *rpcClient) callAny(method string, in, out any) error {
	return c.c.Call("Echo."+method, in, out)
}

// echoSize is one payload of the size measurements.
type echoSize struct {
	name, method string
	in           any
	newOut       func() any
	want         float64 // the most plugsock ÷ gob may be
}

func echoSizes() []echoSize {
	bs := make([]byte, 1<<20)
	for i := range bs {
		bs[i] = byte(i * 7)
	}
	return []echoSize{
		{"1 KiB struct", "EchoOrder", makeOrder(1 << 10), func() any { return new(Order) }, 1.5},
		{"64 KiB struct", "EchoOrder", makeOrder(64 << 10), func() any { return new(Order) }, 2.5},
		{"1 MiB []byte", "EchoBytes", bs, func() any { return new([]byte) }, 3},
	}
}

// echoRun measures the sequential echo of every size through plugsock and
// the systems beside it, in interleaved rounds, and prints the table and
// the targets (the 16 B target is the comparison's, in compare).
func echoRun(rounds int, d time.Duration, verbose bool) error {
	var sel []system
	for _, s := range systems() {
		switch s.name {
		// jsonrpc2 would take 0.4 s a call at 1 MiB: not cheap enough.
		case "plugsock", "net/rpc gob", "net/rpc JSON":
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
		c, err := s.start(false)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		clients[i] = c
	}
	sizes := echoSizes()
	// us[size][system] is one figure per round.
	us := make([][][]float64, len(sizes))
	allocs := make([][][]float64, len(sizes))
	for k, sz := range sizes {
		us[k] = make([][]float64, len(sel))
		allocs[k] = make([][]float64, len(sel))
		for i, c := range clients {
			out := sz.newOut()
			if err := c.(anyCaller).callAny(sz.method, sz.in, out); err != nil {
				return fmt.Errorf("%s, %s: %w", sel[i].name, sz.name, err)
			}
			if !reflect.DeepEqual(reflect.ValueOf(out).Elem().Interface(), sz.in) {
				return fmt.Errorf("%s, %s: the echo differs from what was sent", sel[i].name, sz.name)
			}
		}
	}
	for r := range rounds {
		for k, sz := range sizes {
			for j := range sel {
				i := (j + r + k) % len(sel)
				u, a, err := measureSeqAny(clients[i].(anyCaller), sz, d)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", sel[i].name, sz.name, err)
				}
				us[k][i] = append(us[k][i], u)
				allocs[k][i] = append(allocs[k][i], a)
				if verbose {
					fmt.Printf("round %d  %-14s %-22s %9.1f µs  %8.0f allocs\n", r+1, sz.name, sel[i].name, u, a)
				}
			}
		}
	}
	ref, gob := 0, 0
	for i, s := range sel {
		if s.name == "net/rpc gob" {
			gob = i
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "sequential echo, µs/call (allocs/call)\t")
	for _, s := range sel {
		fmt.Fprintf(tw, "%s\t", s.name)
	}
	fmt.Fprintf(tw, "plugsock ÷ gob\t\n")
	for k, sz := range sizes {
		fmt.Fprintf(tw, "%s\t", sz.name)
		for i := range sel {
			fmt.Fprintf(tw, "%.1f (%.0f)\t", median(us[k][i]), median(allocs[k][i]))
		}
		fmt.Fprintf(tw, "%.2f\t\n", median(us[k][ref])/median(us[k][gob]))
	}
	_ = tw.Flush()
	fmt.Println()
	for k, sz := range sizes {
		r := median(us[k][ref]) / median(us[k][gob])
		addTarget("echo", echoWhat(sz), fmt.Sprintf("%.2f×", r), fmt.Sprintf("≤ %.1f×", sz.want), r <= sz.want)
	}
	return nil
}

// measureSeqAny echoes sz one call after another for about d (at least
// 3 calls) and returns µs and allocations (both sides) per call.
func measureSeqAny(c anyCaller, sz echoSize, d time.Duration) (us, allocs float64, err error) {
	out := sz.newOut()
	for range 5 {
		if err := c.callAny(sz.method, sz.in, out); err != nil {
			return 0, 0, err
		}
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	n := 0
	start := time.Now()
	for n < 3 || time.Since(start) < d {
		out := sz.newOut()
		if err := c.callAny(sz.method, sz.in, out); err != nil {
			return 0, 0, err
		}
		n++
	}
	el := time.Since(start)
	runtime.ReadMemStats(&m1)
	return float64(el.Nanoseconds()) / 1e3 / float64(n), float64(m1.Mallocs-m0.Mallocs) / float64(n), nil
}
