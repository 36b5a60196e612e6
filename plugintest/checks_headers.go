package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"github.com/plugsock/plugsock/envelope"
)

// contentType is the header line LSP clients put on their frames, and
// the one a plugin built on an LSP library is most likely to meet if a
// peer other than the host ever talks to it.
const contentType = "Content-Type: application/vscode-jsonrpc; charset=utf-8"

// extraHeaders runs the extra headers check on cmd, a second start of the
// plugin: the host sends only Content-Length, so what this finds is a
// warning, never a failure, and a plugin that chokes on it must not spoil
// the battery's own connection. The process is killed and reaped before
// it returns.
func (c *checker) extraHeaders(ctx context.Context, cmd *exec.Cmd) {
	const name = "extra headers"
	warn := func(format string, args ...any) {
		c.add(name, Warn, "%s (the host sends only Content-Length, so this is no conformance failure)", fmt.Sprintf(format, args...))
	}
	r, err := start(cmd)
	if err != nil {
		warn("could not start the plugin a second time for this check: %v", err)
		return
	}
	defer r.end()
	nc, err := accept(ctx, r.l, r.p)
	if err != nil {
		warn("started a second time for this check, the plugin did not connect: %v", err)
		return
	}
	w := newWire(nc)
	go w.readLoop()
	defer func() {
		_ = nc.Close()
		<-w.closed
	}()
	defer context.AfterFunc(ctx, func() { _ = nc.Close() })()

	if !w.welcome(c.cfg.callTimeout) {
		warn("started a second time for this check, the plugin did not handshake")
		return
	}
	probes := []struct {
		where         string
		before, after string
	}{
		{where: "after Content-Length, as LSP clients send it", after: contentType},
		{where: "before Content-Length", before: contentType},
	}
	for _, p := range probes {
		rq := w.newRequest(envelope.MethodPing, nil, "")
		b, err := rq.appendFrame(nil)
		if err == nil {
			err = w.writeRaw(withHeader(b, p.before, p.after))
		}
		if err != nil {
			warn("could not send a ping with a Content-Type header line %s: %v", p.where, err)
			return
		}
		a, ok := w.await(rq, c.cfg.callTimeout)
		switch {
		case !ok && w.isClosed():
			warn("a ping with a Content-Type header line %s made the plugin close the connection", p.where)
			return
		case !ok:
			w.forget(rq)
			warn("a ping with a Content-Type header line %s got no answer within %v", p.where, c.cfg.callTimeout)
			return
		case a.err != nil || string(bytes.TrimSpace(a.m.Result)) != "null":
			warn("a ping with a Content-Type header line %s was answered %s; want result null", p.where, clip(a.m.body))
			return
		}
	}
	c.add(name, Pass, "pings with a Content-Type header line after and before Content-Length were answered")
	// Let it leave as it would from a host, rather than be killed mid-call.
	sd := w.newRequest(envelope.MethodShutdown, nil, checkTrace+"-shutdown")
	if w.send(sd) == nil {
		t := time.NewTimer(c.cfg.callTimeout)
		defer t.Stop()
		select {
		case <-w.closed:
		case <-t.C:
		}
	}
}

// welcome waits for the plugin's handshake and accepts it, as the host
// does, in the protocol it asks for; it reports whether there was one.
// What the handshake holds is the battery's business, not this check's.
// timeout is what a call's deadline allows.
func (w *wire) welcome(timeout time.Duration) bool {
	t := time.NewTimer(checkHandshakeTimeout)
	defer t.Stop()
	var m *message
	select {
	case m = <-w.hs:
	case <-w.closed:
		select {
		case m = <-w.hs:
		default:
			return false
		}
	case <-t.C:
		return false
	}
	var hs struct {
		Name string `json:"name"`
		hello
	}
	if !m.isRequest() || m.Method != envelope.MethodHandshake || json.Unmarshal(m.Params, &hs) != nil {
		return false
	}
	neg, problem := hs.negotiate()
	if problem != "" {
		return false
	}
	w.setProtocol(neg.proto, hs.Name, nil, timeout)
	return w.reply(m.ID, neg.result(hs.Name)) == nil
}

// withHeader puts the header line before in front of frame's
// Content-Length line, and after behind it; "" adds nothing.
func withHeader(frame []byte, before, after string) []byte {
	i := bytes.Index(frame, []byte("\r\n")) + 2 // the end of the Content-Length line
	var b []byte
	if before != "" {
		b = append(b, before+"\r\n"...)
	}
	b = append(b, frame[:i]...)
	if after != "" {
		b = append(b, after+"\r\n"...)
	}
	return append(b, frame[i:]...)
}
