package socket

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/jsonscan"
	"github.com/plugsock/plugsock/internal/names"
	"github.com/plugsock/plugsock/typedesc"
)

// The handshake: the first message of every connection, which names the
// plugin, checks its credentials and makes it live.
//
// Until the token has been checked the connection is a stranger's, so the
// handshake is read in two steps. scanHandshake walks the raw params once,
// without recursion and allocating only the strings it returns, to find
// the token and to measure the functions; only a plugin that passes the
// token check has the rest decoded.

func (r *remote) refuse(c *envelope.Conn, m *envelope.Envelope, e *envelope.Error) {
	r.s.launchRefused(r.launch, e)
	_ = c.ReplyError(m.ID, e)
	r.cfg.log.Warn("plugsock: handshake refused", "addr", r.addr, "code", e.Code, "reason", e.Message)
	c.CloseWithError(fmt.Errorf("handshake refused: %w", e))
}

func (r *remote) handshake(c *envelope.Conn, m *envelope.Envelope) {
	if m.Method != envelope.MethodHandshake || !m.IsRequest() {
		r.violation(c, m, fmt.Sprintf("%q before the handshake", m.Method))
		return
	}
	malformed := func(err error) {
		r.refuse(c, m, envelope.Errorf(envelope.CodeInvalidParams, "malformed handshake: %v", err))
	}
	// JSON text is UTF-8 (RFC 8259). Decoding replaces each invalid byte
	// with three, which would let a description cost three times what
	// it was sent as.
	if !utf8.Valid(m.Params) {
		malformed(errors.New("params are not valid UTF-8"))
		return
	}
	sc, err := scanHandshake(m.Params)
	if err != nil {
		malformed(err)
		return
	}
	r.launch = sc.launch
	if r.cfg.token != nil && (sc.tokenTooLong || !r.cfg.authorised(sc.token)) {
		why := "wrong token"
		if sc.token == "" && !sc.tokenTooLong {
			why = "missing token"
		}
		r.refuse(c, m, envelope.Errorf(envelope.CodeUnauthorized, "unauthorised: %s", why))
		return
	}
	// The members read above are left out here: a struct without them
	// makes encoding/json skip their values without allocating.
	var hs struct {
		Name         string          `json:"name"`
		Version      string          `json:"version"`
		Protocol     json.RawMessage `json:"protocol"`
		Capabilities json.RawMessage `json:"capabilities"`
	}
	if err := envelope.DecodeParams(m, &hs); err != nil {
		malformed(err)
		return
	}
	if err := validName(hs.Name); err != nil {
		malformed(err)
		return
	}
	proto, offered, err := envelope.Negotiate(hs.Protocol)
	if err != nil {
		malformed(err)
		return
	}
	if c := bytes.TrimSpace(hs.Capabilities); len(c) > 0 && c[0] != '{' && string(c) != "null" {
		malformed(fmt.Errorf("capabilities: want an object, got %s", clip(c)))
		return
	}
	fns, schemas, release, err := sharedFunctions(sc, r.cfg.maxFrame, r.due)
	if err != nil {
		malformed(err)
		return
	}
	// A configuration that does not fit is refused before the name is
	// reserved (config.go).
	conf, refusal := r.readConfig(m.Params, sc, hs.Name, proto)
	if refusal != nil {
		release()
		r.refuse(c, m, refusal)
		return
	}
	// So are subscriptions that cannot be delivered (events.go).
	ev, refusal := r.readEvents(m.Params, fns, hs.Name, proto, hs.Capabilities)
	if refusal != nil {
		release()
		r.refuse(c, m, refusal)
		return
	}
	if conf == nil && ev != nil && ev.stateful {
		conf = holdOnlyConf() // its state is restored before it goes live (state_snapshot.go)
	}
	s := r.s
	s.mu.Lock()
	// The plugin limit is the socket's as it is now; the rest is the
	// connection's own, from when it was accepted.
	cfg := r.cfg
	if s.shut {
		s.mu.Unlock()
		release()
		r.refuse(c, m, envelope.Errorf(envelope.CodeShuttingDown, "socket is shutting down"))
		return
	}
	if n := len(s.plugins); s.config().maxPlugins > 0 && n >= s.config().maxPlugins {
		s.mu.Unlock()
		release()
		r.refuse(c, m, envelope.Errorf(envelope.CodeOverloaded, "socket is full: %d plugins connected, the limit", n))
		return
	}
	// Another version of a connected plugin is let in as name@version
	// (versions.go); otherwise a taken name is sequenced or refused.
	name, versioned := s.versionedName(hs.Name, hs.Version)
	if _, taken := s.plugins[name]; taken && cfg.sequencer != nil && !versioned {
		for i := uint(0); i < cfg.attempts && taken; i++ {
			name = cfg.sequencer(name)
			_, taken = s.plugins[name]
			taken = taken || validName(name) != nil
		}
	}
	if _, taken := s.plugins[name]; taken || !versioned && validName(name) != nil {
		s.mu.Unlock()
		release()
		r.refuse(c, m, envelope.Errorf(envelope.CodeNameTaken, "plugin name %q is taken", hs.Name))
		return
	}
	// info.Functions is shared with every plugin that described the same
	// functions in the same bytes; like the rest of r.info it is never
	// changed, and the API hands out copies. The share is given back when
	// info is no longer reachable, that is, once this plugin is gone.
	info := &envelope.PluginInfo{Name: name, Version: hs.Version, Functions: fns}
	runtime.AddCleanup(info, func(release func()) { release() }, release)
	r.info, r.schemas = info, schemas
	r.health.prepare(name, proto >= envelope.Protocol2 && cfg.healthInterval > 0 && healthCapable(hs.Capabilities)) // health.go
	r.stats = s.metrics.join(name, fns)
	r.async.stats = r.stats.plugin
	r.state.reserve()
	if r.handshakeTimer != nil {
		r.handshakeTimer.Stop()
	}
	if s.plugins == nil {
		s.plugins = make(map[string]*remote)
	}
	s.plugins[name] = r // reserved; not live until the answer is out
	s.index.add(r)
	s.mu.Unlock()

	// A plugin that names no protocol gets protocol 1's answer, byte for
	// byte; one that does learns the version both speak, and, in 2, the
	// services it may call.
	answer := envelope.HandshakeResult{Name: name, Session: r.session}
	if offered {
		answer.Protocol = proto
		if t := s.services.Load(); t != nil && proto >= envelope.Protocol2 {
			answer.Services = t.fns
		}
	}
	c.SetProtocol(proto)
	// Going live under the write lock keeps every call behind the answer;
	// a plugin with a configuration goes live once it has answered its
	// $/configure, which keeps every call behind that answer (config.go).
	err = r.answer(c, m, answer, conf, r.restoring(ev, func() {
		s.mu.Lock()
		if s.shut {
			// Shutdown began after the name was reserved: it has already
			// closed this connection; never announce the plugin.
			s.mu.Unlock()
			return
		}
		r.state.goLive()
		s.launchConnected(r)
		if s.changed != nil {
			close(s.changed)
			s.changed = nil
		}
		s.mu.Unlock()
	}))
	defer r.conf.settle(r)
	s.mu.Lock()
	if err != nil {
		r.state.answerLost()
	}
	live := r.state.live()
	s.mu.Unlock()
	if !live {
		return
	}
	r.hb = envelope.StartHeartbeat(c, r.cfg.heartbeat, r.cfg.misses)
	r.health.start(r)
	r.cfg.events.join(r, ev) // events.go
	cfg.log.Info("plugsock: plugin connected", "plugin", name, "version", info.Version,
		"functions", len(info.Functions), "addr", r.addr, "session", r.session)
	s.async.push(envelope.AsyncData{Name: name, Payload: envelope.Connected{Info: info.DeepCopy(false)}},
		cfg.asyncBuffer, cfg.asyncWait, cfg.log)
}

// clip shortens JSON quoted in an error message.
func clip(raw []byte) string {
	if len(raw) > 64 {
		return string(raw[:64]) + "..."
	}
	return string(raw)
}

// validName is the protocol's name rule (internal/names), which
// docs/protocol.md states under "Name rules".
func validName(name string) error { return names.Check(name) }

// handshakeScan is what scanHandshake finds in a handshake's params.
type handshakeScan struct {
	token, launch string
	// tokenTooLong reports a token longer than maxToken, left undecoded;
	// token is then "".
	tokenTooLong bool
	// functions is the raw "functions" member; nil when absent or null.
	functions []byte
	// objects counts the JSON objects in functions: the functions object,
	// one per function and one per entity, at most; members counts the
	// members of functions itself, the functions.
	objects, members int
}

// maxToken bounds the tokens decoded, as sent, quotes included: a longer
// one is refused as wrong unread. The bound is the same whatever token the
// socket requires, so that refusing early tells a stranger nothing about
// it. maxLaunch bounds the launch ids worth decoding: the host's are UUIDs.
const (
	maxToken  = 64 << 10
	maxLaunch = 256
)

// scanHandshake reads the "token", "launch" and "functions" members of a
// handshake's params, matched by their exact names, without decoding
// anything else. params are valid JSON (the envelope was decoded), but the
// scan does not rely on it for its safety: it never recurses, and bad
// input gives an error. It allocates nothing but the two strings, and
// decodes neither when it is longer than it can usefully be: a token
// longer than maxToken bytes as sent, a launch id longer than maxLaunch.
func scanHandshake(params []byte) (handshakeScan, error) {
	var sc handshakeScan
	p := params
	i := skipSpace(p, 0)
	if i == len(p) || bytes.HasPrefix(p[i:], []byte("null")) && skipSpace(p, i+4) == len(p) {
		return sc, nil // no params: the same as an empty object
	}
	if p[i] != '{' {
		return sc, errors.New("params are not an object")
	}
	var seenToken, seenLaunch, seenFunctions bool
	for i = skipSpace(p, i+1); i < len(p) && p[i] != '}'; {
		if p[i] != '"' {
			return sc, errors.New("params are not an object")
		}
		end, ok := skipString(p, i)
		if !ok {
			return sc, errors.New("params are not an object")
		}
		key := p[i+1 : end-1]
		i = skipSpace(p, end)
		if i == len(p) || p[i] != ':' {
			return sc, errors.New("params are not an object")
		}
		i = skipSpace(p, i+1)
		end, objects, members, ok := skipValue(p, i)
		if !ok {
			return sc, errors.New("params are not valid JSON")
		}
		val := p[i:end]
		var err error
		switch string(key) {
		case "token":
			if sc.token, err = member("token", val, &seenToken, maxToken); err == errTooLong {
				sc.tokenTooLong, err = true, nil
			}
		case "launch":
			// No launch id is that long: it matches no process.
			if sc.launch, err = member("launch", val, &seenLaunch, maxLaunch); err == errTooLong {
				err = nil
			}
		case "functions":
			if seenFunctions {
				return sc, errors.New(`member "functions" appears twice`)
			}
			seenFunctions = true
			if string(val) != "null" {
				sc.functions, sc.objects, sc.members = val, objects, members
			}
		}
		if err != nil {
			return sc, err
		}
		if i = skipSpace(p, end); i < len(p) && p[i] == ',' {
			i = skipSpace(p, i+1)
		} else if i == len(p) || p[i] != '}' {
			return sc, errors.New("params are not an object")
		}
	}
	if i == len(p) || skipSpace(p, i+1) != len(p) {
		return sc, errors.New("params are not an object")
	}
	return sc, nil
}

// errTooLong is member's answer for a string longer than it may decode.
var errTooLong = errors.New("too long")

// member decodes the string value of a member the scan reads; null is
// the empty string, as encoding/json has it. A string of more than max
// bytes, quotes included, is left undecoded with errTooLong.
func member(name string, val []byte, seen *bool, max int) (string, error) {
	if *seen {
		return "", fmt.Errorf("member %q appears twice", name)
	}
	*seen = true
	switch {
	case string(val) == "null":
		return "", nil
	case len(val) < 2 || val[0] != '"':
		return "", fmt.Errorf("member %q is not a string", name)
	case len(val) > max:
		return "", errTooLong
	}
	raw := val[1 : len(val)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		return "", fmt.Errorf("member %q: %w", name, err)
	}
	return s, nil
}

// The scanner the handshake reader walks the params with.
var (
	skipSpace  = jsonscan.Space
	skipValue  = jsonscan.Value
	skipString = jsonscan.String
)

// shared holds the decoded functions of every distinct description
// connected, keyed by the SHA-256 of the raw JSON that described them, so
// that N plugins that describe the same functions cost one copy. An entry
// lives as long as some plugin's info refers to it.
var shared struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*sharedEntry
}

type sharedEntry struct {
	fns     map[string]typedesc.Function
	schemas map[string]funcSchemas // compiled once for all who share fns
	cost    schemaCost             // of the schemas, checked against each connection's limits
	refs    int
}

// objectCost is what one JSON object of a description costs the host once
// decoded: an Entity is 64 bytes. A function's entry in the map costs up to
// about three times that (slots are 104 bytes, and the table rounds up to
// a power of two), and a function counts as two objects: its own and its
// member. A handshake may describe one object per objectCost bytes of the
// frame limit, so its descriptions take at most about one and a half times
// the frame limit in Entities and map entries, plus their strings and
// schemas, which are no longer than the bytes that spelled them (compiled
// schemas have limits of their own: limits.go). minObjects keeps small
// frame limits usable; they cost at most 64 KiB.
const (
	objectCost = 64
	minObjects = 1024
)

// sharedFunctions returns the functions sc describes, decoded, checked and
// shared, with their schemas compiled (limits.go), and the func that gives
// the share back.
func sharedFunctions(sc handshakeScan, maxFrame int, due time.Time) (map[string]typedesc.Function, map[string]funcSchemas, func(), error) {
	if sc.functions == nil {
		return nil, nil, func() {}, nil
	}
	if limit, n := max(maxFrame/objectCost, minObjects), sc.objects+sc.members; n > limit {
		return nil, nil, nil, fmt.Errorf("functions are too large: they count %d (each JSON object or null one, each function two); at most %d allowed with a %d-byte frame limit",
			n, limit, maxFrame)
	}
	key := sha256.Sum256(sc.functions)
	release := func() {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		if e := shared.m[key]; e != nil {
			if e.refs--; e.refs == 0 {
				delete(shared.m, key)
			}
		}
	}
	shared.mu.Lock()
	if e := shared.m[key]; e != nil {
		if err := e.cost.check(maxFrame); err != nil {
			shared.mu.Unlock()
			return nil, nil, nil, err
		}
		e.refs++
		shared.mu.Unlock()
		return e.fns, e.schemas, release, nil
	}
	shared.mu.Unlock()

	// Decoded and compiled outside the lock: two plugins with the same new
	// description may both do it, and the second adopts the first's.
	fns, err := decodeCompact(sc.functions, sc.objects+sc.members, due)
	if err != nil {
		return nil, nil, nil, err
	}
	schemas, cost, err := compileSchemas(fns, maxFrame, due)
	if err != nil {
		return nil, nil, nil, err
	}

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if e := shared.m[key]; e != nil {
		e.refs++
		return e.fns, e.schemas, release, nil
	}
	if shared.m == nil {
		shared.m = make(map[[sha256.Size]byte]*sharedEntry)
	}
	shared.m[key] = &sharedEntry{fns: fns, schemas: schemas, cost: cost, refs: 1}
	return fns, schemas, release, nil
}

// decodeCompact decodes raw, a "functions" object of the given number of
// units, checks the functions and returns them in compact form: read
// straight into it when decodeFunctions can (functions.go), otherwise
// decoded by encoding/json and then compacted, when its turn comes before
// due, the handshake's deadline: a connection the handshake timer has
// closed must not go on holding its frame in the queue.
func decodeCompact(raw []byte, units int, due time.Time) (map[string]typedesc.Function, error) {
	if fns, ok := decodeFunctions(raw, units); ok {
		// decodeFunctions reads no deeper than Check looks, so what it
		// leaves out cannot change the answer.
		if err := checkFunctions(fns); err != nil {
			return nil, err
		}
		return fns, nil
	}
	turn := time.NewTimer(time.Until(due))
	defer turn.Stop()
	select {
	case slowDecodes <- struct{}{}:
		defer func() { <-slowDecodes }()
	case <-turn.C:
		return nil, errors.New("functions: the handshake deadline passed while waiting to decode them (descriptions spelled unusually are decoded one at a time)")
	}
	var fns map[string]typedesc.Function
	if err := json.Unmarshal(raw, &fns); err != nil {
		return nil, fmt.Errorf("functions: %w", err)
	}
	dropNullSchemas(fns)
	if err := checkFunctions(fns); err != nil {
		return nil, err
	}
	return compact(fns, len(raw)), nil
}

// slowDecodes lets one description at a time be decoded by encoding/json.
// Only descriptions spelled as no plugin writes them take that way (see
// decodeFunctions), and each costs about 13 times its bytes on the way,
// so strangers that send them at once wait their turn instead of adding
// up. One takes about a tenth of a second at the default frame limit.
var slowDecodes = make(chan struct{}, 1)

// checkFunctions checks every function against typedesc's limits, named
// as its key names it.
func checkFunctions(fns map[string]typedesc.Function) error {
	for name, fn := range fns {
		fn.Name = name
		if err := fn.Check(); err != nil {
			return err
		}
	}
	return nil
}

// compact copies checked functions into one block of Entities and one
// string, so that a description costs 64 bytes an Entity plus its
// distinct strings, without the spare capacity and the per-string
// allocations decoding leaves. rawLen, the length of the JSON they were
// decoded from, bounds the strings' length, which the check for valid
// UTF-8 ensures. Its recursion is bounded by typedesc.MaxDepth, which
// every function has been checked against.
func compact(fns map[string]typedesc.Function, rawLen int) map[string]typedesc.Function {
	c := compacter{buf: make([]byte, 0, rawLen), offsets: make(map[string]int)}
	schemaLen := 0
	for name, fn := range fns {
		c.intern(name)
		c.intern(fn.Name)
		c.count(fn.Input)
		c.count(fn.Output)
		schemaLen += len(fn.InputSchema) + len(fn.OutputSchema)
	}
	c.text = string(c.buf)
	c.buf = nil
	c.block = make([]typedesc.Entity, 0, c.entities)
	schemas := newSchemaText(schemaLen)
	out := make(map[string]typedesc.Function, len(fns))
	for name, fn := range fns {
		out[c.str(name)] = typedesc.Function{Name: c.str(fn.Name), Input: c.top(fn.Input), Output: c.top(fn.Output),
			InputSchema: schemas.add(fn.InputSchema), OutputSchema: schemas.add(fn.OutputSchema),
			// Streams are rare, and decoded by encoding/json (functions.go):
			// theirs are copies already.
			Stream: fn.Stream}
	}
	return out
}

// functionFields fails to compile when typedesc.Function gains a field
// that compact would have to copy.
type functionFields = struct {
	Name         string           `json:"name,omitempty"`
	Input        *typedesc.Entity `json:"input,omitempty"`
	Output       *typedesc.Entity `json:"output,omitempty"`
	InputSchema  json.RawMessage  `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage  `json:"outputSchema,omitempty"`
	Stream       *typedesc.Stream `json:"stream,omitempty"`
}

var _ = functionFields(typedesc.Function{})

type compacter struct {
	offsets  map[string]int // of each distinct string in buf
	buf      []byte
	text     string // buf, once complete
	entities int
	block    []typedesc.Entity
}

func (c *compacter) intern(s string) {
	if _, ok := c.offsets[s]; !ok && s != "" {
		c.offsets[s] = len(c.buf)
		c.buf = append(c.buf, s...)
	}
}

func (c *compacter) str(s string) string {
	if s == "" {
		return ""
	}
	off := c.offsets[s]
	return c.text[off : off+len(s)]
}

func (c *compacter) count(e *typedesc.Entity) {
	if e == nil {
		return
	}
	c.entities++
	c.intern(e.Name)
	c.intern(e.Type)
	for i := range e.Fields {
		c.count(&e.Fields[i])
	}
}

func (c *compacter) top(e *typedesc.Entity) *typedesc.Entity {
	if e == nil {
		return nil
	}
	c.block = append(c.block, typedesc.Entity{})
	dst := &c.block[len(c.block)-1]
	c.copyInto(dst, e)
	return dst
}

// entityFields fails to compile when typedesc.Entity gains a field that
// copyInto would have to copy.
type entityFields = struct {
	Name      string            `json:"name,omitempty"`
	Type      string            `json:"type,omitempty"`
	Mandatory bool              `json:"mandatory,omitempty"`
	Fields    []typedesc.Entity `json:"fields,omitempty"`
}

var _ = entityFields(typedesc.Entity{})

// copyInto fills dst from e. The block never grows past its capacity, so
// pointers into it stay valid.
func (c *compacter) copyInto(dst, e *typedesc.Entity) {
	*dst = typedesc.Entity{Name: c.str(e.Name), Type: c.str(e.Type), Mandatory: e.Mandatory}
	if len(e.Fields) == 0 {
		return
	}
	start := len(c.block)
	c.block = c.block[:start+len(e.Fields)]
	dst.Fields = c.block[start:len(c.block):len(c.block)]
	for i := range e.Fields {
		c.copyInto(&dst.Fields[i], &e.Fields[i])
	}
}
