package socket

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// Defaults for the limits Config sets. docs/security.md explains what
// each one defends against.
const (
	// DefaultHeartbeatInterval and DefaultHeartbeatMisses find a plugin
	// that stops answering within about 40 seconds.
	DefaultHeartbeatInterval = envelope.DefaultHeartbeatInterval
	DefaultHeartbeatMisses   = envelope.DefaultHeartbeatMisses
	// DefaultMaxInFlight bounds the calls waiting on one plugin.
	DefaultMaxInFlight = 1024
	// DefaultMaxPlugins bounds the plugins connected at once.
	DefaultMaxPlugins = 10000
)

// ErrOverloaded is envelope.ErrOverloaded. A call that waited for room
// under Config.MaxInFlight until its context ended wraps it, together with
// the context's error; so does an answer with code envelope.CodeOverloaded
// from a plugin whose own limit (plugin.Plugin.MaxInFlight) is lower, and
// the error a plugin's Start returns when the socket already has as many
// plugins as Config.MaxPlugins allows.
var ErrOverloaded = envelope.ErrOverloaded

// guards are the settings that bound what a plugin, or something posing
// as one, can cost the host.
type guards struct {
	heartbeat    time.Duration // zero: off
	misses       int
	maxInFlight  int // zero: no limit; see inFlight
	maxPlugins   int // zero: no limit
	streamWindow int // zero: envelope.DefaultStreamWindow
	token        *[sha256.Size]byte
	tokenText    string // for plugins the socket runs itself (Attach)
	validate     bool
	// validateOutput checks results against outputSchemas (exchange).
	validateOutput bool
	asyncBytes     int // async.go
}

func defaultGuards() guards {
	return guards{
		heartbeat:   DefaultHeartbeatInterval,
		misses:      DefaultHeartbeatMisses,
		maxInFlight: DefaultMaxInFlight,
		maxPlugins:  DefaultMaxPlugins,
		asyncBytes:  DefaultAsyncBytes,
	}
}

// authorised reports whether token is the one the socket requires.
func (g *guards) authorised(token string) bool {
	if g.token == nil {
		return true
	}
	// Comparing digests keeps the time independent of the length, too.
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1
}

// guard readies one call to r: it checks the payload when validation is
// on and takes a place in the in-flight limit, waiting for one in order
// (inFlight.take). It returns the payload to send and the context to send
// it with; r.release must follow once the call has returned, and cancel,
// when not nil, too. timeout is the call timeout that bounds the call
// (callTimeout), zero when ctx has its own deadline.
//
// A call that had to wait gets, when its ctx has no deadline, a ctx ending
// at the call timeout counted from when it began to wait: the connection
// would otherwise start a whole call timeout afresh once it is sent.
func (r *remote) guard(ctx context.Context, name, method string, payload any, timeout time.Duration) (_ context.Context, _ any, cancel context.CancelFunc, _ error) {
	payload, err := r.checkPayload(name, method, payload)
	if err != nil {
		return ctx, nil, nil, err
	}
	if r.calls.tryTake() {
		return ctx, payload, nil, nil
	}
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	if err := r.calls.take(ctx); err != nil {
		if cancel != nil {
			cancel()
		}
		why := "the context ended"
		if timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
			why = fmt.Sprintf("the call timeout of %v (Config.CallTimeout) passed", timeout)
		}
		return ctx, nil, nil, fmt.Errorf("plugsock: call %s.%s: %d calls in flight, the limit (Config.MaxInFlight), and %s before one ended: %w: %w",
			name, method, cap(r.calls.slots), why, ErrOverloaded, err)
	}
	return ctx, payload, cancel, nil
}

// release ends a call that guard let through. It is a method rather than
// a closure guard returns, which would cost an allocation per call.
func (r *remote) release() { r.calls.give() }

// inFlight bounds the calls to one plugin that wait for an answer at once
// (Config.MaxInFlight). A place is a slot in a buffered channel: Go's
// runtime queues the senders blocked on a full channel in order and, as a
// receive frees a slot, moves the first of them straight into it, so a
// call arriving then finds the channel still full and queues behind those
// already waiting. A sender whose select ends on its context instead is
// taken out of the queue, and no one else loses a place. The queue holds
// nothing but the callers' own goroutines, parked, so it costs the host
// no memory that the callers did not already hold; and the slots are
// struct{}, so the channel has no buffer at all, whatever the limit.
type inFlight struct {
	slots chan struct{} // nil: no limit
}

func newInFlight(limit int) inFlight {
	if limit <= 0 {
		return inFlight{}
	}
	return inFlight{slots: make(chan struct{}, limit)}
}

// tryTake takes a place if one is free now and nobody waits for one.
func (f *inFlight) tryTake() bool {
	if f.slots == nil {
		return true
	}
	select {
	case f.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// take waits in order for a place until ctx ends, and returns ctx's error
// if it ends first.
func (f *inFlight) take(ctx context.Context) error {
	select {
	case f.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// give gives back a place tryTake or take took.
func (f *inFlight) give() {
	if f.slots != nil {
		<-f.slots
	}
}

// checkPayload validates payload against the input described for method,
// its inputSchema when it has one and its Entity otherwise, and returns
// what to send: the bytes it checked, so the payload is not encoded twice.
func (r *remote) checkPayload(name, method string, payload any) (any, error) {
	if !r.cfg.validate {
		return payload, nil
	}
	fn, ok := r.info.Functions[method]
	if !ok {
		return payload, nil
	}
	var raw []byte
	switch p := payload.(type) {
	case nil:
	case json.RawMessage:
		raw = p
	default:
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("plugsock: call %s.%s: encoding params: %w", name, method, err)
		}
	}
	var err error
	if sc := r.schemas[method]; sc.in != nil {
		err = validate(sc.in, sc.inCost, raw)
	} else {
		err = fn.Input.Validate(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("plugsock: call %s.%s: %w: %w", name, method, envelope.ErrInvalidParams, err)
	}
	if payload == nil {
		return nil, nil
	}
	return json.RawMessage(raw), nil
}

// validate checks raw against s, once cost (when not nil) has found the
// check affordable.
func validate(s *typedesc.Schema, cost *schemaGraph, raw []byte) error {
	if cost != nil {
		if err := cost.within(raw); err != nil {
			return fmt.Errorf("%w: %w", typedesc.ErrInvalid, err)
		}
	}
	return s.Validate(raw)
}

// funcSchemas are one function's schemas, compiled; nil where it has none.
// inCost and outCost are what checking a value against them costs, where
// that needs counting first (schemacost.go).
type funcSchemas struct {
	in, out         *typedesc.Schema
	inCost, outCost *schemaGraph
}

// compiledSchema is one schema, compiled and measured.
type compiledSchema struct {
	s    *typedesc.Schema
	cost *schemaGraph // nil: no counting needed
}

// Limits on the schemas of a description. A schema costs the host far
// more compiled than the 64 bytes an Entity does: about 1.5 KiB for each
// JSON object in it (each subschema is a jsonschema.Schema, and a node
// of what checking costs: schemacost.go), and up to 70 times the length
// of the patterns in it (TestSchemaMemoryIsBounded measures both). Compiling one takes time
// that grows with the square of its objects and faster still with its
// depth: 4,096 objects take about a tenth of a second, a quarter nested
// 128 deep, and a minute nested 4,000 deep. So a description's schemas
// may hold one object per schemaObjectCost bytes of the frame limit
// (4,096 with the default 4 MiB) and one byte per schemaByteShare (256
// KiB), which keeps them, compiled, within a few times the frame limit;
// and each schema at most maxSchemaObjects objects, its arrays and
// objects nested at most maxSchemaDepth levels. Go's schemas of real
// types are far from all of these.
const (
	schemaObjectCost = 1024
	minSchemaObjects = 256
	schemaByteShare  = 16
	minSchemaBytes   = 64 << 10
	maxSchemaObjects = 4096
	maxSchemaDepth   = 128
)

// maxCompiling bounds the schemas being compiled at once, by every
// handshake in the process together, weighed as their bytes plus
// compileObjectWeight for each object (what it takes on the way): a few
// descriptions at the limits at once, which keeps the cores and the
// memory that compiling takes within bounds. A description that weighs
// more compiles alone.
const (
	maxCompiling        = 4 << 20
	compileObjectWeight = 256
)

// schemaCost is what a description's schemas hold.
type schemaCost struct{ objects, bytes int }

// check reports whether c is within the limits for a connection with
// the given frame limit.
func (c schemaCost) check(maxFrame int) error {
	if limit := max(maxFrame/schemaObjectCost, minSchemaObjects); c.objects > limit {
		return fmt.Errorf("functions: their schemas hold %d JSON objects; at most %d allowed with a %d-byte frame limit", c.objects, limit, maxFrame)
	}
	if limit := max(maxFrame/schemaByteShare, minSchemaBytes); c.bytes > limit {
		return fmt.Errorf("functions: their schemas are %d bytes long; at most %d allowed with a %d-byte frame limit", c.bytes, limit, maxFrame)
	}
	return nil
}

// measureSchema returns how many JSON objects raw, valid JSON, holds and
// how deeply its arrays and objects nest, reading it once without
// recursion.
func measureSchema(raw []byte) (objects, depth int) {
	level := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			end, ok := skipString(raw, i)
			if !ok {
				return objects, depth
			}
			i = end - 1
		case '{':
			objects++
			fallthrough
		case '[':
			level++
			depth = max(depth, level)
		case '}', ']':
			level--
		}
	}
	return objects, depth
}

// compileSchemas checks the schemas of fns against the limits and
// compiles each distinct one once. A schema that is beyond a limit, or
// does not compile, is refused naming its function; functions are
// looked at in the order of their names, so the one named is always the
// same. It waits for its turn to compile (maxCompiling) no later than
// due, the handshake's deadline, and gives up compiling at due too.
func compileSchemas(fns map[string]typedesc.Function, maxFrame int, due time.Time) (map[string]funcSchemas, schemaCost, error) {
	var cost schemaCost
	names := make([]string, 0, len(fns))
	for name, fn := range fns {
		if fn.InputSchema == nil && fn.OutputSchema == nil {
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, cost, nil
	}
	slices.Sort(names)
	seen := make(map[string]bool)
	for _, name := range names {
		fn := fns[name]
		for _, side := range [...]struct {
			what string
			raw  json.RawMessage
		}{{"inputSchema", fn.InputSchema}, {"outputSchema", fn.OutputSchema}} {
			if side.raw == nil || seen[string(side.raw)] {
				continue
			}
			seen[string(side.raw)] = true
			objects, depth := measureSchema(side.raw)
			switch {
			case objects > maxSchemaObjects:
				return nil, cost, fmt.Errorf("function %q %s: %d JSON objects; at most %d allowed in one schema", name, side.what, objects, maxSchemaObjects)
			case depth > maxSchemaDepth:
				return nil, cost, fmt.Errorf("function %q %s: nests %d levels deep; at most %d allowed", name, side.what, depth, maxSchemaDepth)
			}
			cost.objects += objects
			cost.bytes += len(side.raw)
		}
	}
	if err := cost.check(maxFrame); err != nil {
		return nil, cost, err
	}
	weight := cost.bytes + cost.objects*compileObjectWeight
	if !compiling.take(weight, due) {
		return nil, cost, errors.New("functions: the handshake deadline passed while waiting to compile their schemas")
	}
	defer compiling.give(weight)
	compiled := make(map[string]compiledSchema, len(seen))
	compile := func(name, what string, raw json.RawMessage) (compiledSchema, error) {
		if raw == nil {
			return compiledSchema{}, nil
		}
		if c, ok := compiled[string(raw)]; ok {
			return c, nil
		}
		if time.Now().After(due) {
			return compiledSchema{}, errors.New("functions: the handshake deadline passed while compiling their schemas")
		}
		s, err := typedesc.CompileSchema(raw)
		if err != nil {
			return compiledSchema{}, fmt.Errorf("function %q %s: %w", name, what, err)
		}
		g, err := readSchemaGraph(raw)
		if err == nil {
			err = g.check()
		}
		if err != nil {
			return compiledSchema{}, fmt.Errorf("function %q %s: %w: %w", name, what, typedesc.ErrInvalidSchema, err)
		}
		c := compiledSchema{s: s}
		if g.refers {
			c.cost = g
		}
		compiled[string(raw)] = c
		return c, nil
	}
	out := make(map[string]funcSchemas, len(names))
	for _, name := range names {
		fn := fns[name]
		in, err := compile(name, "inputSchema", fn.InputSchema)
		if err != nil {
			return nil, cost, err
		}
		res, err := compile(name, "outputSchema", fn.OutputSchema)
		if err != nil {
			return nil, cost, err
		}
		out[name] = funcSchemas{in: in.s, out: res.s, inCost: in.cost, outCost: res.cost}
	}
	return out, cost, nil
}

// compiling is the budget of schemas being compiled at once (maxCompiling).
var compiling = byteTurns{limit: maxCompiling}

// byteTurns hands out a budget of bytes: take waits until n more fit in
// it, or nothing else is taken, whichever comes first.
type byteTurns struct {
	mu    sync.Mutex
	used  int
	limit int
	wake  chan struct{} // closed and replaced when bytes are given back
}

// take takes n bytes of the budget and reports whether it did before due.
func (b *byteTurns) take(n int, due time.Time) bool {
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		wake := b.wake
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(due))
		}
		select {
		case <-wake:
		case <-timer.C:
			return false
		}
	}
}

// give gives back n bytes that take took.
func (b *byteTurns) give(n int) {
	b.mu.Lock()
	b.used -= n
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	b.mu.Unlock()
}
