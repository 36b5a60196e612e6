package socket_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// ChaosIn is what the chaos test's plugin method takes: a nonce to send
// back, and how long to work first.
type ChaosIn struct {
	Nonce string `json:"nonce"`
	Delay int64  `json:"delay"` // nanoseconds
}

// Chaos is the plugin the chaos test runs, over and over.
type Chaos struct{}

// Echo works for in.Delay, then returns in.Nonce.
func (Chaos) Echo(ctx context.Context, in ChaosIn) (string, error) {
	if in.Delay > 0 {
		work := time.NewTimer(time.Duration(in.Delay))
		defer work.Stop()
		select {
		case <-work.C:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return in.Nonce, nil
}

// countLog counts the socket's log records by level and message.
type countLog struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (c *countLog) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := r.Level.String() + " " + strings.TrimPrefix(r.Message, "plugsock: ")
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" && r.Level >= slog.LevelWarn {
			reason := a.Value.String()
			if i := strings.IndexAny(reason, "0123456789"); i >= 0 {
				reason = reason[:i] + "…" // drop addresses, sizes and ids
			}
			key += " (" + reason + ")"
		}
		return true
	})
	c.n[key]++
	return nil
}
func (c *countLog) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countLog) WithGroup(string) slog.Handler      { return c }

// chaosSlot is one plugin name, served by one plugin after another.
type chaosSlot struct {
	name string
	p    *plugin.Plugin
	conn net.Conn
	done chan error // what the current plugin's Start returned
}

// TestChaos cuts plugins off and replaces them at random while 32
// goroutines call them with random deadlines and strangers send garbage.
// Every call must return within its deadline plus chaosBound, with its own
// answer or an error of a known kind, and nothing may outlive Shutdown.
func TestChaos(t *testing.T) {
	const (
		slots      = 6
		callers    = 32
		strangers  = 2
		chaosBound = 500 * time.Millisecond
	)
	run := 3 * time.Second
	if testing.Short() {
		run = time.Second
	}
	ignore := goleak.IgnoreCurrent()
	logs := &countLog{n: map[string]int{}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	s := new(socket.Socket)
	gone := make(map[string]chan bool)
	for i := range slots {
		gone[fmt.Sprint("chaos-", i)] = make(chan bool, 64)
	}
	s.RegisterCallback(func(info *envelope.PluginInfo, graceful bool) {
		if ch := gone[info.Name]; ch != nil {
			ch <- graceful
		}
	})
	const token = "chaos-token"
	s.Serve(ln, socket.Config{
		Logger:            slog.New(logs),
		Token:             token, // or a stranger could take a name while it is free
		ShutdownTimeout:   time.Second,
		HandshakeTimeout:  time.Second,
		HeartbeatInterval: 200 * time.Millisecond,
		HeartbeatMisses:   3,
		WriteTimeout:      time.Second,
		MaxInFlight:       8,
	})

	var plugins sync.WaitGroup // every plugin's Start
	start := func(sl *chaosSlot) error {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		connected := make(chan struct{})
		sl.p = &plugin.Plugin{Logger: quiet, Token: token, OnConnect: func(string) { close(connected) }}
		sl.conn, sl.done = conn, make(chan error, 1)
		p, done := sl.p, sl.done
		plugins.Go(func() { done <- p.Start(Chaos{}, &envelope.PluginInfo{Name: sl.name}, conn, nil) })
		select {
		case <-connected:
			return nil
		case err := <-done:
			done <- err
			return fmt.Errorf("%s refused: %w", sl.name, err)
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s did not connect", sl.name)
		}
	}
	slot := make([]*chaosSlot, slots)
	for i := range slot {
		slot[i] = &chaosSlot{name: fmt.Sprint("chaos-", i)}
		require.NoError(t, start(slot[i]))
	}

	stop := make(chan struct{})
	var workers sync.WaitGroup

	// Chaos: cut a plugin off one way or another, wait until the socket
	// has reported it gone, and put a new one in its place.
	actions := map[string]int{}
	var mismatched []string
	workers.Go(func() {
		r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(5+r.IntN(25)) * time.Millisecond):
			}
			sl := slot[r.IntN(slots)]
			action := []string{"crash", "unplug", "leave"}[r.IntN(3)]
			actions[action]++
			switch action {
			case "crash": // the process dies: its connection just closes
				_ = sl.conn.Close()
			case "unplug":
				s.Unplug("", sl.name)
			case "leave":
				_ = sl.p.Close()
			}
			select {
			case graceful := <-gone[sl.name]:
				if graceful != (action != "crash") {
					mismatched = append(mismatched, fmt.Sprintf("%s: %s reported graceful=%v", sl.name, action, graceful))
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%s: no callback after %s", sl.name, action)
				return
			}
			<-sl.done
			if err := start(sl); err != nil {
				t.Errorf("replacing %s: %v", sl.name, err)
				return
			}
		}
	})

	// Strangers: connections that send garbage, or nothing, and never
	// become plugins for long. Without the token they cannot take a name.
	var strangeConns atomic.Int64
	garbage := [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: plugsock\r\n\r\n"),
		[]byte("Content-Length: 999999999\r\n\r\n"),
		[]byte("Content-Length: 5\r\n\r\n{\"a\":"),
		frame(`{"jsonrpc":"2.0","id":1,"method":"Echo","params":{"nonce":"stolen"}}`),
		frame(`[{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"x"}}]`),
		frame(`{"jsonrpc":"2.0","id":9,"result":"forged answer"}`),
		frame(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"chaos-0"}}`),
		nil, // says nothing at all
	}
	for g := range strangers {
		workers.Go(func() {
			r := rand.New(rand.NewPCG(2, uint64(g)))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					continue
				}
				strangeConns.Add(1)
				b := garbage[r.IntN(len(garbage))]
				if r.IntN(4) == 0 { // a plugin for a moment, then garbage
					hs := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"stranger-%d-%d","token":%q}}`, g, i, token)
					b = append(frame(hs), []byte("Content-Length: x\r\n\r\n")...)
				}
				_, _ = nc.Write(b)
				// Until the host hangs up; the silent ones hang up first.
				_ = nc.SetReadDeadline(time.Now().Add(time.Duration(r.IntN(300)) * time.Millisecond))
				buf := make([]byte, 4096)
				for {
					if _, err := nc.Read(buf); err != nil {
						break
					}
				}
				_ = nc.Close()
			}
		})
	}

	// Callers.
	type tally struct {
		calls, ok, wrong, late int
		errs                   map[string]int
		worst                  time.Duration
		odd                    []string
	}
	tallies := make([]tally, callers)
	for g := range callers {
		workers.Go(func() {
			r := rand.New(rand.NewPCG(3, uint64(g)))
			tl := &tallies[g]
			tl.errs = map[string]int{}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprint("chaos-", r.IntN(slots))
				deadline := time.Duration(5+r.IntN(95)) * time.Millisecond
				in := ChaosIn{Nonce: fmt.Sprintf("%d/%d", g, i), Delay: int64(time.Duration(r.IntN(40)) * time.Millisecond)}
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				begun := time.Now()
				var out string
				err := s.CallContext(ctx, name, "Echo", in, &out)
				took := time.Since(begun)
				cancel()
				tl.calls++
				if over := took - deadline; over > tl.worst {
					tl.worst = over
				}
				if took > deadline+chaosBound {
					tl.late++
				}
				var rpc *envelope.Error
				switch {
				case err == nil && out == in.Nonce:
					tl.ok++
				case err == nil:
					tl.wrong++
					tl.odd = append(tl.odd, fmt.Sprintf("asked %q, got %q", in.Nonce, out))
				case errors.Is(err, context.DeadlineExceeded):
					tl.errs["deadline"]++
				case errors.Is(err, socket.ErrNoPlugin):
					tl.errs["no such plugin (being replaced)"]++
				case errors.Is(err, socket.ErrOverloaded):
					tl.errs["overloaded"]++
				case errors.Is(err, socket.ErrShutdown):
					tl.errs["shut down (cut off or unplugged mid-call)"]++
				case errors.As(err, &rpc):
					tl.errs[fmt.Sprintf("error answer %d", rpc.Code)]++
					tl.odd = append(tl.odd, err.Error())
				default:
					tl.errs["other"]++
					tl.odd = append(tl.odd, err.Error())
				}
			}
		})
	}

	time.Sleep(run) // the length of the run, not a wait for anything
	close(stop)
	finished := make(chan struct{})
	go func() { workers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("a caller, the chaos or a stranger is stuck")
	}
	shutdownErr := s.Shutdown("chaos-over")
	plugins.Wait()

	var sum tally
	sum.errs = map[string]int{}
	for _, tl := range tallies {
		sum.calls += tl.calls
		sum.ok += tl.ok
		sum.wrong += tl.wrong
		sum.late += tl.late
		sum.worst = max(sum.worst, tl.worst)
		sum.odd = append(sum.odd, tl.odd...)
		for k, v := range tl.errs {
			sum.errs[k] += v
		}
	}
	t.Logf("calls %d: %d answered right, %d wrong answers, %d late (worst return %v after the deadline)",
		sum.calls, sum.ok, sum.wrong, sum.late, sum.worst.Round(time.Millisecond))
	for _, k := range slices.Sorted(maps.Keys(sum.errs)) {
		t.Logf("  error %-42s %d", k, sum.errs[k])
	}
	t.Logf("plugins cut off and replaced: %d crashed, %d unplugged, %d left", actions["crash"], actions["unplug"], actions["leave"])
	t.Logf("stranger connections: %d", strangeConns.Load())
	logs.mu.Lock()
	for _, k := range slices.Sorted(maps.Keys(logs.n)) {
		t.Logf("  log %-70s %d", k, logs.n[k])
	}
	logs.mu.Unlock()

	assert.NoError(t, shutdownErr, "every plugin left in time at shutdown")
	assert.Zero(t, sum.wrong, "wrong answers: %q", sum.odd)
	assert.Zero(t, sum.late, "calls that returned later than their deadline plus %v", chaosBound)
	assert.Zero(t, sum.errs["other"], "errors of no known kind: %q", sum.odd)
	assert.Empty(t, mismatched, "disconnects reported with the wrong gracefulness")
	assert.Greater(t, sum.ok, sum.calls/10, "enough calls got through to mean something")
	assert.Positive(t, sum.errs["deadline"])
	assert.Positive(t, actions["crash"]+actions["unplug"]+actions["leave"])
	goleak.VerifyNone(t, ignore)
	t.Logf("goroutines left after Shutdown: none (goleak)")
}
