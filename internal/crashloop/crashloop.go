// Package crashloop is the crash test of a host's durable events (issue
// 16, "crash safety"): a host process is killed with SIGKILL again and
// again, at moments chosen at random, while a publisher posts events to
// its admin API and a consumer plugin process (the recorder program, in
// ./recorder) writes down, synced, every event it is delivered before it
// acknowledges it. At the end, every event the host answered 200 for was
// delivered at least once, no offset is missing, an event was delivered
// twice only across a kill, and a host stopped in good order and started
// again delivers nothing it had committed.
//
// The host is whatever Config.Host starts: plugsock serve --data for
// eventlog/bolt (cmd/plugsock's test), or a host on another Store.
package crashloop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config is one crash loop.
type Config struct {
	// Host returns the command that runs the host: keeping its events in
	// dir, accepting plugins at listen (host:port), serving the admin API
	// at admin (host:port) behind token. The same command is run again
	// after each kill, on the same dir and addresses.
	Host func(dir, listen, admin, token string) *exec.Cmd
	// Recorder is the path of the recorder program, built from
	// ./recorder; BuildRecorder builds it.
	Recorder string
	// Kills is how many times the host is killed; 5 when zero.
	Kills int
	// Events is how many events the publisher has answered 200 for at the
	// least before the loop ends; 400 when zero.
	Events int
	// Seed seeds the choice of moments; the time when zero. The test
	// logs it.
	Seed uint64
}

// Result is what a crash loop saw.
type Result struct {
	Published  int // events answered 200
	Offsets    int // offsets delivered
	Deliveries int // lines the recorder wrote
	Duplicates int // deliveries of an offset delivered before
}

// BuildRecorder builds the recorder program into a temporary directory
// of t's and returns its path.
func BuildRecorder(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "recorder")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/plugsock/plugsock/internal/crashloop/recorder")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the recorder: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// loop is one run's state.
type loop struct {
	t                  testing.TB
	cfg                Config
	dir, listen, admin string
	token              string
	logs               *lockedBuffer
	host               *exec.Cmd
	hostDone           chan error
	mu                 sync.Mutex
	kills              []time.Time // when the host was killed
	published          map[int64]bool
	successes          int
	publishing         chan struct{} // closed to stop the publisher
	published1         chan struct{} // signalled on each success
	client             *http.Client
}

// Run runs the crash loop and fails t if anything acknowledged was lost
// or delivered twice but across a kill.
func Run(t *testing.T, cfg Config) Result {
	t.Helper()
	if cfg.Kills == 0 {
		cfg.Kills = 5
	}
	if cfg.Events == 0 {
		cfg.Events = 400
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	t.Logf("crash loop: seed %d, %d kills, %d events", cfg.Seed, cfg.Kills, cfg.Events)
	rng := rand.New(rand.NewPCG(cfg.Seed, 16))
	l := &loop{t: t, cfg: cfg, dir: t.TempDir(), listen: freeAddr(t), admin: freeAddr(t), token: "crash-loop-token",
		logs: new(lockedBuffer), published: make(map[int64]bool), publishing: make(chan struct{}),
		published1: make(chan struct{}, 1), client: &http.Client{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	defer func() {
		if t.Failed() {
			t.Logf("host log:\n%s", l.logs.String())
		}
	}()

	record := filepath.Join(l.dir, "recorded")
	rec := exec.Command(cfg.Recorder)
	rec.Env = append(os.Environ(), "PLUGSOCK_ADDR="+l.listen, "RECORDER_FILE="+record)
	rec.Stderr = l.logs
	l.start(ctx)
	if err := rec.Start(); err != nil {
		t.Fatalf("starting the recorder: %v", err)
	}
	defer func() {
		if t.Failed() {
			// A host still up would hold the recorder's subscription
			// stream open, and the recorder, told to leave, would wait
			// for it: kill the host first, so that nothing is left behind.
			l.mu.Lock()
			host := l.host
			l.mu.Unlock()
			if host != nil && host.Process != nil {
				_ = host.Process.Kill()
			}
		}
		_ = rec.Process.Signal(syscall.SIGTERM)
		_ = rec.Wait()
	}()

	var pub sync.WaitGroup
	pub.Go(func() { l.publish(ctx) })
	for k := range cfg.Kills {
		// At a random moment: after a random number of events more.
		l.waitPublished(ctx, l.count()+10+rng.IntN(60))
		l.kill()
		t.Logf("kill %d after %d events published", k+1, l.count())
		l.start(ctx)
	}
	l.waitPublished(ctx, cfg.Events)
	close(l.publishing)
	pub.Wait()

	// Every event answered 200 is delivered, in the end.
	var lines []line
	var missing []int64
	l.eventually(ctx, func() string {
		return fmt.Sprintf("every event published is delivered: %d are not, among them %v", len(missing), missing[:min(len(missing), 10)])
	}, func() bool {
		lines = readLines(t, record)
		seen := map[int64]bool{}
		for _, ln := range lines {
			seen[ln.n] = true
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		missing = missing[:0]
		for n := range l.published {
			if !seen[n] {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0
	})

	// A stop in good order, and a start: nothing committed comes again.
	if err := l.host.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-l.hostDone; err != nil {
		t.Fatalf("the host did not stop in good order: %v", err)
	}
	restarted := time.Now()
	l.start(ctx)
	l.postUntil(ctx, -1)
	l.eventually(ctx, say("the marker published after a clean restart is delivered"), func() bool {
		lines = readLines(t, record)
		return len(lines) > 0 && slicesContainsN(lines, -1)
	})
	for _, ln := range lines {
		if ln.n != -1 && ln.at.After(restarted) {
			t.Errorf("offset %d (n %d) was delivered again after a clean restart: it had been committed", ln.offset, ln.n)
		}
	}

	// No offset is missing, and each delivered twice was so across a kill.
	res := Result{Published: l.count(), Deliveries: len(lines)}
	byOffset := map[uint64][]time.Time{}
	var last uint64
	for _, ln := range lines {
		byOffset[ln.offset] = append(byOffset[ln.offset], ln.at)
		last = max(last, ln.offset)
	}
	res.Offsets = len(byOffset)
	for off := uint64(1); off <= last; off++ {
		if len(byOffset[off]) == 0 {
			t.Errorf("offset %d was never delivered (the last delivered is %d)", off, last)
		}
	}
	l.mu.Lock()
	kills := append([]time.Time(nil), l.kills...)
	l.mu.Unlock()
	for off, ats := range byOffset {
		sort.Slice(ats, func(i, j int) bool { return ats[i].Before(ats[j]) })
		for i := 1; i < len(ats); i++ {
			res.Duplicates++
			if !killedBetween(kills, ats[i-1], ats[i]) {
				t.Errorf("offset %d was delivered at %v and again at %v with no kill in between", off, ats[i-1], ats[i])
			}
		}
	}
	t.Logf("crash loop: %d events published, %d offsets delivered in %d deliveries, %d duplicates across %d kills",
		res.Published, res.Offsets, res.Deliveries, res.Duplicates, len(kills))
	if err := l.host.Process.Signal(syscall.SIGTERM); err == nil {
		<-l.hostDone
	}
	return res
}

func slicesContainsN(lines []line, n int64) bool {
	for _, ln := range lines {
		if ln.n == n {
			return true
		}
	}
	return false
}

// inFlight is how long before the recorder wrote a delivery the host may
// have sent it: items already in the plugin's socket buffer when the host
// is killed are still read and recorded after the kill, and come again
// from the restarted host, not having been acknowledged.
const inFlight = 250 * time.Millisecond

// killedBetween reports whether a kill came between the delivery recorded
// at a (sent up to inFlight earlier) and the one recorded at b.
func killedBetween(kills []time.Time, a, b time.Time) bool {
	for _, k := range kills {
		if k.After(a.Add(-inFlight)) && k.Before(b) {
			return true
		}
	}
	return false
}

// start runs the host and waits until its admin API answers.
func (l *loop) start(ctx context.Context) {
	l.t.Helper()
	cmd := l.cfg.Host(l.dir, l.listen, l.admin, l.token)
	cmd.Stdout, cmd.Stderr = l.logs, l.logs
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("starting the host: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	l.host, l.hostDone = cmd, done
	l.eventually(ctx, say("the host's admin API answers"), func() bool {
		resp, err := l.client.Get("http://" + l.admin + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill kills the host with SIGKILL and reaps it.
func (l *loop) kill() {
	l.t.Helper()
	l.mu.Lock()
	l.kills = append(l.kills, time.Now())
	l.mu.Unlock()
	if err := l.host.Process.Kill(); err != nil {
		l.t.Fatalf("killing the host: %v", err)
	}
	<-l.hostDone
}

// publish posts events, n = 1, 2, 3..., each until the host answers it
// 200, until told to stop.
func (l *loop) publish(ctx context.Context) {
	for n := int64(1); ; n++ {
		select {
		case <-l.publishing:
			return
		default:
		}
		if !l.post(ctx, n) {
			return
		}
	}
}

// post posts event n until the host answers 200; false when the loop
// ends first.
func (l *loop) post(ctx context.Context, n int64) bool {
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		if l.try(ctx, n) {
			l.mu.Lock()
			l.published[n] = true
			l.successes++
			l.mu.Unlock()
			select {
			case l.published1 <- struct{}{}:
			default:
			}
			return true
		}
		t := time.NewTimer(delay) // the host is down: try again shortly
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// postUntil posts event n until it is answered 200, failing the test when
// the loop's time runs out.
func (l *loop) postUntil(ctx context.Context, n int64) {
	if !l.post(ctx, n) {
		l.t.Fatalf("event %d was never published", n)
	}
}

func (l *loop) try(ctx context.Context, n int64) bool {
	body := fmt.Sprintf(`{"type":"crash","data":{"n":%d}}`, n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+l.admin+"/api/topics/crash/events", strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (l *loop) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.successes
}

// waitPublished waits until n events are published.
func (l *loop) waitPublished(ctx context.Context, n int) {
	l.t.Helper()
	for l.count() < n {
		select {
		case <-l.published1:
		case <-ctx.Done():
			l.t.Fatalf("only %d of %d events published in time", l.count(), n)
		}
	}
}

// eventually polls cond until it holds, failing the test with what's
// message when the loop's time runs out.
func (l *loop) eventually(ctx context.Context, what func() string, cond func() bool) {
	l.t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			l.t.Fatalf("timed out: %s", what())
		}
	}
}

func say(s string) func() string { return func() string { return s } }

// line is one line the recorder wrote.
type line struct {
	offset uint64
	n      int64
	at     time.Time
}

// readLines reads the recorder's file; a last line not yet complete is
// left for the next read.
func readLines(t testing.TB, path string) []line {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		return nil
	}
	var out []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			t.Fatalf("recorder line %q is not OFFSET N TIME", sc.Text())
		}
		off, err1 := strconv.ParseUint(f[0], 10, 64)
		n, err2 := strconv.ParseInt(f[1], 10, 64)
		at, err3 := strconv.ParseInt(f[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("recorder line %q: %v", sc.Text(), err)
		}
		out = append(out, line{off, n, time.Unix(0, at)})
	}
	return out
}

// lockedBuffer collects the processes' output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
