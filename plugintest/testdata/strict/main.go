// Command strict is a Go plugin whose reader is as strict as the host
// allows it to be, and no more lenient: it reads frames the way Debian's
// python3-pylsp-jsonrpc does (JsonRpcStreamReader), taking the length
// from the first header line only, and only when that line begins with
// "Content-Length: ". A frame whose first line is anything else is read,
// as there, to the end of the stream: the plugin hangs until the peer
// hangs up. The host never sends such a frame, so the plugin works
// against it, and the battery must pass it too.
//
// It also records what it reads, to the file named by
// $PLUGINTEST_RECORD when that is set, one file per process, so that a
// test can compare the frames the battery sends with the host's.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

// Calc is the plugin.
type Calc struct{}

// pong is closed once the plugin has read an answer to one of its pings,
// when $PLUGINTEST_HEARTBEAT is set: Add waits for it (up to 5s), so that
// a test of what the host sends is sure to see one.
var (
	pong     = make(chan struct{})
	pongOnce sync.Once
)

// Pair is what Add takes.
type Pair struct {
	A int `json:"a"`
	B int `json:"b"`
}

// Add adds.
func (Calc) Add(_ context.Context, in Pair) (int, error) {
	if os.Getenv("PLUGINTEST_HEARTBEAT") != "" {
		select {
		case <-pong:
		case <-time.After(5 * time.Second):
		}
	}
	return in.A + in.B, nil
}

// Div divides, and fails on a zero divisor.
func (Calc) Div(_ context.Context, in Pair) (int, error) {
	if in.B == 0 {
		return 0, errors.New("division by zero")
	}
	return in.A / in.B, nil
}

// Sleep waits ms milliseconds, or until the call is cancelled.
func (Calc) Sleep(ctx context.Context, ms int) (string, error) {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return "slept", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// strictConn hands the plugin only the frames a first-line reader reads.
type strictConn struct {
	net.Conn
	br      *bufio.Reader
	pending []byte
	record  io.Writer
}

func (c *strictConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		frame, err := c.next()
		if err != nil {
			return 0, err
		}
		c.pending = frame
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// next reads one frame as JsonRpcStreamReader._read_message does.
func (c *strictConn) next() ([]byte, error) {
	var raw strings.Builder
	line, err := c.br.ReadString('\n')
	raw.WriteString(line)
	if err != nil {
		return nil, err
	}
	v, ok := strings.CutPrefix(line, "Content-Length: ")
	if !ok {
		// There the length is None, and read(None) reads to the end.
		log.Printf("strict: a frame began with %q, not Content-Length; reading to the end of the stream", strings.TrimSpace(line))
		_, _ = io.Copy(io.Discard, c.br)
		return nil, io.EOF
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return nil, err
	}
	for strings.TrimSpace(line) != "" { // the rest of the header, blindly
		if line, err = c.br.ReadString('\n'); err != nil {
			return nil, err
		}
		raw.WriteString(line)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, err
	}
	if c.record != nil {
		_, _ = io.WriteString(c.record, raw.String())
		_, _ = c.record.Write(body)
	}
	if bytes.HasSuffix(body, []byte(`,"result":null}`)) {
		pongOnce.Do(func() { close(pong) }) // the plugin sends only pings and its handshake
	}
	return envelope.AppendFrame(nil, body), nil
}

func main() {
	network, addr, err := envelope.ParseAddr(os.Getenv(envelope.EnvAddr))
	if err != nil {
		log.Fatal(err)
	}
	nc, err := net.Dial(network, addr)
	if err != nil {
		log.Fatal(err)
	}
	c := &strictConn{Conn: nc, br: bufio.NewReader(nc)}
	if dir := os.Getenv("PLUGINTEST_RECORD"); dir != "" {
		f, err := os.CreateTemp(dir, "frames-*")
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		c.record = f
	}
	p := &plugin.Plugin{Launch: os.Getenv(envelope.EnvLaunch)}
	if d := heartbeat(); d > 0 {
		// Fast pings, but patient ones: a peer slowed down by the race
		// detector on a busy machine is not gone.
		p.HeartbeatInterval, p.HeartbeatMisses = d, int(5*time.Second/d)
	}
	if err := p.Start(Calc{}, &envelope.PluginInfo{Name: "strict", Version: "1.0.0"}, c, nil); err != nil {
		log.Fatal(err)
	}
}

// heartbeat is the plugin's ping interval: $PLUGINTEST_HEARTBEAT when set
// (so that a test sees the host's answer to a ping), the default otherwise.
func heartbeat() (d time.Duration) {
	if s := os.Getenv("PLUGINTEST_HEARTBEAT"); s != "" {
		d, _ = time.ParseDuration(s)
	}
	return d
}
