package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Bytes returns n bytes: an answer as large as the caller asks for.
func (Echoer) Bytes(_ context.Context, n int) ([]byte, error) {
	if n < 0 || n > 256<<20 {
		return nil, fmt.Errorf("bytes: n is %d, want 0 to %d", n, 256<<20)
	}
	return make([]byte, n), nil
}

const (
	payloadBigWhat  = "64 MiB []byte echo, limit raised to 128 MiB"
	payloadOverWant = "an error naming the limit, the next call succeeds"
)

var payloadOverWhat = [2]string{
	"request over the 1 MiB limit fails that call only",
	"answer over the 1 MiB limit fails that call only",
}

// payloadHost is a socket and one in-process plugin over loopback TCP,
// both with the frame limit given.
type payloadHost struct {
	s    *socket.Socket
	done chan error
}

func newPayloadHost(limit int) (*payloadHost, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &payloadHost{s: new(socket.Socket), done: make(chan error, 1)}
	h.s.Serve(l, socket.Config{Logger: quiet, MaxFrameSize: limit})
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		_ = h.s.Shutdown("")
		return nil, err
	}
	go func() {
		p := &plugin.Plugin{Logger: quiet, MaxFrameSize: limit}
		h.done <- p.Start(Echoer{}, &envelope.PluginInfo{Name: "echo"}, conn, nil)
	}()
	if !h.s.WaitFor("echo", timeout) {
		_ = h.close()
		return nil, errors.New("plugin did not connect")
	}
	return h, nil
}

func (h *payloadHost) close() error {
	if h == nil {
		return nil
	}
	err := h.s.Shutdown("")
	select {
	case <-h.done:
	case <-time.After(timeout):
		return errors.New("plugin did not end after shutdown")
	}
	return err
}

func (h *payloadHost) call(method string, in, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.s.CallContext(ctx, "echo", method, in, out)
}

// namesLimit reports whether err's text names the frame limit of limit
// bytes, in bytes or in MiB.
func namesLimit(err error, limit int) bool {
	s := err.Error()
	return strings.Contains(s, strconv.Itoa(limit)) ||
		strings.Contains(s, fmt.Sprintf("%d MiB", limit>>20)) ||
		strings.Contains(s, fmt.Sprintf("%dMiB", limit>>20))
}

// payloadRun checks, not timed, that a 64 MiB payload echoes with the limit
// raised, and that a payload over the limit, either way, fails only its
// call, with an error naming the limit.
func payloadRun() error {
	const (
		bigLimit = 128 << 20 // 64 MiB in base64 is about 85 MiB of JSON
		big      = 64 << 20
		limit    = 1 << 20
	)
	defer debug.FreeOSMemory()
	func() {
		what, want := payloadBigWhat, "works"
		h, err := newPayloadHost(bigLimit)
		if err != nil {
			failTarget("payload", what, want, err)
			return
		}
		defer func() { _ = h.close() }()
		in := make([]byte, big)
		for i := range in {
			in[i] = byte(i * 13)
		}
		var out []byte
		start := time.Now()
		err = h.call("EchoBytes", in, &out)
		took := time.Since(start)
		switch {
		case err != nil:
			failTarget("payload", what, want, err)
		case !bytes.Equal(in, out):
			failTarget("payload", what, want, fmt.Errorf("the echo differs from what was sent (%d bytes back)", len(out)))
		default:
			addTarget("payload", what, fmt.Sprintf("works (%v)", took.Round(time.Millisecond)), want, true)
		}
	}()

	h, err := newPayloadHost(limit)
	if err != nil {
		return err
	}
	defer func() { _ = h.close() }()
	over := make([]byte, limit) // base64 makes it 1.33 MiB of JSON
	cases := []struct {
		what string
		call func() error
	}{
		{payloadOverWhat[0],
			func() error { var out []byte; return h.call("EchoBytes", over, &out) }},
		{payloadOverWhat[1],
			func() error { var out []byte; return h.call("Bytes", limit, &out) }},
	}
	const want = payloadOverWant
	for _, c := range cases {
		err := c.call()
		var next Small
		nextErr := h.call("Echo", payload, &next)
		switch {
		case err == nil:
			failTarget("payload", c.what, want, errors.New("the call over the limit succeeded"))
		case !namesLimit(err, limit):
			failTarget("payload", c.what, want, fmt.Errorf("its error does not name the limit (%d bytes): %w", limit, err))
		case nextErr != nil:
			failTarget("payload", c.what, want, fmt.Errorf("the next call failed: %w", nextErr))
		case next != payload:
			failTarget("payload", c.what, want, fmt.Errorf("the next call returned %+v", next))
		default:
			addTarget("payload", c.what, "ok: "+firstLine(err.Error()), want, true)
		}
		if nextErr != nil {
			// The connection is gone: a fresh one for the next case.
			_ = h.close()
			if h, err = newPayloadHost(limit); err != nil {
				return err
			}
		}
	}
	return nil
}
