package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/rpc"
	"github.com/plugsock/plugsock/typedesc"
)

// Configuration: a plugin value's method
//
//	Configure(ctx context.Context, cfg C) error
//
// takes the configuration the host holds for the plugin. The JSON Schema
// of C goes in the handshake as "configSchema"; a protocol 2 host
// validates its configuration against it, refuses the handshake when it
// does not fit, and otherwise sends it in a $/configure request before
// any call (docs/protocol.md, "Configuration").

// configMethod is the name of the method that takes the configuration; it
// is never offered as a callable function.
const configMethod = "Configure"

var (
	ctxType   = reflect.TypeFor[context.Context]()
	errorType = reflect.TypeFor[error]()
)

// configurer is a plugin value's Configure method and what a session
// knows of its runs.
type configurer struct {
	fn     reflect.Value // the method, bound to the plugin value
	in     reflect.Type  // C
	schema json.RawMessage

	// mu keeps Configure from running concurrently with itself, so that
	// configurations are applied in the order the host's requests were
	// read, and guards the rest.
	mu sync.Mutex
	// ran is set by the session's first $/configure, and err by its
	// failure: the host then refuses the plugin, and Start returns err.
	ran bool
	err error
}

// findConfigure returns v's Configure method, or nil when it has none. A
// method of that name with another shape is an error rather than a
// function: the name is reserved.
func findConfigure(v any) (*configurer, error) {
	if v == nil {
		return nil, nil
	}
	t := reflect.TypeOf(v)
	m, ok := t.MethodByName(configMethod)
	if !ok {
		if t.Kind() != reflect.Pointer {
			if _, ok := reflect.PointerTo(t).MethodByName(configMethod); ok {
				return nil, fmt.Errorf("plugsock: %v has no method %s, but *%v does; pass a pointer", t, configMethod, t)
			}
		}
		return nil, nil
	}
	mt := m.Type // the receiver first
	if mt.NumIn() != 3 || mt.In(1) != ctxType || mt.NumOut() != 1 || mt.Out(0) != errorType || !decodable(mt.In(2)) {
		return nil, fmt.Errorf("plugsock: method %s of %v takes the plugin's configuration and must be shaped func(ctx context.Context, cfg C) error, with C something JSON decodes into; it is %v",
			configMethod, t, m.Func.Type())
	}
	in := mt.In(2)
	schema, err := typedesc.InputSchema(in)
	if err != nil {
		return nil, fmt.Errorf("plugsock: configuration %v: %w", in, err)
	}
	return &configurer{fn: reflect.ValueOf(v).Method(m.Index), in: in, schema: schema}, nil
}

// decodable reports whether encoding/json can decode into t at all.
func decodable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Interface:
		return t.NumMethod() == 0
	}
	return true
}

// configHandshake is the handshake's params with the configuration's
// schema beside them.
type configHandshake struct {
	*envelope.Handshake
	ConfigSchema json.RawMessage `json:"configSchema"`
}

// handshake returns hs's params as a plugin with c sends them.
func (c *configurer) handshake(hs *envelope.Handshake) any {
	if c == nil {
		return hs
	}
	return configHandshake{hs, c.schema}
}

// configure answers a $/configure request: it decodes the configuration
// into a new C and runs Configure with it, with the protections of a
// method: a panic becomes an error answer. The session's first run
// decides whether the plugin goes on: its failure is what Start returns.
func (s *session) configure(ctx context.Context, m *envelope.Envelope, trace string) (any, *envelope.Error) {
	c := s.conf
	if c == nil || s.host.proto < envelope.Protocol2 {
		return nil, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first := !c.ran
	c.ran = true
	rerr, err := c.run(ctx, m, s, trace)
	if first && err != nil && s.ctx.Err() == nil {
		// Not when the session's end cancelled Configure: the
		// connection's loss is what Start reports then.
		c.err = err
	}
	return nil, rerr
}

// run decodes and applies one configuration. rerr is the answer that
// says what went wrong, err the error for Start to return.
func (c *configurer) run(ctx context.Context, m *envelope.Envelope, s *session, trace string) (rerr *envelope.Error, err error) {
	in := reflect.New(c.in)
	if err := envelope.DecodeInput(m, in.Interface(), false); err != nil {
		rerr := rpc.InvalidParams(m.Method, err)
		return rerr, rerr
	}
	defer func() {
		if e := recovered(s.log, configMethod, trace, recover()); e != nil {
			rerr, err = e, e
		}
	}()
	out := c.fn.Call([]reflect.Value{reflect.ValueOf(&ctx).Elem(), in.Elem()})
	if err, _ = out[0].Interface().(error); err == nil {
		return nil, nil
	}
	return answerError(ctx, configMethod, err), err
}

// configAnswered runs once a $/configure has been answered: when it was
// the first and failed, the plugin does not go on. The host closes the
// connection too; closing it here keeps a host that does not from being
// served by a plugin that could not take its configuration.
func (s *session) configAnswered() {
	if s.conf == nil {
		return
	}
	s.conf.mu.Lock()
	failed := s.conf.err != nil
	s.conf.mu.Unlock()
	if failed {
		s.conn.Close()
	}
}

// configError is the failure of the session's first configuration, for
// Start to return; nil when there was none.
func (s *session) configError() error {
	if s.conf == nil {
		return nil
	}
	s.conf.mu.Lock()
	defer s.conf.mu.Unlock()
	return s.conf.err
}
