package python_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/examples/internal/exampletest"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

const wait = 30 * time.Second

type host struct {
	s    *socket.Socket
	gone chan bool
	cmd  *exec.Cmd
	errs *exampletest.Output // the plugin's stderr
}

// startPython runs plugin.py, with env added to its environment, against
// a new socket set up with cfg.
func startPython(t *testing.T, cfg socket.Config, env ...string) *host {
	t.Helper()
	python := lookPython(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &host{s: new(socket.Socket), gone: make(chan bool, 1), errs: new(exampletest.Output)}
	cfg.Logger = quiet
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	h.s.Serve(l, cfg)
	h.s.RegisterCallback(func(_ *envelope.PluginInfo, graceful bool) { h.gone <- graceful })
	t.Cleanup(func() { _ = h.s.Shutdown("") })

	h.cmd = exec.Command(python, "plugin.py")
	h.cmd.Env = append(append(os.Environ(), "PLUGSOCK_ADDR="+l.Addr().String(), "PLUGSOCK_DEBUG=1"), env...)
	h.cmd.Stderr = h.errs
	require.NoError(t, h.cmd.Start())
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			_ = h.cmd.Process.Kill()
			_ = h.cmd.Wait()
		}
	})
	require.True(t, h.s.WaitFor("pytext", wait), "the plugin did not connect; stderr:\n%s", h.errs)
	return h
}

func lookPython(t *testing.T) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	return python
}

func TestPythonPlugin(t *testing.T) {
	h := startPython(t, socket.Config{})
	s := h.s
	ctx := context.Background()
	h.errs.WaitFor(t, "protocol 2", wait)

	info := s.PluginInfo("pytext")
	require.NotNil(t, info)
	assert.Equal(t, "1.0.0", info.Version)
	assert.Equal(t, typedesc.Function{Name: "Upper", Input: &typedesc.Entity{Type: "string"}, Output: &typedesc.Entity{Type: "string"}}, info.Functions["Upper"])
	assert.Equal(t, &typedesc.Entity{Name: "WordCountIn", Type: "struct", Fields: []typedesc.Entity{{Name: "text", Type: "string", Mandatory: true}}},
		info.Functions["WordCount"].Input)
	assert.Len(t, info.Functions, 4)

	// Average is a processor: points in, points out.
	avg := info.Functions["Average"]
	require.NotNil(t, avg.Stream)
	assert.Equal(t, typedesc.ShapeProcessor, avg.Stream.Shape())
	assert.Nil(t, avg.Output, "a stream has no output")
	assert.True(t, avg.ObjectInput(), "its input, {size}, goes by name")
	point := &typedesc.Entity{Name: "Point", Type: "struct", Fields: []typedesc.Entity{
		{Name: "name", Type: "string", Mandatory: true},
		{Name: "value", Type: "float64", Mandatory: true},
		{Name: "time", Type: "int64"},
	}}
	assert.Equal(t, point, avg.Stream.In)
	assert.Equal(t, point, avg.Stream.Out)
	const pointSchema = `{"type":"object","properties":{"name":{"type":"string"},"value":{"type":"number"},
		"time":{"type":"integer","minimum":-9223372036854775808,"maximum":9223372036854775807}},"required":["name","value"]}`
	assert.JSONEq(t, pointSchema, string(avg.Stream.InSchema))
	assert.JSONEq(t, pointSchema, string(avg.Stream.OutSchema))

	// Connected, then the plugin's own async item, {"value": item} on the wire.
	item, err := s.Async()
	require.NoError(t, err)
	assert.IsType(t, envelope.Connected{}, item.Payload)
	item, err = s.Async()
	require.NoError(t, err)
	ready, _ := item.Payload.(map[string]any)
	assert.Equal(t, "ready", ready["event"])
	assert.Equal(t, float64(h.cmd.Process.Pid), ready["pid"])

	// Content-Length counts bytes: non-ASCII text both ways.
	var up string
	require.NoError(t, s.CallContext(ctx, "pytext", "Upper", "grüße, zürich", &up))
	assert.Equal(t, "GRÜSSE, ZÜRICH", up)

	var counts map[string]int
	require.NoError(t, s.CallContext(ctx, "pytext", "WordCount", map[string]string{"text": "one two\nthree"}, &counts))
	assert.Equal(t, map[string]int{"words": 3, "lines": 2, "chars": 13}, counts)

	err = s.CallContext(ctx, "pytext", "Upper", 5, nil)
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.EqualError(t, err, "invalid params for Upper: want a string")

	err = s.CallContext(ctx, "pytext", "Nope", nil, nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound)

	err = s.CallContext(ctx, "pytext", "Sleep", map[string]int{"ms": -1}, nil)
	var e *envelope.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, int64(envelope.CodeMethodError), e.Code)
	assert.Equal(t, "ms must not be negative, got -1", e.Message)

	// Many calls at once, each with its own answer.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			var got string
			assert.NoError(t, s.CallContext(ctx, "pytext", "Upper", "call "+strconv.Itoa(i)+" x", &got))
			assert.Equal(t, "CALL "+strconv.Itoa(i)+" X", got)
		})
	}
	wg.Wait()

	// The trace id reaches the plugin, in params._meta.
	tctx := envelope.WithTrace(ctx, "trace-upper-1")
	require.NoError(t, s.CallContext(tctx, "pytext", "Upper", "x", nil))
	h.errs.WaitFor(t, "pytext: Upper trace trace-upper-1", wait)
}

// With PYTEXT_PROTOCOL=1 the plugin offers no protocol, so it speaks
// protocol 1: the same functions, and no streams.
func TestPythonPluginProtocol1(t *testing.T) {
	h := startPython(t, socket.Config{}, "PYTEXT_PROTOCOL=1")
	s := h.s
	ctx := envelope.WithTrace(context.Background(), "trace-p1")
	h.errs.WaitFor(t, "protocol 1", wait)

	item, err := s.Async()
	require.NoError(t, err)
	assert.IsType(t, envelope.Connected{}, item.Payload)
	item, err = s.Async()
	require.NoError(t, err)
	ready, _ := item.Payload.(map[string]any)
	assert.Equal(t, "ready", ready["event"], "in protocol 1 the item is the params themselves")

	var up string
	require.NoError(t, s.CallContext(ctx, "pytext", "Upper", "grüße", &up))
	assert.Equal(t, "GRÜSSE", up)
	h.errs.WaitFor(t, "pytext: Upper trace trace-p1", wait)
	var counts map[string]int
	require.NoError(t, s.CallContext(ctx, "pytext", "WordCount", map[string]string{"text": "a b"}, &counts))
	assert.Equal(t, map[string]int{"words": 2, "lines": 1, "chars": 3}, counts)
	assert.EqualError(t, s.CallContext(ctx, "pytext", "Upper", 5, nil), "invalid params for Upper: want a string")
	var slept string
	require.NoError(t, s.CallContext(ctx, "pytext", "Sleep", map[string]int{"ms": 10}, &slept))
	assert.Equal(t, "slept 10 ms", slept)

	_, err = s.OpenStream(ctx, "pytext", "Average", nil)
	assert.ErrorContains(t, err, "streams need protocol 2")

	s.Unplug("", "pytext")
	assert.True(t, <-h.gone)
	require.NoError(t, h.cmd.Wait(), "stderr:\n%s", h.errs)
}

func TestPythonPluginCancel(t *testing.T) {
	h := startPython(t, socket.Config{})
	// A minute-long call whose caller gives up: the host sends
	// $/cancelRequest and the plugin stops the work. Were it still
	// sleeping, the unplug below would wait for it and be cut off at the
	// shutdown timeout, and so not be graceful.
	ctx, cancel := context.WithCancel(context.Background())
	tctx := envelope.WithTrace(ctx, "trace-long-sleep")
	done := make(chan error, 1)
	go func() { done <- h.s.CallContext(tctx, "pytext", "Sleep", map[string]int{"ms": 60000}, nil) }()
	h.errs.WaitFor(t, "pytext: Sleep trace trace-long-sleep", wait)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	h.errs.WaitFor(t, "pytext: Sleep trace trace-long-sleep failed: Sleep: cancelled", wait)

	h.s.Unplug("", "pytext")
	assert.True(t, <-h.gone, "graceful: the cancelled call was not holding the plugin up")
	require.NoError(t, h.cmd.Wait(), "stderr:\n%s", h.errs)
}

// The deadline travels in params._meta, and the plugin gives up when it
// passes.
func TestPythonPluginDeadline(t *testing.T) {
	h := startPython(t, socket.Config{})
	ctx, cancel := context.WithTimeout(envelope.WithTrace(context.Background(), "trace-deadline"), 300*time.Millisecond)
	defer cancel()
	err := h.s.CallContext(ctx, "pytext", "Sleep", map[string]int{"ms": 60000}, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	h.errs.WaitFor(t, "pytext: Sleep trace trace-deadline failed: Sleep: deadline exceeded", wait)
}

// A caller that asks for progress gets reports while Sleep sleeps.
func TestPythonPluginProgress(t *testing.T) {
	h := startPython(t, socket.Config{})
	type report struct {
		progress, total float64
		message         string
	}
	var mu sync.Mutex
	var reports []report
	ctx := socket.WithProgress(context.Background(), func(progress, total float64, message string) {
		mu.Lock()
		reports = append(reports, report{progress, total, message})
		mu.Unlock()
	})
	var got string
	require.NoError(t, h.s.CallContext(ctx, "pytext", "Sleep", map[string]int{"ms": 350}, &got))
	assert.Equal(t, "slept 350 ms", got)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(reports), 3, "a report every 100 ms: %v", reports)
	for i, r := range reports {
		assert.Equal(t, float64(350), r.total)
		assert.Equal(t, "sleeping", r.message)
		if i > 0 {
			assert.Greater(t, r.progress, reports[i-1].progress, "progress grows: %v", reports)
		}
	}
}

func TestPythonPluginUnplugFinishesCallsInFlight(t *testing.T) {
	h := startPython(t, socket.Config{})
	tctx := envelope.WithTrace(context.Background(), "trace-in-flight")
	done := make(chan error, 1)
	var got string
	go func() { done <- h.s.CallContext(tctx, "pytext", "Sleep", map[string]int{"ms": 200}, &got) }()
	h.errs.WaitFor(t, "pytext: Sleep trace trace-in-flight", wait)

	h.s.Unplug("", "pytext")
	require.NoError(t, <-done, "the call in flight is answered before the plugin leaves")
	assert.Equal(t, "slept 200 ms", got)
	assert.True(t, <-h.gone)
	require.NoError(t, h.cmd.Wait(), "the plugin exits 0 once unplugged; stderr:\n%s", h.errs)

	err := h.s.CallContext(context.Background(), "pytext", "Upper", "x", nil)
	assert.ErrorIs(t, err, socket.ErrNoPlugin)
}

func TestPythonPluginInterrupted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT for another process on Windows")
	}
	h := startPython(t, socket.Config{})
	require.NoError(t, h.cmd.Process.Signal(os.Interrupt))
	err := h.cmd.Wait()
	assert.True(t, <-h.gone, "an interrupted plugin says goodbye: a graceful disconnect; stderr:\n%s", h.errs)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("exit status %d; stderr:\n%s", exit.ExitCode(), h.errs)
	}
	require.NoError(t, err)
}

// point is what Average takes and gives.
type point struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Time  *int64  `json:"time,omitempty"`
}

// movingAverages is what Average should answer to in, with a window of size.
func movingAverages(in []point, size int) []float64 {
	last := map[string][]float64{}
	out := make([]float64, len(in))
	for i, p := range in {
		vs := append(last[p.Name], p.Value)
		if len(vs) > size {
			vs = vs[1:]
		}
		last[p.Name] = vs
		sum := 0.0
		for _, v := range vs {
			sum += v
		}
		out[i] = sum / float64(len(vs))
	}
	return out
}

func recvDone(t *testing.T, ctx context.Context, st *envelope.Stream) {
	t.Helper()
	select {
	case <-st.Done():
	case <-ctx.Done():
		t.Fatalf("the stream did not end: %+v", st.Stats())
	}
}

// A thousand points through Average to a slow reader: every average
// right and in order, the plugin held to the host's window while the
// host does not read, and every point the host sent acknowledged.
func TestPythonAverage(t *testing.T) {
	const window, pluginWindow, n, size = 8, 32, 1000, 4
	h := startPython(t, socket.Config{StreamWindow: window})
	ctx, cancel := context.WithTimeout(envelope.WithTrace(context.Background(), "trace-average"), wait)
	defer cancel()
	st, err := h.s.OpenStream(ctx, "pytext", "Average", map[string]int{"size": size})
	require.NoError(t, err)
	h.errs.WaitFor(t, "pytext: Average trace trace-average", wait)

	names := []string{"cpu", "mem", "disk"}
	in := make([]point, n)
	for i := range in {
		in[i] = point{Name: names[i%len(names)], Value: float64(i*i%97) + 0.25}
		if i%10 != 9 { // time is optional
			tm := int64(1_700_000_000_000 + i)
			in[i].Time = &tm
		}
	}
	want := movingAverages(in, size)
	sent := make(chan error, 1)
	go func() {
		for _, p := range in {
			if _, err := st.Send(ctx, p); err != nil {
				sent <- err
				return
			}
		}
		sent <- st.CloseSend()
	}()

	// The host reads nothing yet. The plugin sends as many averages as
	// the host's window allows, and stops; it settles a point once its
	// average is sent, so it holds its own window of points unsettled,
	// having granted, besides its window, the quarter of it that the
	// settled points freed: the host can send no more.
	require.Eventually(t, func() bool {
		s := st.Stats()
		return s.Received == window && s.Window == 0 && s.Sent == window+pluginWindow && s.Acked == window
	}, wait, time.Millisecond, "the plugin fills the host's window, and the host its")

	// A slow reader: one item each tick.
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	var most uint64
	for i := range n {
		<-tick.C
		it, err := st.Recv(ctx)
		require.NoError(t, err, "item %d", i)
		s := st.Stats()
		most = max(most, s.Received-s.Settled)
		require.GreaterOrEqual(t, s.Window, int64(0))
		var p point
		require.NoError(t, it.Decode(&p))
		require.Equal(t, uint64(i+1), it.Seq)
		require.Equal(t, in[i].Name, p.Name, "item %d", i)
		require.Equal(t, in[i].Time, p.Time, "item %d: the time comes back, when there is one", i)
		require.InDelta(t, want[i], p.Value, 1e-9, "item %d", i)
		require.NoError(t, st.Ack(it.Seq))
	}
	assert.Equal(t, uint64(window), most, "the plugin never had more than the host's window unsettled")
	require.NoError(t, <-sent)
	_, err = st.Recv(ctx)
	require.ErrorIs(t, err, io.EOF)
	recvDone(t, ctx, st)
	require.NoError(t, st.Err())
	assert.Empty(t, st.Unacked(), "every point the host sent was acknowledged")
	s := st.Stats()
	assert.Equal(t, [5]uint64{n, n, 0, n, n}, [5]uint64{s.Sent, s.Acked, s.Rejected, s.Received, s.Settled})
	h.errs.WaitFor(t, "ended: done (received 1000, settled 1000; sent 1000, acknowledged 1000, rejected 0)", wait)
	assert.Empty(t, h.s.Streams())
}

// What is not a point is rejected, with the reason, and gets no average.
func TestPythonAverageRejects(t *testing.T) {
	h := startPython(t, socket.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := h.s.OpenStream(ctx, "pytext", "Average", nil) // size 5
	require.NoError(t, err)
	items := []any{
		point{Name: "cpu", Value: 1},
		"oops",
		map[string]any{"name": "cpu"},
		map[string]any{"name": "cpu", "value": true},
		map[string]any{"name": 5, "value": 1},
		map[string]any{"name": "cpu", "value": 1, "time": 1.5},
		point{Name: "cpu", Value: 1e308},
		point{Name: "cpu", Value: 1e308},
		point{Name: "cpu", Value: 2},
	}
	for i, it := range items {
		_, err := st.SendAt(ctx, i, it)
		require.NoError(t, err)
	}
	require.NoError(t, st.CloseSend())
	for _, want := range []float64{1, (1 + 1e308) / 2, (1 + 1e308 + 2) / 3} {
		it, err := st.Recv(ctx)
		require.NoError(t, err)
		var p point
		require.NoError(t, it.Decode(&p))
		assert.Equal(t, "cpu", p.Name)
		assert.InDelta(t, want, p.Value, math.Abs(want)*1e-12)
		require.NoError(t, st.Ack(it.Seq))
	}
	_, err = st.Recv(ctx)
	require.ErrorIs(t, err, io.EOF)
	recvDone(t, ctx, st)
	require.NoError(t, st.Err())
	assert.Empty(t, st.Unacked())

	reasons := map[uint64]string{}
	for {
		a, err := st.Acked(ctx)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if a.Rejected {
			assert.JSONEq(t, strconv.Itoa(int(a.Seq)-1), string(a.Position))
			reasons[a.Seq] = a.Reason
		}
	}
	assert.Equal(t, map[uint64]string{
		2: "not a point: want an object with a string name and a number value, got a string",
		3: "not a point: value: want a number, got null",
		4: "not a point: value: want a number, got a boolean",
		5: "not a point: name: want a string, got a number",
		6: "not a point: time: want an integer, got a number",
		8: `the average of "cpu" overflows`,
	}, reasons)

	// A window that is not one is refused before the stream starts.
	st, err = h.s.OpenStream(ctx, "pytext", "Average", map[string]int{"size": 0})
	require.NoError(t, err)
	recvDone(t, ctx, st)
	assert.ErrorIs(t, st.Err(), envelope.ErrInvalidParams)
	assert.EqualError(t, st.Err(), "invalid params for Average: size: want an integer from 1 to 1000, got 0")
	assert.ErrorIs(t, h.s.CallContext(ctx, "pytext", "Average", nil, nil), socket.ErrNotStream)
}

// A stream the host cancels ends on both sides, and the plugin goes on.
func TestPythonAverageCancel(t *testing.T) {
	h := startPython(t, socket.Config{StreamWindow: 4})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := h.s.OpenStream(ctx, "pytext", "Average", nil)
	require.NoError(t, err)
	for i := range 10 {
		_, err := st.Send(ctx, point{Name: "x", Value: float64(i)})
		require.NoError(t, err)
	}
	for range 2 {
		it, err := st.Recv(ctx)
		require.NoError(t, err)
		require.NoError(t, st.Ack(it.Seq))
	}
	st.Cancel("enough")
	recvDone(t, ctx, st)
	require.ErrorIs(t, st.Err(), envelope.ErrStreamCancelled)
	assert.NotEmpty(t, st.Unacked(), "the points the plugin had not averaged are the host's to send again")
	h.errs.WaitFor(t, "ended: Average: stream cancelled by the host: enough", wait)
	assert.Empty(t, h.s.Streams())

	var up string
	require.NoError(t, h.s.CallContext(ctx, "pytext", "Upper", "still here", &up))
	assert.Equal(t, "STILL HERE", up)

	// The caller's context ends: the host cancels the stream with its error.
	sctx, scancel := context.WithCancel(ctx)
	st, err = h.s.OpenStream(sctx, "pytext", "Average", nil)
	require.NoError(t, err)
	_, err = st.Send(sctx, point{Name: "y", Value: 1})
	require.NoError(t, err)
	it, err := st.Recv(sctx)
	require.NoError(t, err)
	require.NoError(t, st.Ack(it.Seq))
	scancel()
	recvDone(t, ctx, st)
	require.ErrorIs(t, st.Err(), envelope.ErrStreamCancelled)
	h.errs.WaitFor(t, "ended: Average: stream cancelled by the host: context canceled", wait)

	// Nothing is left running in the plugin: the unplug is graceful.
	h.s.Unplug("", "pytext")
	assert.True(t, <-h.gone)
	require.NoError(t, h.cmd.Wait(), "stderr:\n%s", h.errs)
}

// A plugin interrupted with a stream open cancels it, telling the host,
// and leaves in good order.
func TestPythonAverageInterrupted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT for another process on Windows")
	}
	h := startPython(t, socket.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := h.s.OpenStream(ctx, "pytext", "Average", nil)
	require.NoError(t, err)
	_, err = st.Send(ctx, point{Name: "a", Value: 1})
	require.NoError(t, err)
	it, err := st.Recv(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Ack(it.Seq))
	_, err = st.Send(ctx, point{Name: "a", Value: 2})
	require.NoError(t, err)

	require.NoError(t, h.cmd.Process.Signal(os.Interrupt))
	recvDone(t, ctx, st)
	// The plugin cancels the stream, then answers its request: whichever
	// the host reads first ends it, a cancellation or the answer's error,
	// both with the plugin's reason.
	var answer *envelope.Error
	require.True(t, errors.Is(st.Err(), envelope.ErrStreamCancelled) || errors.As(st.Err(), &answer), "%v", st.Err())
	assert.ErrorContains(t, st.Err(), "the plugin is leaving")
	require.NoError(t, h.cmd.Wait(), "stderr:\n%s", h.errs)
	assert.True(t, <-h.gone, "a goodbye, then the connection's end: graceful")
}

// Unplugging closes the host's half: the plugin averages what it has,
// waits for its averages to be acknowledged, and answers, before it
// answers $/shutdown.
func TestPythonAverageUnplug(t *testing.T) {
	h := startPython(t, socket.Config{StreamWindow: 4})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := h.s.OpenStream(ctx, "pytext", "Average", map[string]int{"size": 2})
	require.NoError(t, err)
	read := make(chan []float64, 1)
	go func() {
		var got []float64
		defer func() { read <- got }()
		for {
			it, err := st.Recv(ctx)
			if err != nil {
				return
			}
			var p point
			if it.Decode(&p) != nil || st.Ack(it.Seq) != nil {
				return
			}
			got = append(got, p.Value)
		}
	}()
	for i := range 50 {
		_, err := st.Send(ctx, point{Name: "z", Value: float64(i)})
		require.NoError(t, err)
	}
	h.s.Unplug("", "pytext")
	assert.True(t, <-h.gone, "graceful: the stream finished before the shutdown timeout")
	got := <-read
	require.Len(t, got, 50)
	assert.Equal(t, 0.0, got[0])
	assert.Equal(t, 48.5, got[49])
	require.NoError(t, st.Err())
	assert.Empty(t, st.Unacked())
	require.NoError(t, h.cmd.Wait(), "stderr:\n%s", h.errs)
}

// ----------------------------------------------------------------- by hand

// wire is a host written by hand, to see the plugin's frames and send it
// what a Go host never sends.
type wire struct {
	t       *testing.T
	conn    net.Conn
	r       *bufio.Reader
	cmd     *exec.Cmd
	errs    *exampletest.Output
	backlog []msg // read, and passed over by until
}

// msg is a message as read: its members, raw.
type msg map[string]json.RawMessage

func (m msg) str(member string) string {
	var s string
	_ = json.Unmarshal(m[member], &s)
	return s
}

// param returns the JSON text of a member of params.
func (m msg) param(member string) string {
	var p map[string]json.RawMessage
	_ = json.Unmarshal(m["params"], &p)
	return string(p[member])
}

// errorOf returns the code and the message of an error response.
func (m msg) errorOf() (int64, string) {
	var e envelope.Error
	_ = json.Unmarshal(m["error"], &e)
	return e.Code, e.Message
}

// startWire runs plugin.py against a hand-written host, answers its
// handshake with protocol, and returns once it has read the handshake.
func startWire(t *testing.T, protocol int) (*wire, msg) {
	t.Helper()
	python := lookPython(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	w := &wire{t: t, errs: new(exampletest.Output)}
	w.cmd = exec.Command(python, "plugin.py")
	w.cmd.Env = append(os.Environ(), "PLUGSOCK_ADDR="+l.Addr().String(), "PLUGSOCK_DEBUG=1")
	w.cmd.Stderr = w.errs
	require.NoError(t, w.cmd.Start())
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			_ = w.cmd.Wait()
		}
	})
	require.NoError(t, l.(*net.TCPListener).SetDeadline(time.Now().Add(wait)))
	w.conn, err = l.Accept()
	require.NoError(t, err, "stderr:\n%s", w.errs)
	t.Cleanup(func() { _ = w.conn.Close() })
	w.r = bufio.NewReader(w.conn)
	hello := w.read()
	require.Equal(t, "$/handshake", hello.str("method"))
	w.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"result":{"name":"pytext","session":"s-1","protocol":%d}}`, protocol))
	return w, hello
}

func (w *wire) send(body string) {
	w.t.Helper()
	_, err := fmt.Fprintf(w.conn, "Content-Length: %d\r\n\r\n%s", len(body), body)
	require.NoError(w.t, err)
}

// read returns the next message the plugin sends, with its body as sent
// in member "".
func (w *wire) read() msg {
	w.t.Helper()
	require.NoError(w.t, w.conn.SetReadDeadline(time.Now().Add(wait)))
	n := -1
	for {
		line, err := w.r.ReadString('\n')
		require.NoError(w.t, err, "stderr:\n%s", w.errs)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Content-Length") {
			n, err = strconv.Atoi(strings.TrimSpace(value))
			require.NoError(w.t, err)
		}
	}
	require.GreaterOrEqual(w.t, n, 0)
	body := make([]byte, n)
	_, err := io.ReadFull(w.r, body)
	require.NoError(w.t, err)
	var m msg
	require.NoError(w.t, json.Unmarshal(body, &m), "%s", body)
	m[""] = json.RawMessage(body)
	return m
}

// until returns the first message for which ok holds, from those passed
// over before and then those read, and the messages it passed over this
// time, which later calls look at again.
func (w *wire) until(ok func(msg) bool) (msg, []msg) {
	w.t.Helper()
	for i, m := range w.backlog {
		if ok(m) {
			w.backlog = append(w.backlog[:i:i], w.backlog[i+1:]...)
			return m, nil
		}
	}
	var before []msg
	for {
		m := w.read()
		if ok(m) {
			return m, before
		}
		before = append(before, m)
		w.backlog = append(w.backlog, m)
	}
}

// answer reads until the answer to request id.
func (w *wire) answer(id int) msg {
	w.t.Helper()
	m, _ := w.until(func(m msg) bool { return m["method"] == nil && string(m["id"]) == strconv.Itoa(id) })
	return m
}

func onStream(method string, id int) func(msg) bool {
	return func(m msg) bool { return m.str("method") == method && m.param("stream") == strconv.Itoa(id) }
}

func deadlineIn(d time.Duration) string {
	return time.Now().Add(d).UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
}

// The protocol 2 wire, frame by frame: params and their _meta, the
// deadline alone ending a call, and a stream's credit, items,
// acknowledgements, close and answer.
func TestPythonWire(t *testing.T) {
	w, hello := startWire(t, 2)
	assert.Equal(t, "2", hello.param("protocol"))
	assert.Contains(t, hello.param("functions"), `"stream":{"in":`)
	ready := w.read()
	assert.JSONEq(t, `"$/async"`, string(ready["method"]))
	assert.Contains(t, string(ready["params"]), `{"value":{"event":"ready"`)

	// params and _meta.
	cases := []struct{ request, code, message string }{
		{`{"jsonrpc":"2.0","id":2,"method":"Upper","params":{"value":"x","_meta":{"trace":5}}}`, "-32602", "invalid params for Upper: _meta.trace: want a string, got a number"},
		{`{"jsonrpc":"2.0","id":3,"method":"Upper","params":{"value":"x","_meta":{},"_meta":{}}}`, "-32602", "invalid params for Upper: params have two _meta members"},
		{`{"jsonrpc":"2.0","id":4,"method":"Upper","params":5}`, "-32602", "invalid params for Upper: protocol 2 params must be an object or an array, got a number"},
		{`{"jsonrpc":"2.0","id":5,"method":"Upper","params":{"value":"x","_meta":{"deadline":"tomorrow"}}}`, "-32602", `invalid params for Upper: _meta.deadline: want an RFC 3339 time, got "tomorrow"`},
		{`{"jsonrpc":"2.0","id":6,"method":"Upper","params":{"value":"x","_meta":{"progressToken":true}}}`, "-32602", "invalid params for Upper: _meta.progressToken: want a string or an integer, got a boolean"},
		{`{"jsonrpc":"2.0","id":7,"method":"Upper","params":{"value":"x","_meta":{"stream":{"window":4}}}}`, "-32602", "invalid params for Upper: Upper is not a stream; call it without params._meta.stream"},
		{`{"jsonrpc":"2.0","id":8,"method":"Average","params":{"size":3}}`, "-32602", "invalid params for Average: Average is a stream; open it with params._meta.stream"},
		{`{"jsonrpc":"2.0","id":9,"method":"$/stream/credit","params":{"stream":1,"credit":1}}`, "-32600", "$/stream/credit is a notification; send it without an id"},
		{`{"jsonrpc":"2.0","id":10,"method":"Upper","params":[]}`, "-32602", "invalid params for Upper: params by position must hold the input as their one element; got none"},
	}
	for _, c := range cases {
		w.send(c.request)
	}
	for i, c := range cases {
		a := w.answer(i + 2)
		code, message := a.errorOf()
		assert.Equal(t, c.code, strconv.FormatInt(code, 10), c.request)
		assert.Equal(t, c.message, message, c.request)
	}
	w.send(`{"jsonrpc":"2.0","id":11,"method":"Upper","params":["grüße"]}`)
	assert.JSONEq(t, `"GRÜSSE"`, string(w.answer(11)["result"]), "by position")
	w.send(`{"jsonrpc":"2.0","id":12,"method":"WordCount","params":{"text":"a b","_meta":{"trace":"t","deadline":"2099-01-01T00:00:00+02:00"}}}`)
	assert.JSONEq(t, `{"words":2,"lines":1,"chars":3}`, string(w.answer(12)["result"]), "_meta is not part of an object input")

	// The deadline ends a call by itself: no $/cancelRequest is sent.
	start := time.Now()
	w.send(`{"jsonrpc":"2.0","id":13,"method":"Sleep","params":{"ms":60000,"_meta":{"deadline":"` + deadlineIn(300*time.Millisecond) + `"}}}`)
	code, message := w.answer(13).errorOf()
	assert.Equal(t, int64(envelope.CodeRequestCancelled), code)
	assert.Equal(t, "Sleep: deadline exceeded", message)
	assert.Less(t, time.Since(start), 10*time.Second)

	// A stream, as in docs/protocol.md: the host grants 1, the plugin its
	// window, and each side acknowledges the other's items.
	w.send(`{"jsonrpc":"2.0","id":14,"method":"Average","params":{"size":2,"_meta":{"trace":"t-raw","stream":{"window":1}}}}`)
	credit, _ := w.until(onStream("$/stream/credit", 14))
	assert.Equal(t, `{"jsonrpc":"2.0","method":"$/stream/credit","params":{"stream":14,"credit":32}}`, string(credit[""]))
	w.send(`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":14,"item":{"name":"cpu","value":1,"time":7},"seq":1}}`)
	item, _ := w.until(onStream("$/stream/item", 14))
	assert.JSONEq(t, `{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":14,"item":{"name":"cpu","value":1,"time":7},"seq":1}}`, string(item[""]))
	ack, _ := w.until(onStream("$/stream/ack", 14))
	assert.Equal(t, `{"jsonrpc":"2.0","method":"$/stream/ack","params":{"stream":14,"through":1}}`, string(ack[""]))
	// Its credit spent, the plugin waits for more before it sends the next.
	w.send(`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":14,"item":{"name":"cpu","value":3},"seq":2}}`)
	w.send(`{"jsonrpc":"2.0","id":15,"method":"$/ping"}`)
	_, before := w.until(func(m msg) bool { return string(m["id"]) == "15" })
	for _, m := range before {
		assert.NotEqual(t, "$/stream/item", m.str("method"), "an item without credit: %s", m[""])
	}
	w.send(`{"jsonrpc":"2.0","method":"$/stream/ack","params":{"stream":14,"through":1}}`)
	w.send(`{"jsonrpc":"2.0","method":"$/stream/credit","params":{"stream":14,"credit":1}}`)
	item, _ = w.until(onStream("$/stream/item", 14))
	assert.JSONEq(t, `{"stream":14,"item":{"name":"cpu","value":2},"seq":2}`, string(item["params"]))
	w.send(`{"jsonrpc":"2.0","method":"$/stream/close","params":{"stream":14}}`)
	ack, _ = w.until(onStream("$/stream/ack", 14))
	assert.JSONEq(t, `{"stream":14,"through":2}`, string(ack["params"]))
	// The plugin answers once its own items are acknowledged.
	w.send(`{"jsonrpc":"2.0","method":"$/stream/ack","params":{"stream":14,"seq":2}}`)
	assert.Equal(t, `{"jsonrpc":"2.0","id":14,"result":null}`, string(w.answer(14)[""]))
	w.errs.WaitFor(t, "Average stream 14 ended: done (received 2, settled 2; sent 2, acknowledged 2, rejected 0)", wait)
	// Messages about it now are ignored: it is over.
	w.send(`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":14,"item":{"name":"cpu","value":3},"seq":3}}`)

	// Ending a stream: the host cancels it, cancels its request, or lets
	// its deadline pass; the plugin answers each.
	open := func(id int, window int, meta string) {
		w.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"Average","params":{"_meta":{"stream":{"window":%d}%s}}}`, id, window, meta))
		w.until(onStream("$/stream/credit", id))
	}
	open(16, 4, "")
	w.send(`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":16,"item":{"name":"a","value":1},"seq":1}}`)
	w.until(onStream("$/stream/item", 16))
	w.send(`{"jsonrpc":"2.0","method":"$/stream/cancel","params":{"stream":16,"reason":"enough"}}`)
	code, message = w.answer(16).errorOf()
	assert.Equal(t, int64(envelope.CodeRequestCancelled), code)
	assert.Equal(t, "Average: stream cancelled by the host: enough", message)

	open(17, 4, "")
	w.send(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":17}}`)
	code, message = w.answer(17).errorOf()
	assert.Equal(t, int64(envelope.CodeRequestCancelled), code)
	assert.Equal(t, "Average: cancelled", message)

	open(18, 4, `,"deadline":"`+deadlineIn(300*time.Millisecond)+`"`)
	code, message = w.answer(18).errorOf()
	assert.Equal(t, int64(envelope.CodeRequestCancelled), code)
	assert.Equal(t, "Average: deadline exceeded", message)

	open(19, 4, "")
	w.send(`{"jsonrpc":"2.0","method":"$/stream/cancel","params":{"stream":19,"reason":"bad","error":{"code":-32000,"message":"disk full"}}}`)
	_, message = w.answer(19).errorOf()
	assert.Equal(t, "Average: stream failed by the host: disk full", message)

	// Breaking a stream's rules fails that stream, with the reason, and
	// nothing else.
	rules := []struct {
		window int
		send   []string // %d is the stream's id
		code   int64
		reason string
	}{
		{4, []string{`{"jsonrpc":"2.0","method":"$/stream/ack","params":{"stream":%d,"through":3}}`}, -32600, "$/stream/ack: acknowledges an item not sent: 0 sent"},
		{4, []string{`{"jsonrpc":"2.0","method":"$/stream/ack","params":{"stream":%d,"through":0,"seq":0}}`}, -32600, `$/stream/ack: an ack has "through" or "seq", one of them`},
		{4, []string{`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":%d,"item":{"name":"a","value":1},"seq":2}}`}, -32600, "$/stream/item: item 2 out of order: want 1"},
		{4, []string{`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":%d,"item":{"name":"a","value":1},"seq":"1"}}`}, -32602, `$/stream/item: seq: want a positive integer, got "1"`},
		// The plugin waits for its average of item 1 to be acknowledged,
		// so the stream is still open when item 2 comes.
		{4, []string{
			`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":%d,"item":{"name":"a","value":1},"seq":1}}`,
			`{"jsonrpc":"2.0","method":"$/stream/close","params":{"stream":%d}}`,
			`{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":%d,"item":{"name":"a","value":1},"seq":2}}`,
		}, -32600, "$/stream/item: item 2 after the sender closed its half"},
		{4, []string{`{"jsonrpc":"2.0","method":"$/stream/credit","params":{"stream":%d,"credit":1.5}}`}, -32602, "$/stream/credit: credit: want an integer from 0 to 1099511627776, got 1.5"},
		{4, []string{`{"jsonrpc":"2.0","method":"$/stream/credit","params":{"stream":%d,"credit":1099511627776}}`}, -32600, "$/stream/credit: credit above 1099511627776"},
	}
	// An item beyond the credit granted: with no credit of its own, the
	// plugin can average nothing, so settles nothing and grants no more.
	var many []string
	for i := 1; i <= 33; i++ {
		many = append(many, `{"jsonrpc":"2.0","method":"$/stream/item","params":{"stream":%d,"item":{"name":"a","value":1},"seq":`+strconv.Itoa(i)+`}}`)
	}
	rules = append(rules, struct {
		window int
		send   []string
		code   int64
		reason string
	}{0, many, -32600, "$/stream/item: item 33 sent without credit: 32 granted"})
	for i, r := range rules {
		id := 20 + i
		open(id, r.window, "")
		for _, s := range r.send {
			w.send(strings.ReplaceAll(s, "%d", strconv.Itoa(id)))
		}
		cancel, _ := w.until(onStream("$/stream/cancel", id))
		want, _ := json.Marshal(map[string]any{"stream": id, "reason": r.reason, "error": map[string]any{"code": r.code, "message": r.reason}})
		assert.JSONEq(t, string(want), string(cancel["params"]))
		code, message := w.answer(id).errorOf()
		assert.Equal(t, r.code, code)
		assert.Equal(t, "Average: stream failed: "+r.reason, message)
	}

	// Still serving; and a stream open when the connection is lost ends,
	// and the plugin exits.
	w.send(`{"jsonrpc":"2.0","id":40,"method":"Upper","params":{"value":"ok"}}`)
	assert.JSONEq(t, `"OK"`, string(w.answer(40)["result"]))
	open(41, 4, "")
	require.NoError(t, w.conn.Close())
	err := w.cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stderr:\n%s", w.errs)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, w.errs.String(), "pytext: connection lost")
	assert.Contains(t, w.errs.String(), "Average stream 41 ended: Average: cancelled")
}

// A host that answers protocol 1 gets protocol 1: params as they are,
// meta beside them, and no streams.
func TestPythonWireProtocol1(t *testing.T) {
	w, _ := startWire(t, 1)
	ready := w.read()
	assert.Equal(t, "$/async", ready.str("method"))
	assert.Equal(t, `"ready"`, ready.param("event"), "the item is the params: %s", ready[""])
	w.send(`{"jsonrpc":"2.0","id":2,"method":"Upper","params":"x","meta":{"trace":"t-p1"}}`)
	assert.JSONEq(t, `"X"`, string(w.answer(2)["result"]))
	w.errs.WaitFor(t, "pytext: Upper trace t-p1", wait)
	w.send(`{"jsonrpc":"2.0","id":3,"method":"Average","params":{"_meta":{"stream":{"window":4}}},"meta":{"trace":"t-p1"}}`)
	code, message := w.answer(3).errorOf()
	assert.Equal(t, int64(envelope.CodeInvalidParams), code)
	assert.Equal(t, "invalid params for Average: Average is a stream, and streams need protocol 2", message)
	w.send(`{"jsonrpc":"2.0","id":4,"method":"$/shutdown","meta":{"trace":"t-p1"}}`)
	assert.Equal(t, `{"jsonrpc":"2.0","id":4,"result":null}`, string(w.answer(4)[""]))
	require.NoError(t, w.cmd.Wait(), "stderr:\n%s", w.errs)
}

// A host's answer naming a protocol above the one offered is a violation.
func TestPythonWireProtocolAboveOffer(t *testing.T) {
	w, _ := startWire(t, 3)
	err := w.cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, w.errs.String(), "protocol violation: the host answered protocol 3; 2 was offered")
}

// Hostile bytes end the connection with an error, not the plugin with a
// traceback.
func TestPythonWireGarbage(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":  `hello`,
		"NaN":       `{"jsonrpc":"2.0","id":2,"method":"Upper","params":{"value":NaN}}`,
		"deep":      strings.Repeat("[", 100000),
		"batch":     `[{"jsonrpc":"2.0","id":2,"method":"$/ping"}]`,
		"bad id":    `{"jsonrpc":"2.0","id":{},"method":"$/ping"}`,
		"stray":     `{"jsonrpc":"2.0","id":99,"result":null}`,
		"huge int":  `{"jsonrpc":"2.0","id":2,"method":"Upper","params":{"value":` + strings.Repeat("9", 5000) + `}}`,
		"not 2.0":   `{"jsonrpc":"1.0","id":2,"method":"$/ping"}`,
		"bad UTF-8": "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"Upper\",\"params\":{\"value\":\"\xff\"}}",
	} {
		t.Run(name, func(t *testing.T) {
			w, _ := startWire(t, 2)
			w.read() // $/async
			w.send(body)
			m := w.read()
			assert.Equal(t, "null", string(m["id"]), "%s", m[""])
			code, _ := m.errorOf()
			assert.Contains(t, []int64{envelope.CodeParseError, envelope.CodeInvalidRequest}, code)
			err := w.cmd.Wait()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			assert.Equal(t, 1, exit.ExitCode())
			assert.NotContains(t, w.errs.String(), "Traceback")
		})
	}
}
