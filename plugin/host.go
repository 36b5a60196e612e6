package plugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// Host is the host a plugin is connected to, as protocol 2 lets a plugin
// call it: its services, and the other plugins it lets this one call. A
// method finds it with HostFrom; Plugin.Host returns it outside methods.
// Its methods are safe for concurrent use, and a nil *Host's calls fail
// with an error wrapping envelope.ErrShutdown.
type Host struct {
	conn     *envelope.Conn
	proto    int
	services map[string]typedesc.Function // as the handshake answer described them; never changed
	stopping <-chan struct{}              // the session's: closed once the host asks the plugin to stop
	name     string                       // the plugin's, as the host assigned it
	observer envelope.Observer            // Plugin.Observer; nil: none
}

// Stopping returns a channel that is closed once the host has asked the
// plugin to stop ($/shutdown, as Unplug and Shutdown send): the plugin
// takes no new calls then, and the host waits, up to its shutdown timeout,
// for those in flight. A method that runs until told otherwise, a
// stream's source most of all, should return soon after, having drained
// what it sent. ctx is a method's; the channel is nil, never closed, for
// a host that speaks protocol 1.
func Stopping(ctx context.Context) <-chan struct{} {
	if h := HostFrom(ctx); h != nil {
		return h.stopping
	}
	return nil
}

type hostKey struct{}

// HostFrom returns the host that called the method ctx was given to, or
// nil when the host speaks protocol 1, which has no calls this way.
func HostFrom(ctx context.Context) *Host {
	h, _ := ctx.Value(hostKey{}).(*Host)
	return h
}

// Host returns the host the plugin is connected to, from the moment
// OnConnect is called until Start returns; nil outside that time. On a
// protocol 1 host it is a Host whose Protocol is 1 and whose calls fail.
func (p *Plugin) Host() *Host {
	p.mu.Lock()
	s := p.cur
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host
}

// Protocol returns the protocol version the host and the plugin speak;
// zero for a nil Host.
func (h *Host) Protocol() int {
	if h == nil {
		return 0
	}
	return h.proto
}

// Services returns the host's services, by "Service.Method" name, as the
// host described them in the handshake. The map is the caller's own.
func (h *Host) Services() map[string]typedesc.Function {
	if h == nil || len(h.services) == 0 {
		return map[string]typedesc.Function{}
	}
	out := make(map[string]typedesc.Function, len(h.services))
	for k, f := range h.services {
		out[k] = f.DeepCopy()
	}
	return out
}

// Call calls the host service method ("Service.Method") with payload and
// decodes the result into result, a pointer (or nil to discard it). It
// works as the host's own calls do: ctx's deadline, trace id
// (envelope.WithTrace; a method's ctx has its call's) and progress request
// (envelope.WithProgress) travel with it, and when ctx ends first the host
// is told to cancel and Call returns ctx's error. The host's error
// answers come back as *envelope.Error values, which errors.Is matches
// against envelope.ErrMethodNotFound and the like.
func (h *Host) Call(ctx context.Context, method string, payload, result any) error {
	if err := h.usable(method); err != nil {
		return err
	}
	if strings.HasPrefix(method, "$/") {
		return fmt.Errorf("plugsock: call %s: methods starting with \"$/\" belong to the protocol (to call another plugin, use CallPlugin): %w", method, envelope.ErrMethodNotFound)
	}
	// A service registered after this plugin connected has no
	// description here: its payload then goes by its own JSON's shape.
	var params any
	var err error
	if f, known := h.services[method]; known {
		params = envelope.Params(payload, f.ObjectInput())
	} else if params, err = envelope.ParamsFor(payload, nil); err != nil {
		return fmt.Errorf("plugsock: call %s: encoding the payload: %w", method, err)
	}
	return h.call(ctx, envelope.ObservedCall{Method: method}, method, params, result)
}

// call sends the request for c, observed when the plugin has an Observer.
// c's names are the plugin's own code's: known.
func (h *Host) call(ctx context.Context, c envelope.ObservedCall, method string, params, result any) error {
	if h.observer == nil {
		return h.conn.Call(ctx, method, params, result)
	}
	c.Plugin, c.Known = h.name, true
	ctx, end := h.observer(ctx, c)
	err := h.conn.Call(ctx, method, params, result)
	end(err)
	return err
}

// callParams is what a plugin sends to call another one.
type callParams struct {
	Plugin string `json:"plugin"`
	Method string `json:"method"`
	Params any    `json:"params"`
}

// CallPlugin calls method on the plugin called name, through the host,
// which decides whether this plugin may (socket.WithPluginCalls); a
// refusal's error matches envelope.ErrForbidden. Otherwise it is like
// Call, and the other plugin's error answers come back unchanged.
func (h *Host) CallPlugin(ctx context.Context, name, method string, payload, result any) error {
	if err := h.usable(name + "." + method); err != nil {
		return err
	}
	return h.call(ctx, envelope.ObservedCall{Method: method, Callee: name}, envelope.MethodCall, callParams{name, method, payload}, result)
}

func (h *Host) usable(what string) error {
	switch {
	case h == nil:
		return fmt.Errorf("plugsock: call %s: not connected to a host: %w", what, envelope.ErrShutdown)
	case h.proto < envelope.Protocol2:
		return fmt.Errorf("plugsock: call %s: the host speaks protocol %d, which has no calls to the host: %w", what, h.proto, envelope.ErrMethodNotFound)
	}
	return nil
}

// Progress reports a method's progress to its caller, when the caller
// asked for reports (socket.WithProgress); otherwise it does nothing.
// progress should grow from one report to the next; total is zero when
// unknown, and message may be empty.
func Progress(ctx context.Context, progress, total float64, message string) {
	_ = envelope.Progress(ctx, progress, total, message)
}
