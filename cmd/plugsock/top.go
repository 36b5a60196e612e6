package main

// plugsock top: a live view of a running host's plugins, drawn from the
// admin API's GET /api/stats (cumulative counts, differenced here) and
// GET /api/exits.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// topAPI is what top needs of admin.Client; tests put a fake in its place.
type topAPI interface {
	Stats(ctx context.Context) (*admin.Stats, error)
	Exits(ctx context.Context) ([]socket.Exit, error)
}

var _ topAPI = (*admin.Client)(nil)

// newTopAPI returns the client for the admin API that cfg names.
var newTopAPI = func(cfg adminConfig) topAPI {
	return &admin.Client{BaseURL: cfg.BaseURL, Token: cfg.Token, HTTP: &http.Client{}}
}

// topTerminal reports whether w is a terminal, where top redraws in
// place; tests say so of a buffer.
var topTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

const (
	topUsage   = "[flags]"
	topSummary = `Show a live view of a running host's plugins, refreshed every --interval.

For each plugin: its connections, health, calls and failed calls per
second, the median and 99th percentile latency, estimated from the
duration histogram's buckets, over the last interval, its calls in all,
and the restarts of a launched plugin; below, the last exits of launched
plugins' processes. On a terminal the view is redrawn in place until
interrupted; otherwise a view is printed every interval, a blank line
between two. --once prints one view, over one interval, and exits; --json
prints each view as one line of JSON. Once the first view is shown, a
request that fails, or gets no answer within --timeout, is reported and
tried again at the next interval.`
)

// topExits is how many of the last exits the view shows.
const topExits = 5

// topNameWidth bounds the width of a plugin's name in the view.
const topNameWidth = 32

func init() {
	c := command{name: "top", usage: topUsage, summary: topSummary}
	c.run = func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		var f clientFlags
		fs := c.flags()
		f.add(fs)
		interval := fs.Duration("interval", time.Second, "how often to refresh the view")
		once := fs.Bool("once", false, "print one view, over one interval, and exit")
		pos, code, ok := c.parse(fs, args, stdout, stderr)
		switch {
		case !ok:
			return code
		case len(pos) > 0:
			return c.usageError(stderr, "too many arguments")
		case f.timeout <= 0:
			return c.usageError(stderr, "--timeout must be positive, such as 500ms or 5s, not %v", f.timeout)
		case *interval <= 0:
			return c.usageError(stderr, "--interval must be positive, such as 500ms or 2s, not %v", *interval)
		}
		cfg := adminConfig{BaseURL: f.baseURL()}
		cfg.Token, _ = f.tokenSource()
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		t := &top{c: c, f: &f, api: newTopAPI(cfg), interval: *interval, stdout: stdout, stderr: stderr}
		if *once {
			return t.once(ctx)
		}
		return t.run(ctx, !f.json && topTerminal(stdout))
	}
	register(c)
}

// top is one run of the command.
type top struct {
	c              command
	f              *clientFlags
	api            topAPI
	interval       time.Duration
	stdout, stderr io.Writer
}

// sample is one answer of each route.
type sample struct {
	stats *admin.Stats
	exits []socket.Exit
}

// fetch asks the admin API for a sample, each request bounded by
// --timeout.
func (t *top) fetch(ctx context.Context) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, t.f.timeout)
	defer cancel()
	st, err := t.api.Stats(ctx)
	if err != nil {
		return sample{}, err
	}
	exits, err := t.api.Exits(ctx)
	if err != nil {
		return sample{}, err
	}
	return sample{st, exits}, nil
}

// failure describes err as reportError would, on one line without the
// command's name, and whether it is worth trying again: a refused token
// is not.
func (t *top) failure(err error) (msg string, retry bool) {
	var b strings.Builder
	reportError(t.c, t.f, err, &b)
	msg = strings.TrimSpace(strings.TrimPrefix(b.String(), "plugsock top: "))
	return msg, !errors.Is(err, envelope.ErrUnauthorized)
}

// once prints one view over one interval.
func (t *top) once(ctx context.Context) int {
	first, err := t.fetch(ctx)
	if err != nil {
		return reportError(t.c, t.f, err, t.stderr)
	}
	select {
	case <-time.After(t.interval):
	case <-ctx.Done():
		return exitOK
	}
	second, err := t.fetch(ctx)
	if err != nil {
		return reportError(t.c, t.f, err, t.stderr)
	}
	t.show(topViewOf(first.stats, second), false, "")
	return exitOK
}

// run shows a view every interval until ctx ends: redrawn in place on a
// terminal, one after another elsewhere. The first request must succeed,
// so that a wrong address or token is reported at once; after that a
// failed one is reported and tried again at the next interval.
func (t *top) run(ctx context.Context, terminal bool) int {
	var prev *admin.Stats
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		s, err := t.fetch(ctx)
		switch {
		case ctx.Err() != nil:
			return exitOK
		case err != nil:
			msg, retry := t.failure(err)
			if n == 0 || !retry {
				fmt.Fprintf(t.stderr, "plugsock top: %s\n", msg)
				return exitFail
			}
			if terminal {
				t.show(topViewOf(nil, sample{stats: prev}), true, msg+"; trying again")
			} else {
				fmt.Fprintf(t.stderr, "plugsock top: %s; trying again\n", msg)
			}
		default:
			if n > 0 && !terminal && !t.f.json {
				fmt.Fprintln(t.stdout)
			}
			t.show(topViewOf(prev, s), terminal, "")
			prev = s.stats
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return exitOK
		}
	}
}

// show prints v: as JSON with --json, else as text, after moving the
// cursor home and clearing the screen when redraw is set. note, when not
// empty, is a line about the last request.
func (t *top) show(v topView, redraw bool, note string) {
	var b bytes.Buffer
	if t.f.json {
		if note != "" {
			return // reported on stderr
		}
		out, err := json.Marshal(v)
		if err != nil {
			return
		}
		b.Write(safeJSON(out))
		b.WriteByte('\n')
		_, _ = t.stdout.Write(b.Bytes())
		return
	}
	if redraw {
		b.WriteString("\x1b[H\x1b[2J")
	}
	v.write(&b, t.f.baseURL(), t.interval, note)
	_, _ = t.stdout.Write(b.Bytes())
}

// topView is what one view shows.
type topView struct {
	At      time.Time     `json:"at"`
	Plugins []topRow      `json:"plugins"`
	Exits   []socket.Exit `json:"exits"` // the last few, oldest first
}

// topRow is one plugin's line. The rates and percentiles are over the
// interval since the view before; nil in the first view, and nil
// percentiles when no call was timed in the interval.
type topRow struct {
	Plugin          string   `json:"plugin"`
	Connections     int      `json:"connections"`
	Health          string   `json:"health"` // "" when not checked
	CallsPerSecond  *float64 `json:"callsPerSecond"`
	ErrorsPerSecond *float64 `json:"errorsPerSecond"`
	P50             *float64 `json:"p50Seconds"`
	P99             *float64 `json:"p99Seconds"`
	Calls           uint64   `json:"calls"`
	Failed          uint64   `json:"failed"`
	Restarts        uint64   `json:"restarts"`
}

// topViewOf makes the view of cur, with rates from its difference with
// prev (nil for none).
func topViewOf(prev *admin.Stats, cur sample) topView {
	v := topView{Plugins: []topRow{}, Exits: []socket.Exit{}}
	if cur.stats == nil {
		return v
	}
	st := cur.stats
	v.At = st.At
	before := make(map[string]*socket.PluginCalls)
	var dt float64
	if prev != nil {
		dt = st.At.Sub(prev.At).Seconds()
		for i := range prev.Plugins {
			before[prev.Plugins[i].Plugin] = &prev.Plugins[i]
		}
	}
	health := healthByBase(st.Health)
	for _, p := range st.Plugins {
		r := topRow{
			Plugin:      p.Plugin,
			Connections: p.Connections,
			Calls:       p.Calls.Total(),
			Failed:      p.Calls.Failed(),
			Restarts:    p.Restarts,
		}
		if p.Connections > 0 {
			r.Health = health[p.Plugin]
		}
		if b := before[p.Plugin]; b != nil && dt > 0 && r.Calls >= b.Calls.Total() && r.Failed >= b.Calls.Failed() {
			calls := float64(r.Calls-b.Calls.Total()) / dt
			errs := float64(r.Failed-b.Calls.Failed()) / dt
			r.CallsPerSecond, r.ErrorsPerSecond = &calls, &errs
			diff := make([]uint64, len(p.Calls.Durations))
			for i, n := range p.Calls.Durations {
				if i < len(b.Calls.Durations) && n >= b.Calls.Durations[i] {
					diff[i] = n - b.Calls.Durations[i]
				}
			}
			if q, ok := quantile(0.5, st.Bounds, diff); ok {
				r.P50 = &q
			}
			if q, ok := quantile(0.99, st.Bounds, diff); ok {
				r.P99 = &q
			}
		}
		v.Plugins = append(v.Plugins, r)
	}
	// The last exit of each plugin, the last few of them.
	seen := make(map[string]bool)
	for i := len(cur.exits) - 1; i >= 0 && len(v.Exits) < topExits; i-- {
		if x := cur.exits[i]; !seen[x.Plugin] {
			seen[x.Plugin] = true
			v.Exits = append(v.Exits, x)
		}
	}
	for i, j := 0, len(v.Exits)-1; i < j; i, j = i+1, j-1 {
		v.Exits[i], v.Exits[j] = v.Exits[j], v.Exits[i]
	}
	return v
}

// healthByBase maps each plugin's name without "@version", which is how
// the counts name it, to its health: "healthy", "degraded", "unhealthy",
// or "checking" before the first check has answered; the worst of its
// versions'. Plugins whose health is not checked are left out.
func healthByBase(hs []socket.Health) map[string]string {
	rank := map[string]int{"healthy": 1, "checking": 2, "degraded": 3, "unhealthy": 4}
	out := make(map[string]string)
	for _, h := range hs {
		if !h.Checks {
			continue
		}
		s := string(h.Status)
		if h.Status == socket.HealthUnknown {
			s = "checking"
		}
		base, _, _ := strings.Cut(h.Plugin, "@")
		if rank[s] > rank[out[base]] {
			out[base] = s
		}
	}
	return out
}

// quantile estimates the q-quantile of the calls counted in buckets with
// upper bounds bounds (the last bucket, beyond them, has none), as
// Prometheus's histogram_quantile does: linearly within the bucket it
// falls in, and the last bound for the bucket beyond. It reports false
// when no call was counted.
func quantile(q float64, bounds []float64, counts []uint64) (float64, bool) {
	var n uint64
	for _, c := range counts {
		n += c
	}
	if n == 0 || len(bounds) == 0 {
		return 0, false
	}
	rank := q * float64(n)
	var cum float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			if i >= len(bounds) {
				return bounds[len(bounds)-1], true
			}
			lower := 0.0
			if i > 0 {
				lower = bounds[i-1]
			}
			return lower + (bounds[i]-lower)*(rank-cum)/float64(c), true
		}
		cum += float64(c)
	}
	return bounds[len(bounds)-1], true
}

// write prints the view as text:
//
//	plugsock top · http://127.0.0.1:7701 · 15:04:05, every 1s
//	2 plugins connected
//
//	PLUGIN  CONN  HEALTH   CALLS/S  ERRORS/S     P50     P99  CALLS  RESTARTS
//	calc       1  healthy    120.0       3.0  0.4ms   9.8ms   1234         0
//
//	Last exits:
//	  calc  pid 4242  15:03:58  killed by signal 9 (SIGKILL)  restarting in 1.2s
func (v topView) write(w io.Writer, addr string, interval time.Duration, note string) {
	head := "plugsock top · " + text(addr)
	if !v.At.IsZero() {
		head += " · " + v.At.Local().Format("15:04:05")
	}
	fmt.Fprintf(w, "%s, every %v\n", head, interval)
	if note != "" {
		fmt.Fprintln(w, oneLine(note))
	}
	connected, gone := 0, 0
	for _, r := range v.Plugins {
		if r.Connections > 0 {
			connected++
		} else {
			gone++
		}
	}
	summary := plural(connected, "plugin") + " connected"
	if gone > 0 {
		summary += fmt.Sprintf(", %d gone", gone)
	}
	fmt.Fprintln(w, summary)
	if len(v.Plugins) > 0 {
		fmt.Fprintln(w)
		rows := [][]string{{"PLUGIN", "CONN", "HEALTH", "CALLS/S", "ERRORS/S", "P50", "P99", "CALLS", "RESTARTS"}}
		for _, r := range v.Plugins {
			rows = append(rows, []string{
				abbreviate(r.Plugin, topNameWidth), strconv.Itoa(r.Connections), orDash(text(r.Health)),
				perSecond(r.CallsPerSecond), perSecond(r.ErrorsPerSecond), latency(r.P50), latency(r.P99),
				strconv.FormatUint(r.Calls, 10), strconv.FormatUint(r.Restarts, 10),
			})
		}
		columns(w, rows, []bool{false, true, false, true, true, true, true, true, true})
	}
	if len(v.Exits) > 0 {
		fmt.Fprint(w, "\nLast exits:\n")
		t := &table{indent: "  "}
		for _, x := range v.Exits {
			t.row(abbreviate(x.Plugin, topNameWidth), "pid "+strconv.Itoa(x.PID), x.At.Local().Format("15:04:05"), x.Status, x.Next)
		}
		t.write(w)
	}
}

// columns lays out rows, whose cells are escaped already, in columns
// separated by two spaces; right[i] aligns column i to the right, as
// numbers read best.
func columns(w io.Writer, rows [][]string, right []bool) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				line.WriteString("  ")
			}
			if i < len(right) && right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(w, b.String())
}

// perSecond shows a rate, "-" when there is none yet.
func perSecond(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

// latency shows a duration in seconds in the unit that suits it, "-" when
// there is none.
func latency(v *float64) string {
	if v == nil {
		return "-"
	}
	switch s := *v; {
	case s < 0.001:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 0.01:
		return fmt.Sprintf("%.2fms", s*1e3)
	case s < 1:
		return fmt.Sprintf("%.1fms", s*1e3)
	default:
		return fmt.Sprintf("%.2fs", s)
	}
}
