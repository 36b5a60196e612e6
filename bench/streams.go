package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// The stream comparison (-streams): records moved through a plugsock
// stream, through gRPC bidirectional streaming between the same two
// processes, and through plugsock's $/async, in interleaved rounds; then
// the host's heap while a producer is far ahead of a slow consumer.

// Record is the streams' workload: a Conduit-shaped record, the same
// bytes for every item. Its JSON encoding is exactly the size asked for
// (makeRecord); every system moves those bytes.
type Record struct {
	Key     string `json:"key"`
	Payload string `json:"payload"`
}

// recordSizes are the two workloads: small records and 4 KiB ones.
var recordSizes = []int{100, 4096}

// recordKey is every record's key.
const recordKey = "record-000001"

// makeRecord returns a record whose JSON encoding is size bytes (at least
// that of an empty payload), and that encoding.
func makeRecord(size int) (Record, []byte) {
	r := Record{Key: recordKey}
	empty, _ := json.Marshal(r)
	r.Payload = strings.Repeat("x", max(0, size-len(empty)))
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return r, b
}

func sizeName(size int) string {
	if size%1024 == 0 {
		return fmt.Sprintf("%d KiB", size/1024)
	}
	return fmt.Sprintf("%d B", size)
}

// SourceIn opens a source: N records (without end when zero) of Size
// bytes each.
type SourceIn struct {
	N    int64 `json:"n"`
	Size int   `json:"size"`
}

// Records is the plugsock plugin of the stream comparison: a source, a
// processor, and an async pump of the same records.
type Records struct {
	hook chan any

	mu   sync.Mutex
	stop chan struct{} // closed to end the Pump
	done chan struct{} // closed when the Pump has ended
}

// UseAsyncHook receives the async channel.
func (r *Records) UseAsyncHook(h chan any) { r.hook = h }

// Produce is a source: in.N records of in.Size bytes (without end when
// in.N is zero), until the host cancels the stream or asks the plugin to
// stop; then it waits for the host to settle what it sent.
func (r *Records) Produce(ctx context.Context, in SourceIn, out *plugin.Source[Record]) error {
	rec, _ := makeRecord(in.Size)
	stopping := plugin.Stopping(ctx)
	for i := int64(0); in.N == 0 || i < in.N; i++ {
		select {
		case <-stopping:
			return out.Drain(ctx)
		default:
		}
		if _, err := out.Send(ctx, rec); err != nil {
			return err
		}
	}
	return out.Drain(ctx)
}

// Process is a processor: every record back as it came, each acknowledged
// once its echo is sent.
func (r *Records) Process(ctx context.Context, s *plugin.Stream[Record, Record]) error {
	for {
		it, err := s.Recv(ctx)
		if err == io.EOF {
			return s.Drain(ctx)
		}
		if err != nil {
			return err
		}
		if _, err := s.Send(ctx, it.Value); err != nil {
			return err
		}
		if err := s.Ack(it.Seq); err != nil {
			return err
		}
	}
}

// Pump pushes records of in.Size bytes through the async hook until Stop.
func (r *Records) Pump(_ context.Context, in SourceIn) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stop != nil {
		return false, errors.New("already pumping")
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	stop, done := r.stop, r.done
	rec, _ := makeRecord(in.Size)
	go func() {
		defer close(done)
		for {
			select {
			case r.hook <- rec:
			case <-stop:
				return
			}
		}
	}()
	return true, nil
}

// Stop ends the Pump and pushes marker after the last record.
func (r *Records) Stop(_ context.Context, marker string) (bool, error) {
	r.mu.Lock()
	stop, done := r.stop, r.done
	r.stop, r.done = nil, nil
	r.mu.Unlock()
	if stop == nil {
		return false, errors.New("not pumping")
	}
	close(stop)
	<-done
	r.hook <- marker
	return true, nil
}

// errNoShape is what a system returns for a stream shape it does not have
// ($/async is one way).
var errNoShape = errors.New("no such shape")

// streamConn is one system's host side of the stream workloads.
type streamConn interface {
	// source opens a stream of records of size bytes from the plugin,
	// without end; the first record has been read and checked.
	source(ctx context.Context, size int) (receiver, error)
	// processor opens a stream that echoes every record the host sends.
	processor(ctx context.Context) (duplex, error)
	// close ends the connection and what it started.
	close() error
}

// receiver is the host's receiving half of a stream.
type receiver interface {
	// next returns the size of the next item, which it has settled
	// (acknowledged) when the system has acknowledgements; io.EOF at
	// the end.
	next() (int, error)
	// stop ends the stream.
	stop() error
}

// duplex is both halves: a processor's.
type duplex interface {
	receiver
	send(r *Record) error
	closeSend() error
}

// streamSystem is one system under comparison, in one placement.
type streamSystem struct {
	name  string // plugsock stream, gRPC, $/async
	child bool   // the plugin (server) runs in a child process
	start func(child bool) (streamConn, error)
}

func (s streamSystem) label() string {
	if s.child {
		return s.name + " (child)"
	}
	return s.name + " (in-process)"
}

const (
	sysStream = "plugsock stream"
	sysGRPC   = "gRPC bidi stream"
	sysAsync  = "plugsock $/async"
)

func streamSystems() []streamSystem {
	var out []streamSystem
	for _, child := range []bool{true, false} {
		out = append(out,
			streamSystem{name: sysStream, child: child, start: startPlugsockStreams},
			streamSystem{name: sysGRPC, child: child, start: startGRPCStreams},
			streamSystem{name: sysAsync, child: child, start: startPlugsockAsync},
		)
	}
	return out
}

// ---- plugsock streams ----

type psStreams struct {
	s    *socket.Socket
	stop func()
}

// startRecordsHost starts a socket on loopback TCP with the Records
// plugin connected as "records": from a child process of this binary, or
// from this process.
func startRecordsHost(child bool, cfg socket.Config) (*socket.Socket, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	cfg.Logger = quiet
	s := new(socket.Socket)
	s.Serve(l, cfg)
	var stop func()
	if child {
		cmd, _, err := spawn("streams", l.Addr().String())
		if err != nil {
			_ = s.Shutdown("")
			return nil, nil, err
		}
		stop = func() { _ = cmd.Wait() }
	} else {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			_ = s.Shutdown("")
			return nil, nil, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			p := &plugin.Plugin{Logger: quiet}
			_ = p.Start(&Records{}, &envelope.PluginInfo{Name: "records"}, conn, nil)
		}()
		stop = func() { <-done }
	}
	if !s.WaitFor("records", timeout) {
		_ = s.Shutdown("")
		stop()
		return nil, nil, errors.New("the records plugin did not connect")
	}
	return s, stop, nil
}

// runRecordsPlugin is the child side: dial the host and serve Records
// until it lets go.
func runRecordsPlugin(addr string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	p := &plugin.Plugin{Logger: quiet}
	return p.Start(&Records{}, &envelope.PluginInfo{Name: "records"}, conn, nil)
}

func startPlugsockStreams(child bool) (streamConn, error) {
	s, stop, err := startRecordsHost(child, socket.Config{})
	if err != nil {
		return nil, err
	}
	return &psStreams{s: s, stop: stop}, nil
}

func (c *psStreams) close() error {
	err := c.s.Shutdown("")
	c.stop()
	return err
}

type psStream struct {
	ctx context.Context
	st  *envelope.Stream
}

func (p *psStream) next() (int, error) {
	it, err := p.st.Recv(p.ctx)
	if err != nil {
		return 0, err
	}
	if err := p.st.Ack(it.Seq); err != nil {
		return 0, err
	}
	return len(it.Value), nil
}

func (p *psStream) stop() error {
	p.st.Cancel("measured")
	<-p.st.Done()
	return nil
}

func (p *psStream) send(r *Record) error {
	_, err := p.st.Send(p.ctx, r)
	return err
}

func (p *psStream) closeSend() error { return p.st.CloseSend() }

func (c *psStreams) source(ctx context.Context, size int) (receiver, error) {
	st, err := c.s.OpenStream(ctx, "records", "Produce", SourceIn{Size: size})
	if err != nil {
		return nil, err
	}
	p := &psStream{ctx: ctx, st: st}
	it, err := st.Recv(ctx)
	if err == nil {
		err = st.Ack(it.Seq)
	}
	if err == nil {
		err = checkItem(it.Value, size)
	}
	if err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

func (c *psStreams) processor(ctx context.Context) (duplex, error) {
	st, err := c.s.OpenStream(ctx, "records", "Process", nil)
	if err != nil {
		return nil, err
	}
	return &psStream{ctx: ctx, st: st}, nil
}

// checkItem checks that b is the encoding of the record of size bytes.
func checkItem(b []byte, size int) error {
	if _, want := makeRecord(size); string(b) != string(want) {
		return fmt.Errorf("item of %d bytes is not the record of %d", len(b), size)
	}
	return nil
}

// ---- plugsock $/async ----

type psAsync struct {
	s    *socket.Socket
	stop func()
}

func startPlugsockAsync(child bool) (streamConn, error) {
	s, stop, err := startRecordsHost(child, socket.Config{})
	if err != nil {
		return nil, err
	}
	if _, err := s.Async(); err != nil { // the connect event
		_ = s.Shutdown("")
		stop()
		return nil, err
	}
	return &psAsync{s: s, stop: stop}, nil
}

func (c *psAsync) close() error {
	err := c.s.Shutdown("")
	c.stop()
	return err
}

func (c *psAsync) processor(context.Context) (duplex, error) { return nil, errNoShape }

type psPump struct {
	c    *psAsync
	ctx  context.Context
	size int
}

func (c *psAsync) source(ctx context.Context, size int) (receiver, error) {
	if _, err := c.s.Call("", "records", "Pump", SourceIn{Size: size}); err != nil {
		return nil, err
	}
	p := &psPump{c: c, ctx: ctx, size: size}
	if n, err := p.next(); err != nil || n != size {
		_ = p.stop()
		return nil, fmt.Errorf("first async item: %d bytes, %v", n, err)
	}
	return p, nil
}

// next returns the size of the record's encoding, checked field by field
// in what Async decoded.
func (p *psPump) next() (int, error) {
	it, err := p.c.s.AsyncContext(p.ctx)
	if err != nil {
		return 0, err
	}
	m, _ := it.Payload.(map[string]any)
	key, _ := m["key"].(string)
	payload, _ := m["payload"].(string)
	if key != recordKey {
		return 0, fmt.Errorf("async item %v is not a record", it.Payload)
	}
	return len(`{"key":"","payload":""}`) + len(key) + len(payload), nil
}

// stop ends the pump with a call while reading on: the plugin's records
// are ahead of the answer on the wire, and of the marker after them.
func (p *psPump) stop() error {
	stopped := make(chan error, 1)
	go func() {
		_, err := p.c.s.Call("", "records", "Stop", "end")
		stopped <- err
	}()
	for {
		it, err := p.c.s.AsyncContext(p.ctx)
		if err != nil {
			<-stopped
			return err
		}
		if it.Payload == "end" {
			break
		}
	}
	return <-stopped
}

// ---- the measurements ----

// warmup is how many items each measurement moves before it starts timing.
const warmup = 200

// measureSource reads records of size from a source for d and returns
// records per second.
func measureSource(sc streamConn, size int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+timeout)
	defer cancel()
	r, err := sc.source(ctx, size)
	if err != nil {
		return 0, err
	}
	for range warmup {
		if _, err := r.next(); err != nil {
			return 0, err
		}
	}
	n, bytes := 0, 0
	start := time.Now()
	for time.Since(start) < d {
		for range 16 {
			b, err := r.next()
			if err != nil {
				return 0, err
			}
			bytes += b
		}
		n += 16
	}
	el := time.Since(start)
	if err := r.stop(); err != nil {
		return 0, err
	}
	if bytes != n*size {
		return 0, fmt.Errorf("%d bytes in %d records of %d", bytes, n, size)
	}
	return float64(n) / el.Seconds(), nil
}

// measureProcessor sends records of size through a processor from one
// goroutine and reads the echoes on another for d; it returns echoes per
// second.
func measureProcessor(sc streamConn, size int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+timeout)
	defer cancel()
	p, err := sc.processor(ctx)
	if err != nil {
		return 0, err
	}
	rec, _ := makeRecord(size)
	var stop atomic.Bool
	var sent atomic.Int64
	sending := make(chan error, 1)
	go func() {
		for !stop.Load() {
			if err := p.send(&rec); err != nil {
				sending <- err
				return
			}
			sent.Add(1)
		}
		sending <- p.closeSend()
	}()
	// If reading fails, the stream is cancelled, which ends the sender.
	fail := func(err error) (float64, error) {
		stop.Store(true)
		_ = p.stop()
		<-sending
		return 0, err
	}
	for range warmup {
		if _, err := p.next(); err != nil {
			return fail(err)
		}
	}
	n, bytes := 0, 0
	start := time.Now()
	for time.Since(start) < d {
		for range 16 {
			b, err := p.next()
			if err != nil {
				return fail(err)
			}
			bytes += b
		}
		n += 16
	}
	el := time.Since(start)
	stop.Store(true)
	// Read the rest: every record sent comes back, then the end.
	got := warmup + n
	for {
		b, err := p.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		bytes += b
		got++
	}
	if err := <-sending; err != nil {
		return 0, err
	}
	if int64(got) != sent.Load() || bytes != (got-warmup)*size {
		return 0, fmt.Errorf("%d records sent, %d echoed, %d bytes", sent.Load(), got, bytes)
	}
	return float64(n) / el.Seconds(), nil
}

// measureRoundTrip sends records of size through a processor one at a
// time, each after the echo of the one before, for d; it returns µs per
// round trip.
func measureRoundTrip(sc streamConn, size int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+timeout)
	defer cancel()
	p, err := sc.processor(ctx)
	if err != nil {
		return 0, err
	}
	rec, _ := makeRecord(size)
	one := func() error {
		if err := p.send(&rec); err != nil {
			return err
		}
		b, err := p.next()
		if err == nil && b != size {
			err = fmt.Errorf("echo of %d bytes, want %d", b, size)
		}
		return err
	}
	for range warmup {
		if err := one(); err != nil {
			_ = p.stop()
			return 0, err
		}
	}
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 16 {
			if err := one(); err != nil {
				_ = p.stop()
				return 0, err
			}
		}
		n += 16
	}
	el := time.Since(start)
	if err := p.closeSend(); err != nil {
		return 0, err
	}
	if _, err := p.next(); err != io.EOF {
		return 0, fmt.Errorf("after the last echo: %v, want the end", err)
	}
	return float64(el.Microseconds()) / float64(n), nil
}

// streamFigure is one figure of one system, one value per round.
type streamFigure struct {
	sys     int
	kind    string // source, processor, round trip
	size    int
	measure func(streamConn, int, time.Duration) (float64, error)
	vals    []float64
}

var streamKinds = []struct {
	kind, unit string
	measure    func(streamConn, int, time.Duration) (float64, error)
}{
	{"source", "records/s", measureSource},
	{"processor", "records/s", measureProcessor},
	{"round trip", "µs/record", measureRoundTrip},
}

func streamsRun(only string, rounds int, d time.Duration, verbose bool) error {
	var sel []streamSystem
	for _, s := range streamSystems() {
		if only == "" || matches(s.name, only) {
			sel = append(sel, s)
		}
	}
	fmt.Printf("plugsock streams beside gRPC bidirectional streaming and $/async: records of %s and %s over loopback TCP\n",
		sizeName(recordSizes[0]), sizeName(recordSizes[1]))
	fmt.Printf("%d rounds of %v per figure; every plugsock stream has the default window of %d records\n\n",
		rounds, d, envelope.DefaultStreamWindow)
	conns := make([]streamConn, len(sel))
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.close()
			}
		}
	}()
	var figs []*streamFigure
	for i, s := range sel {
		var err error
		pprof.Do(context.Background(), pprof.Labels("system", s.label()), func(context.Context) {
			conns[i], err = s.start(s.child)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", s.label(), err)
		}
		for _, k := range streamKinds {
			if s.name == sysAsync && k.kind != "source" {
				continue
			}
			for _, size := range recordSizes {
				figs = append(figs, &streamFigure{sys: i, kind: k.kind, size: size, measure: k.measure})
			}
		}
	}
	for r := range rounds {
		// A different order every round, so that no figure always
		// follows the same neighbour: a start and a stride that change,
		// the stride prime to the count so that every figure comes once.
		step := stride(r, len(figs))
		for k := range figs {
			f := figs[(r+k*step)%len(figs)]
			var (
				v   float64
				err error
			)
			pprof.Do(context.Background(), pprof.Labels("system", sel[f.sys].label(), "phase", f.kind+" "+sizeName(f.size)), func(context.Context) {
				v, err = f.measure(conns[f.sys], f.size, d)
			})
			if err != nil {
				return fmt.Errorf("%s %s %s: %w", sel[f.sys].label(), f.kind, sizeName(f.size), err)
			}
			f.vals = append(f.vals, v)
			if verbose {
				fmt.Printf("round %d  %-30s %-11s %6s %10.1f\n", r+1, sel[f.sys].label(), f.kind, sizeName(f.size), v)
			}
		}
	}
	if verbose {
		fmt.Println()
	}
	printStreamTables(sel, figs)
	return nil
}

// stride is the r-th number from 1 up that has no factor in common with n.
func stride(r, n int) int {
	gcd := func(a, b int) int {
		for b != 0 {
			a, b = b, a%b
		}
		return a
	}
	for k := 1; ; k++ {
		if gcd(k, n) == 1 {
			if r == 0 {
				return k
			}
			r--
		}
	}
}

func printStreamTables(sel []streamSystem, figs []*streamFigure) {
	get := func(name string, child bool, kind string, size int) (float64, bool) {
		for _, f := range figs {
			if s := sel[f.sys]; s.name == name && s.child == child && f.kind == kind && f.size == size {
				return median(f.vals), true
			}
		}
		return 0, false
	}
	cell := func(v float64, ok bool) string {
		if !ok {
			return "-"
		}
		if v >= 100 {
			return fmt.Sprintf("%.0f", v)
		}
		return fmt.Sprintf("%.1f", v)
	}
	ratio := func(a, b float64, ok bool) string {
		if !ok || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	type target struct {
		what string
		r    float64
	}
	var targets []target
	for _, child := range []bool{true, false} {
		place := "plugin in a child process"
		if !child {
			place = "plugin in this process"
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tstream ÷ gRPC\tstream ÷ async\t\n", place, sysStream, sysGRPC, sysAsync)
		for _, k := range streamKinds {
			for _, size := range recordSizes {
				st, okS := get(sysStream, child, k.kind, size)
				gr, okG := get(sysGRPC, child, k.kind, size)
				as, okA := get(sysAsync, child, k.kind, size)
				fmt.Fprintf(tw, "%s, %s (%s)\t%s\t%s\t%s\t%s\t%s\t\n", k.kind, sizeName(size), k.unit,
					cell(st, okS), cell(gr, okG), cell(as, okA), ratio(st, gr, okS && okG), ratio(st, as, okS && okA))
				if size == recordSizes[0] && k.unit == "records/s" && okS && okG {
					targets = append(targets, target{fmt.Sprintf("%s, %s, %s", k.kind, sizeName(size), strings.TrimPrefix(place, "plugin ")), st / gr})
				}
			}
		}
		_ = tw.Flush()
		fmt.Println()
	}
	fmt.Println("source: the plugin sends, the host reads and acknowledges each record ($/async: reads; it has no acks);")
	fmt.Println("processor: the host sends from one goroutine and reads and acknowledges the echoes on another;")
	fmt.Println("round trip: one record in flight at a time. For round trips a ratio below 1 is plugsock's lead.")
	fmt.Println()
	for _, t := range targets {
		fmt.Printf("target: stream throughput ÷ gRPC's, %s = %.3f (want ≥ 1.00) %s\n", t.what, t.r, verdict(t.r >= 1))
	}
	fmt.Println()
}

// ---- memory: a producer far ahead of a slow consumer ----

// memFigure is the host's memory while it reads slowly from a source
// that has backlog records to send.
type memFigure struct {
	size    int
	backlog int64
	peak    []float64 // peak HeapAlloc above the baseline, sampled every 2 ms
	live    []float64 // peak live heap above the baseline (after a GC), with the window full
	held    []float64 // most records the host held unsettled
	read    []float64 // records the slow consumer read
}

// slowRead is the slow consumer: every tick it reads and acknowledges
// perTick records, for memDuration; 2,000 records a second.
const (
	slowTick    = 10 * time.Millisecond
	perTick     = 20
	memDuration = time.Second
)

func streamMemory(rounds int, verbose bool) error {
	s, stop, err := startRecordsHost(true, socket.Config{})
	if err != nil {
		return err
	}
	defer func() { _ = s.Shutdown(""); stop() }()
	var figs []*memFigure
	for _, size := range recordSizes {
		for _, backlog := range []int64{1e5, 1e6} {
			figs = append(figs, &memFigure{size: size, backlog: backlog})
		}
	}
	for r := range rounds {
		for k := range figs {
			f := figs[(k+r)%len(figs)]
			if err := f.measure(s); err != nil {
				return fmt.Errorf("memory, %s records, backlog %d: %w", sizeName(f.size), f.backlog, err)
			}
			if verbose {
				n := len(f.peak) - 1
				fmt.Printf("round %d  memory %6s backlog %7d: peak +%.0f KiB, live +%.0f KiB, %0.f held, %0.f read\n",
					r+1, sizeName(f.size), f.backlog, f.peak[n]/1024, f.live[n]/1024, f.held[n], f.read[n])
			}
		}
	}
	fmt.Printf("host heap while a source in a child process is far ahead of a slow consumer (%d records per %v, for %v),\n",
		perTick, slowTick, memDuration)
	fmt.Printf("window %d; median of %d rounds; growth above the heap before the stream opened:\n",
		envelope.DefaultStreamWindow, rounds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "records\tbacklog\tbacklog's bytes\twindow's bytes\tpeak heap\tlive heap\tmost held\tread\t\n")
	for _, f := range figs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t\n", sizeName(f.size), f.backlog,
			kib(float64(f.backlog)*float64(f.size)), kib(float64(envelope.DefaultStreamWindow*f.size)),
			kib(median(f.peak)), kib(median(f.live)), median(f.held), median(f.read))
	}
	_ = tw.Flush()
	fmt.Println("peak heap: the highest HeapAlloc sampled, garbage included; live heap: HeapAlloc after a GC, with the window full.")
	fmt.Println()
	for i := 0; i+1 < len(figs); i += 2 {
		small, big := figs[i], figs[i+1]
		pr := median(big.peak) / median(small.peak)
		lr := median(big.live) / max(median(small.live), 64<<10)
		held := max(median(small.held), median(big.held))
		ok := pr <= 1.5 && lr <= 1.5 && held <= envelope.DefaultStreamWindow
		fmt.Printf("target: %s records, host heap at a backlog of %d ÷ at %d: peak %.2f, live %.2f (want ≤ 1.5), most held %.0f (want ≤ %d) %s\n",
			sizeName(small.size), big.backlog, small.backlog, pr, lr, held, envelope.DefaultStreamWindow, verdict(ok))
	}
	fmt.Println()
	return nil
}

func kib(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", b/1024)
}

func (f *memFigure) measure(s *socket.Socket) error {
	base := heapAlloc(true)
	ctx, cancel := context.WithTimeout(context.Background(), memDuration+timeout)
	defer cancel()
	st, err := s.OpenStream(ctx, "records", "Produce", SourceIn{N: f.backlog, Size: f.size})
	if err != nil {
		return err
	}
	defer st.Cancel("measured")
	var (
		peak   atomic.Uint64
		held   atomic.Int64
		wg     sync.WaitGroup
		sample = make(chan struct{})
	)
	note := func() {
		if h := heapAlloc(false); h > peak.Load() {
			peak.Store(h)
		}
		ss := st.Stats()
		if n := int64(ss.Received - ss.Settled); n > held.Load() {
			held.Store(n)
		}
	}
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				note()
			case <-sample:
				return
			}
		}
	})
	var live uint64
	t := time.NewTicker(slowTick)
	defer t.Stop()
	read := 0
	start := time.Now()
	for tick := 1; time.Since(start) < memDuration; tick++ {
		<-t.C
		if tick%20 == 0 {
			// The window is full: the producer has had a tick to fill
			// what the last reads freed.
			if h := heapAlloc(true); h > base && h-base > live {
				live = h - base
			}
		}
		for range perTick {
			it, err := st.Recv(ctx)
			if err != nil {
				close(sample)
				wg.Wait()
				return err
			}
			if len(it.Value) != f.size {
				close(sample)
				wg.Wait()
				return fmt.Errorf("item of %d bytes, want %d", len(it.Value), f.size)
			}
			if err := st.Ack(it.Seq); err != nil {
				close(sample)
				wg.Wait()
				return err
			}
			read++
		}
	}
	close(sample)
	wg.Wait()
	note()
	if ss := st.Stats(); int64(ss.Received) >= f.backlog {
		return fmt.Errorf("the producer was not ahead: %d of %d received", ss.Received, f.backlog)
	}
	f.peak = append(f.peak, float64(peak.Load()-min(peak.Load(), base)))
	f.live = append(f.live, float64(live))
	f.held = append(f.held, float64(held.Load()))
	f.read = append(f.read, float64(read))
	return nil
}

// heapAlloc is the heap's allocated bytes, after two collections when gc
// is set (then it is the live heap).
func heapAlloc(gc bool) uint64 {
	if gc {
		runtime.GC()
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// spawnKill is spawn for a child that is killed when done.
func spawnKill(role string) (addr string, stop func(), err error) {
	var cmd *exec.Cmd
	cmd, addr, err = spawn(role, "")
	if err != nil {
		return "", nil, err
	}
	return addr, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}
