package socket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/jsonscan"
	"github.com/plugsock/plugsock/typedesc"
)

// Plugin configuration (docs/protocol.md, "Configuration"). A protocol 2
// plugin may declare the JSON Schema of its configuration in its
// handshake, as "configSchema". The socket checks the configuration it
// holds for the plugin against it during the handshake and refuses the
// plugin when it does not fit. Otherwise it answers the handshake, sends
// the configuration in a $/configure request, and makes the plugin live
// only once the plugin has answered that: no call reaches a plugin that
// has not taken its configuration.
//
// The handshake runs on the connection's read loop, which must go on
// reading for the answer to arrive, so the rest of it runs detached from
// the loop (configureFirst). Until it is done, the loop may read what the
// plugin sends after its answer; async data is held meanwhile
// (pluginConf.hold) and passed on behind the Connected event, in order,
// and the connection's end waits for it (pluginConf.wait), so that its
// Disconnected event comes last, as it does for any plugin.

// ErrNotConfigurable is wrapped by Configure's error for a plugin that
// declared no configuration.
var ErrNotConfigurable = errors.New("plugin takes no configuration")

// maxConfigObjects bounds the JSON objects of a configSchema. Compiled, a
// schema object costs the host about a kilobyte, some fifteen times what
// the handshake's limits charge a description's object (objectCost), so
// it has a bound of its own; a real configuration's schema holds a few
// dozen.
const maxConfigObjects = 4096

// WithConfig is Config{Configs: {name: value}}, with value encoded as
// JSON: the configuration of the plugins called name. A value that cannot
// be encoded makes the socket refuse those plugins, saying why.
func WithConfig(name string, value any) Options {
	raw, err := json.Marshal(value)
	if err != nil {
		return badConfig{name, fmt.Errorf("encoding the configuration: %w", err)}
	}
	return Config{Configs: map[string]json.RawMessage{name: raw}}
}

// badConfig is a configuration WithConfig could not encode.
type badConfig struct {
	name string
	err  error
}

func (b badConfig) apply(cfg *config) { cfg.configs.set(b.name, heldConfig{err: b.err}) }

// configStore holds the configurations a socket has for plugins, by the
// name they ask for. It is the socket's, not a connection's: every copy of
// the socket's settings shares it, and Configure updates it.
type configStore struct {
	mu sync.Mutex
	m  map[string]heldConfig
}

// heldConfig is one plugin name's configuration, or why the one given
// cannot be used.
type heldConfig struct {
	raw json.RawMessage
	err error
}

// apply takes Config.Configs: a value sets the name's configuration, an
// empty one removes it.
func (st *configStore) apply(configs map[string]json.RawMessage) {
	for name, raw := range configs {
		switch {
		case len(bytes.TrimSpace(raw)) == 0:
			st.remove(name)
		case !json.Valid(raw):
			st.set(name, heldConfig{err: errors.New("the configuration given is not valid JSON")})
		default:
			st.set(name, heldConfig{raw: bytes.Clone(raw)})
		}
	}
}

func (st *configStore) set(name string, h heldConfig) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.m == nil {
		st.m = make(map[string]heldConfig)
	}
	st.m[name] = h
}

func (st *configStore) remove(name string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, name)
}

func (st *configStore) get(name string) (heldConfig, bool) {
	if st == nil {
		return heldConfig{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	h, ok := st.m[name]
	return h, ok
}

// configureParams is $/configure's params.
type configureParams struct {
	Value json.RawMessage `json:"value"`
}

// pluginConf is what the socket knows of a configurable plugin's
// connection: set by the handshake, before the connection is named.
type pluginConf struct {
	schemaText json.RawMessage // as the plugin declared it
	schema     *typedesc.Schema
	cost       *schemaGraph  // what checking a value costs, where that needs counting first
	asked      string        // the name the plugin asked for, which its configuration is held under
	one        chan struct{} // holds a token while a $/configure is in flight: one at a time

	mu      sync.Mutex
	value   json.RawMessage // the configuration the plugin last took, or is to take first
	early   [][]byte        // async data read before the plugin was announced
	size    int             // their bytes
	open    bool            // announced: async data goes straight to the queue
	dropped int             // async data not held, past the bounds
	settled chan struct{}   // closed once the first configuration is over, either way
}

// configError is a configuration that does not fit a plugin's schema. It
// matches envelope.ErrInvalidParams and wraps typedesc.ErrInvalid.
type configError struct {
	name string
	how  string // what was checked, when it is not what was given
	err  error  // the validator's
}

// Error names each failing member, when the validator reports several
// (an error with Unwrap() []error), separated by "; ".
func (e *configError) Error() string {
	errs := []error{e.err}
	if m, ok := e.err.(interface{ Unwrap() []error }); ok && len(m.Unwrap()) > 0 {
		errs = m.Unwrap()
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = strings.TrimPrefix(err.Error(), typedesc.ErrInvalid.Error()+": ")
	}
	return fmt.Sprintf("invalid configuration for %q%s: %s", e.name, e.how, strings.Join(msgs, "; "))
}

func (e *configError) Unwrap() error { return e.err }

func (e *configError) Is(target error) bool { return target == envelope.ErrInvalidParams }

// readConfig reads a protocol 2 handshake's configSchema, and checks the
// configuration the socket holds for the plugin, asking to be called
// name, against it: that of the process when Launch started it with one
// (LaunchConfig.Config), else that held for name. With none held it
// checks {} (null for a schema whose "type" admits no object), so that a
// schema that requires members refuses a plugin the host has no
// configuration for. It returns what the handshake is to configure the
// plugin with (nil for none), or the refusal.
func (r *remote) readConfig(params []byte, sc handshakeScan, name string, proto int) (*pluginConf, *envelope.Error) {
	malformed := func(err error) *envelope.Error {
		return envelope.Errorf(envelope.CodeInvalidParams, "malformed handshake: %v", err)
	}
	raw, objects, err := scanConfigSchema(params)
	switch {
	case err != nil:
		return nil, malformed(err)
	case raw == nil || proto < envelope.Protocol2:
		// Configuration is protocol 2's: a plugin that speaks 1 is
		// served as before.
		return nil, nil
	case objects > maxConfigObjects:
		return nil, malformed(fmt.Errorf("configSchema is too large: it holds %d JSON objects (each object or null one); at most %d allowed", objects, maxConfigObjects))
	}
	if limit, n := max(r.cfg.maxFrame/objectCost, minObjects), sc.objects+sc.members+objects; n > limit {
		return nil, malformed(fmt.Errorf("descriptions are too large: with configSchema they count %d (each JSON object or null one, each function two); at most %d allowed with a %d-byte frame limit",
			n, limit, r.cfg.maxFrame))
	}
	// The limits of a function's schema, for the same reasons (limits.go).
	if _, depth := measureSchema(raw); depth > maxSchemaDepth {
		return nil, malformed(fmt.Errorf("configSchema: its arrays and objects nest %d levels deep; at most %d allowed", depth, maxSchemaDepth))
	}
	if err := (schemaCost{objects: objects, bytes: len(raw)}).check(r.cfg.maxFrame); err != nil {
		return nil, malformed(errors.New(strings.NewReplacer("functions: their schemas are", "configSchema is", "functions: their schemas hold", "configSchema holds").Replace(err.Error())))
	}
	schema, err := typedesc.CompileSchema(raw)
	if err != nil {
		return nil, malformed(fmt.Errorf("configSchema: %w", err))
	}
	graph, err := readSchemaGraph(raw)
	if err == nil {
		err = graph.check()
	}
	if err != nil {
		return nil, malformed(fmt.Errorf("configSchema: %w: %w", typedesc.ErrInvalidSchema, err))
	}
	held, given := r.configFor(name, sc.launch)
	if held.err != nil {
		return nil, envelope.Errorf(envelope.CodeInvalidParams, "invalid configuration for %q: %v", name, held.err)
	}
	value, how := held.raw, ""
	if !given {
		value = defaultConfig(raw)
		how = fmt.Sprintf(" (the host holds none, so %s was checked)", value)
	}
	var cost *schemaGraph
	if graph.refers {
		cost = graph
	}
	if err := validate(schema, cost, value); err != nil {
		if errors.Is(err, typedesc.ErrInvalidSchema) {
			// The schema's fault, not the configuration's: one that
			// refers to itself in a loop, or costs too much to check.
			return nil, malformed(fmt.Errorf("configSchema: %s", strings.TrimPrefix(err.Error(), typedesc.ErrInvalid.Error()+": ")))
		}
		e := &configError{name: name, how: how, err: err}
		return nil, envelope.Errorf(envelope.CodeInvalidParams, "%s", e)
	}
	return &pluginConf{
		schemaText: bytes.Clone(raw),
		schema:     schema,
		cost:       cost,
		asked:      name,
		one:        make(chan struct{}, 1),
		value:      value,
		settled:    make(chan struct{}),
	}, nil
}

// configFor returns the configuration the socket holds for a plugin
// asking to be called name, presenting the launch id launch.
func (r *remote) configFor(name, launch string) (heldConfig, bool) {
	var own json.RawMessage
	r.s.mu.Lock()
	if in := r.s.procs.byID[launch]; launch != "" && in != nil && in.owner.cur == in {
		own = in.owner.config
	}
	r.s.mu.Unlock()
	if own != nil {
		return heldConfig{raw: own}, true
	}
	return r.cfg.configs.get(name)
}

// scanConfigSchema returns the raw "configSchema" member of a handshake's
// params, matched by its exact name, and the JSON objects it holds; nil
// when it is absent or null. scanHandshake has checked the params are an
// object, or null.
func scanConfigSchema(params []byte) (raw []byte, objects int, err error) {
	i := jsonscan.Space(params, 0)
	if i == len(params) || params[i] != '{' {
		return nil, 0, nil
	}
	seen := false
	jsonscan.Members(params, i, func(m jsonscan.Member) bool {
		if string(params[m.Key:m.KeyEnd]) != `"configSchema"` {
			return true
		}
		if seen {
			err = errors.New(`member "configSchema" appears twice`)
			return false
		}
		seen = true
		if val := params[m.Val:m.End]; string(val) != "null" {
			raw = val
			_, objects, _, _ = jsonscan.Value(params, m.Val)
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	return raw, objects, nil
}

// defaultConfig is what a plugin is configured with when the socket holds
// no configuration for it: {}, or null when the schema's top-level "type"
// admits no object.
func defaultConfig(schema []byte) json.RawMessage {
	object := true
	jsonscan.Members(schema, 0, func(m jsonscan.Member) bool {
		if string(schema[m.Key:m.KeyEnd]) != `"type"` {
			return true
		}
		var types []string
		val := schema[m.Val:m.End]
		var one string
		if json.Unmarshal(val, &one) == nil {
			types = []string{one}
		} else if json.Unmarshal(val, &types) != nil {
			return false // not a schema CompileSchema takes
		}
		object = false
		for _, t := range types {
			object = object || t == "object"
		}
		return false
	})
	if object {
		return json.RawMessage("{}")
	}
	return json.RawMessage("null")
}

// configureTimeout bounds the wait for a plugin's answer to its first
// configuration: the call timeout, as any call; the handshake timeout
// when that is off.
func (r *remote) configureTimeout() time.Duration {
	if r.cfg.callTimeout > 0 {
		return r.cfg.callTimeout
	}
	return r.cfg.handshakeTimeout
}

// answer answers the handshake m with answer, and makes the plugin live
// with goLive: under the connection's write lock, so that no call
// overtakes the answer; or, when conf is not nil, once the plugin has
// taken its configuration, so that no call overtakes that answer either.
// The handshake must then run r.conf.settle before it returns.
func (r *remote) answer(c *envelope.Conn, m *envelope.Envelope, answer envelope.HandshakeResult, conf *pluginConf, goLive func()) error {
	if conf == nil {
		return c.ReplyFirst(m.ID, answer, goLive)
	}
	r.conf = conf // before the answer: what the plugin sends after it finds it
	if err := c.Reply(m.ID, answer); err != nil {
		return err
	}
	return r.configureFirst(c, m, goLive)
}

// configureFirst configures a plugin whose handshake has been answered,
// then makes it live with goLive. It runs on the read loop, which it
// detaches from to wait for the plugin's answer. A plugin that does not
// take its configuration is refused, and its connection closed; the
// error says why.
func (r *remote) configureFirst(c *envelope.Conn, m *envelope.Envelope, goLive func()) error {
	if !c.Detach(m) {
		// Not reached: the handshake runs in the Handler, for m.
		err := errors.New("plugsock: cannot wait for a plugin's configuration on its read loop")
		c.CloseWithError(err)
		return err
	}
	if r.conf.schema == nil {
		// Nothing to configure: a plugin with state to restore first
		// (holdOnlyConf, state_snapshot.go).
		goLive()
		return nil
	}
	name := r.info.Name
	d := r.configureTimeout()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r.conf.mu.Lock()
	value := r.conf.value
	r.conf.mu.Unlock()
	err := c.Call(ctx, envelope.MethodConfigure, configureParams{value}, nil)
	if err == nil {
		goLive()
		return nil
	}
	var e *envelope.Error
	switch {
	case errors.As(err, &e):
		e = envelope.Errorf(e.Code, "plugin %q did not take its configuration: %s", name, e.Message)
	case errors.Is(err, context.DeadlineExceeded):
		e = envelope.Errorf(envelope.CodeRequestCancelled, "plugin %q did not answer %s within %v", name, envelope.MethodConfigure, d)
	default:
		return err // the connection is gone
	}
	r.s.launchRefused(r.launch, e)
	r.cfg.log.Warn("plugsock: plugin refused", "plugin", name, "addr", r.addr, "code", e.Code, "reason", e.Message)
	c.CloseWithError(fmt.Errorf("configuration refused: %w", e))
	return e
}

// settle ends the first configuration: once the plugin has been
// announced, it passes on the async data held meanwhile, in order, and
// lets the rest through; otherwise it drops it. Then the connection's end
// may be reported. settle runs once, when the handshake returns, on the
// goroutine that ran it. A nil pc does nothing.
func (pc *pluginConf) settle(r *remote) {
	if pc == nil {
		return
	}
	defer close(pc.settled)
	r.s.mu.Lock()
	live := r.state.live()
	r.s.mu.Unlock()
	for {
		pc.mu.Lock()
		held := pc.early
		pc.early, pc.size = nil, 0
		if len(held) == 0 || !live {
			pc.open = true
			dropped := pc.dropped
			pc.mu.Unlock()
			if dropped > 0 {
				r.cfg.log.Warn("plugsock: async data dropped: more arrived while the plugin took its configuration than the async queue holds",
					"plugin", r.info.Name, "dropped", dropped)
			}
			return
		}
		pc.mu.Unlock()
		for _, data := range held {
			r.s.async.addData(&r.async, r.info.Name, data, r.cfg)
		}
	}
}

// pending reports whether the plugin has yet to be announced, so that its
// async data must be held; false for a nil pc.
func (pc *pluginConf) pending() bool {
	if pc == nil {
		return false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return !pc.open
}

// hold keeps async data read before the plugin was announced, within the
// bounds of the async queue, and reports whether it took it: once the
// plugin has been announced it goes straight to the queue instead.
func (pc *pluginConf) hold(data []byte, cfg *config) bool {
	if pc == nil {
		return false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	switch {
	case pc.open:
		return false
	case len(pc.early) >= cfg.asyncBuffer || pc.size+len(data) > cfg.asyncBytes:
		pc.dropped++
	default:
		pc.early = append(pc.early, data)
		pc.size += len(data)
	}
	return true
}

// wait waits until the first configuration is over; the connection's end
// is reported only then, after the plugin's Connected event. It does not
// wait long: the configuration's call fails as the connection ends.
func (pc *pluginConf) wait() {
	if pc != nil {
		<-pc.settled
	}
}

// Configure replaces the configuration of the plugin called name (an
// address as for CallContext): it checks value, encoded as JSON, against
// the schema the plugin declared (its configSchema), sends it in a
// $/configure request and returns once the plugin has taken it. A
// configuration that does not fit is refused without reaching the plugin,
// with an error matching envelope.ErrInvalidParams and typedesc.ErrInvalid
// that names each member that is wrong. The plugin's own refusal comes
// back as an *envelope.Error. Once taken, value is the socket's
// configuration for the name the plugin asked for (and, for a plugin
// Launch started, for its process), which its next connection gets.
//
// A plugin that declared no configuration gives an error wrapping
// ErrNotConfigurable; one not connected, ErrNoPlugin. ctx bounds the wait
// as for CallContext, and the socket's call timeout applies when it has
// no deadline. Configurations of one plugin are sent one at a time; calls
// to it go on meanwhile.
func (s *Socket) Configure(ctx context.Context, name string, value any) error {
	r, err := s.lookup(name)
	if err != nil {
		return err
	}
	pc := r.conf
	if pc == nil || pc.schema == nil {
		return fmt.Errorf("plugsock: configure %s: %w: it declared no configSchema", name, ErrNotConfigurable)
	}
	raw, ok := value.(json.RawMessage)
	if !ok || !json.Valid(raw) {
		if raw, err = json.Marshal(value); err != nil {
			return fmt.Errorf("plugsock: configure %s: encoding the configuration: %w", name, err)
		}
	}
	raw = bytes.Clone(raw)
	if err := validate(pc.schema, pc.cost, raw); err != nil {
		return fmt.Errorf("plugsock: %w", &configError{name: name, err: err})
	}
	select {
	case pc.one <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("plugsock: configure %s: %w", name, ctx.Err())
	}
	defer func() { <-pc.one }()
	ctx, cancel, timeout := withCallTimeout(ctx, r.cfg.callTimeout)
	defer cancel()
	if _, _, _, err := r.guard(ctx, name, envelope.MethodConfigure, nil, 0); err != nil {
		return err
	}
	defer r.release()
	if err := r.conn.Call(ctx, envelope.MethodConfigure, configureParams{raw}, nil); err != nil {
		if e, ok := err.(*envelope.Error); ok {
			return e
		}
		if timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("plugsock: configure %s: no answer within the call timeout of %v (Config.CallTimeout): %w", name, timeout, err)
		}
		return fmt.Errorf("plugsock: configure %s: %w", name, err)
	}
	pc.mu.Lock()
	pc.value = raw
	pc.mu.Unlock()
	r.cfg.configs.set(pc.asked, heldConfig{raw: raw})
	s.mu.Lock()
	if e := s.launchedFor(r, ""); e != nil {
		e.config = raw
	}
	s.mu.Unlock()
	return nil
}

// PluginConfig is what a connected plugin takes as its configuration.
type PluginConfig struct {
	// Schema is the JSON Schema the plugin declared (its configSchema).
	Schema json.RawMessage `json:"schema"`
	// Value is the configuration it last took.
	Value json.RawMessage `json:"value"`
}

// PluginConfig returns the configuration schema and value of the plugin
// called name (an address as for CallContext). The error wraps
// ErrNoPlugin when no such plugin is connected, ErrNotConfigurable when
// it declared no configuration.
func (s *Socket) PluginConfig(name string) (*PluginConfig, error) {
	r, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	pc := r.conf
	if pc == nil || pc.schema == nil {
		return nil, fmt.Errorf("plugsock: plugin %q: %w", name, ErrNotConfigurable)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return &PluginConfig{Schema: bytes.Clone(pc.schemaText), Value: bytes.Clone(pc.value)}, nil
}

// awaitLive waits until the attached plugin that handshook as name is
// live: with a configuration, its plugin side learns its name before the
// socket has made it live. It returns the error of the plugin's Start
// instead if that returns first, on ended.
func (s *Socket) awaitLive(name string, ended <-chan error) error {
	for {
		s.mu.Lock()
		if r := s.plugins[name]; r != nil && r.state.live() {
			s.mu.Unlock()
			return nil
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case err := <-ended:
			if err == nil {
				err = ErrShutdown
			}
			return err
		}
	}
}
