package socket

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/plugsock/plugsock/envelope"
)

// ErrNotStream is what OpenStream's error wraps for a function that is not
// a stream, and what CallContext's wraps for one that is.
var ErrNotStream = errors.New("not a stream")

// OpenStream opens a stream on the stream function method of the plugin
// called name (an address as for CallContext), with input as what opens
// it, validated as a call's payload is. It returns once the request is
// sent. The stream lasts until the plugin's method returns, either side
// cancels it, the connection ends, or ctx does (which cancels it with
// ctx's error as the reason); the call timeout does not apply.
//
// What the host does with the stream depends on the function's shape
// (typedesc.Stream.Shape): from a source it Recvs and settles items
// (Ack, AckThrough, Reject), to a sink it Sends and then CloseSend, and a
// processor does both. A plugin may send at most Config.StreamWindow
// unsettled items: settling them is what lets it send more.
//
// Unplug lets a plugin's open streams finish: it closes the host's half
// of each, asks the plugin to stop, and waits for their methods to return
// up to the shutdown timeout; then it cancels the streams left, which
// keep their unacknowledged items (Unacked) for the application to
// deliver again.
func (s *Socket) OpenStream(ctx context.Context, name, method string, input any) (*envelope.Stream, error) {
	if err := reservedMethod(name, method); err != nil {
		return nil, err
	}
	r, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	fn, ok := r.info.Functions[method]
	switch {
	case !ok:
		return nil, fmt.Errorf("plugsock: stream %s.%s: %w", name, method, ErrMethodNotFound)
	case fn.Stream == nil:
		return nil, fmt.Errorf("plugsock: stream %s.%s: the function is %w; call it with CallContext", name, method, ErrNotStream)
	case r.conn.Protocol() < envelope.Protocol2:
		return nil, fmt.Errorf("plugsock: stream %s.%s: streams need protocol 2, and the plugin speaks protocol %d", name, method, r.conn.Protocol())
	}
	payload, err := r.checkPayload(name, method, input)
	if err != nil {
		return nil, err
	}
	if envelope.TraceFrom(ctx) == "" {
		ctx = envelope.WithTrace(ctx, newTraceID())
	}
	var params any // a stream without an input is opened with {}
	if fn.Input != nil || len(fn.InputSchema) > 0 || payload != nil {
		params = envelope.Params(payload, fn.ObjectInput())
	}
	st, err := r.conn.OpenStream(ctx, method, params, r.cfg.streamWindow)
	if err != nil {
		return nil, fmt.Errorf("plugsock: stream %s.%s (trace %s): %w", name, method, envelope.TraceFrom(ctx), err)
	}
	if r.stats != nil {
		r.stats.plugin.streamOpened(st, r.stats.method(method))
	}
	return st, nil
}

// closeStreams closes the host's half of every stream open on r, as the
// first step of unplugging it.
func (r *remote) closeStreams() {
	for _, st := range r.conn.Streams() {
		_ = st.CloseSend()
	}
}

// cancelStreams cancels every stream still open on r, once its shutdown
// timeout has passed.
func (r *remote) cancelStreams(reason string) {
	for _, st := range r.conn.Streams() {
		st.Cancel(reason)
	}
}

// StreamInfo is a stream open between the host and a plugin, as the host
// sees it.
type StreamInfo struct {
	Plugin string `json:"plugin"` // the plugin's assigned name
	envelope.StreamStats
}

// Streams returns the streams open on every plugin, by plugin name and
// then in the order they were opened. It is for monitoring (the admin
// API and console show it); it visits every plugin.
func (s *Socket) Streams() []StreamInfo {
	s.mu.Lock()
	type open struct {
		name string
		r    *remote
	}
	rs := make([]open, 0, len(s.plugins))
	for name, r := range s.plugins {
		if r.state.live() {
			rs = append(rs, open{name, r})
		}
	}
	s.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].name < rs[j].name })
	var out []StreamInfo
	for _, o := range rs {
		for _, st := range o.r.conn.Streams() {
			out = append(out, StreamInfo{Plugin: o.name, StreamStats: st.Stats()})
		}
	}
	return out
}
