package socket_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

// dbConfig is the configuration of DB, the configurable plugin of these
// tests.
type dbConfig struct {
	Host string `json:"host" plugsock:"required"`
	Port int    `json:"port" plugsock:"minimum=1"`
}

// DB records, in order, the configurations it takes and the calls it
// serves.
type DB struct {
	mu     sync.Mutex
	cfg    dbConfig
	events []string
	fail   error         // what Configure returns
	gate   chan struct{} // when set, Configure waits for it to close
	inside chan struct{} // when set, closed as Configure begins
}

func (d *DB) Configure(ctx context.Context, cfg dbConfig) error {
	if d.inside != nil {
		close(d.inside)
	}
	if d.gate != nil {
		select {
		case <-d.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, fmt.Sprintf("configure %s:%d", cfg.Host, cfg.Port))
	if d.fail != nil {
		return d.fail
	}
	d.cfg = cfg
	return nil
}

// Where answers the configuration the plugin runs with.
func (d *DB) Where(context.Context, struct{}) (dbConfig, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, "call Where")
	return d.cfg, nil
}

func (d *DB) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.events...)
}

func (d *DB) failWith(err error) {
	d.mu.Lock()
	d.fail = err
	d.mu.Unlock()
}

// startRefused runs v as a plugin called name over transport and returns
// what refused it: Start's error, or Attach's.
func (h *host) startRefused(transport string, v any, name string) error {
	h.t.Helper()
	if transport == "attach" {
		n, err := h.s.Attach(v, &envelope.PluginInfo{Name: name})
		require.Error(h.t, err, "attached as %q", n)
		return err
	}
	conn, err := net.Dial(h.addr.Network(), h.addr.String())
	require.NoError(h.t, err)
	connected := make(chan string, 1)
	p := &plugin.Plugin{Logger: quiet, OnConnect: func(n string) { connected <- n }}
	done := make(chan error, 1)
	h.wg.Go(func() { done <- p.Start(v, &envelope.PluginInfo{Name: name}, conn, nil) })
	err = recv(h.t, done, "Start to return")
	require.Error(h.t, err)
	return err
}

// where calls DB.Where on the plugin called name.
func where(t *testing.T, s *socket.Socket, name string) dbConfig {
	t.Helper()
	var got dbConfig
	require.NoError(t, s.CallContext(callCtx(t), name, "Where", nil, &got))
	return got
}

// A configuration that does not fit the plugin's schema refuses the
// plugin, naming every member that is wrong; its Start (or Attach)
// returns that, and Configure never runs.
func TestConfigInvalidRefused(t *testing.T) {
	for _, transport := range []string{"tcp", "attach"} {
		t.Run(transport, func(t *testing.T) {
			h := newHost(t, transport, socket.WithConfig("db", map[string]any{"port": 0}))
			d := &DB{}
			err := h.startRefused(transport, d, "db")
			assert.ErrorIs(t, err, envelope.ErrInvalidParams)
			msg := err.Error()
			assert.Contains(t, msg, `invalid configuration for "db": `)
			assert.Contains(t, msg, "/port", "the member below its minimum is named")
			assert.Contains(t, msg, "host", "the missing member is named")
			assert.Empty(t, d.log(), "Configure never ran")
			assert.Empty(t, h.s.Connected(false))
		})
	}
}

// A plugin takes its configuration before its first call: the socket
// makes it live only once Configure has returned.
func TestConfigBeforeFirstCall(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			h := newHost(t, transport, socket.WithConfig("db", dbConfig{Host: "db.local", Port: 5432}))
			d := &DB{gate: make(chan struct{}), inside: make(chan struct{})}
			named := make(chan string, 1)
			go func() { named <- h.plugVia(transport, d, "db") }()
			recv(t, d.inside, "Configure to begin")
			err := h.s.CallContext(callCtx(t), "db", "Where", nil, nil)
			assert.ErrorIs(t, err, socket.ErrNoPlugin, "not live while it takes its configuration")
			assert.Empty(t, h.s.Connected(false))
			close(d.gate)
			name := recv(t, named, "the plugin to connect")
			require.True(t, h.s.WaitFor(name, rawWait))
			assert.Equal(t, dbConfig{Host: "db.local", Port: 5432}, where(t, h.s, name))
			assert.Equal(t, []string{"configure db.local:5432", "call Where"}, d.log())
		})
	}
}

// A socket shut down while a plugin takes its configuration closes the
// connection; Configure's context ends, and the plugin's Start reports the
// lost connection, not a failed configuration.
func TestConfigShutdownDuringConfigure(t *testing.T) {
	h := newHost(t, "tcp", socket.WithConfig("db", dbConfig{Host: "db.local", Port: 5432}))
	d := &DB{gate: make(chan struct{}), inside: make(chan struct{})}
	st := h.plug(d, "db")
	recv(t, d.inside, "Configure to begin")
	require.NoError(t, h.s.Shutdown(""))
	err := recv(t, st.err, "Start to return")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `plugsock: plugin "db": connection lost`)
	assert.NotContains(t, err.Error(), "configure")
	assert.Empty(t, d.log(), "Configure gave up")
}

// Socket.Configure replaces the configuration at run time; one that does
// not fit is refused without reaching the plugin; one the plugin refuses
// changes nothing; the last one taken is what the next connection gets.
func TestConfigureAtRunTime(t *testing.T) {
	h := newHost(t, "tcp", socket.WithConfig("db", dbConfig{Host: "a", Port: 1}))
	d := &DB{}
	st := h.plug(d, "db")
	require.True(t, h.s.WaitFor("db", rawWait))
	ctx := callCtx(t)

	require.NoError(t, h.s.Configure(ctx, "db", dbConfig{Host: "b", Port: 2}))
	assert.Equal(t, dbConfig{Host: "b", Port: 2}, where(t, h.s, "db"))

	err := h.s.Configure(ctx, "db", json.RawMessage(`{"port":0}`))
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.Contains(t, err.Error(), `invalid configuration for "db": `)
	assert.Contains(t, err.Error(), "/port")

	d.failWith(errors.New("cannot reach c"))
	err = h.s.Configure(ctx, "db", dbConfig{Host: "c", Port: 3})
	var e *envelope.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, envelope.Error{Code: envelope.CodeMethodError, Message: "cannot reach c"}, *e)
	assert.Equal(t, dbConfig{Host: "b", Port: 2}, where(t, h.s, "db"), "still what it took last")
	assert.Equal(t, []string{"configure a:1", "configure b:2", "call Where", "configure c:3", "call Where"}, d.log(),
		"the invalid configuration never reached the plugin")

	pc, err := h.s.PluginConfig("db")
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"b","port":2}`, string(pc.Value))
	assert.Contains(t, string(pc.Schema), `"port"`)

	// The next connection of "db" gets what the last one took.
	require.NoError(t, st.p.Close())
	require.NoError(t, recv(t, st.err, "Start to return"))
	// The plugin's Start returns once its side is closed; the host frees
	// the name once it has read the end.
	require.Eventually(t, func() bool { _, taken := h.s.Connected(false)["db"]; return !taken }, rawWait, time.Millisecond)
	d2 := &DB{}
	h.plug(d2, "db")
	require.True(t, h.s.WaitFor("db", rawWait))
	assert.Equal(t, dbConfig{Host: "b", Port: 2}, where(t, h.s, "db"))
}

// A plugin whose Configure fails is refused, and its Start (or Attach)
// returns Configure's error.
func TestConfigureFailsRefused(t *testing.T) {
	for _, transport := range []string{"tcp", "attach"} {
		t.Run(transport, func(t *testing.T) {
			h := newHost(t, transport, socket.WithConfig("db", dbConfig{Host: "x", Port: 1}))
			unreachable := errors.New("cannot reach x:1")
			d := &DB{fail: unreachable}
			err := h.startRefused(transport, d, "db")
			assert.ErrorIs(t, err, unreachable)
			assert.EqualError(t, err, `plugsock: plugin "db": configure: cannot reach x:1`)
			assert.Equal(t, []string{"configure x:1"}, d.log())
			assert.Empty(t, h.s.Connected(false))
		})
	}
}

// With no configuration held, the plugin is configured with {}: a schema
// that requires members refuses it, one that does not has Configure run
// with the zero configuration.
func TestConfigNoneHeld(t *testing.T) {
	h := newHost(t, "tcp")
	err := h.startRefused("tcp", &DB{}, "db")
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.Contains(t, err.Error(), `invalid configuration for "db" (the host holds none, so {} was checked): `)
	assert.Contains(t, err.Error(), "host")

	o := &Optional{}
	h.plug(o, "opt")
	require.True(t, h.s.WaitFor("opt", rawWait))
	o.mu.Lock()
	defer o.mu.Unlock()
	assert.Equal(t, []optionalConfig{{}}, o.got)
}

type optionalConfig struct {
	Verbose bool `json:"verbose"`
}

// Optional takes a configuration whose every member is optional.
type Optional struct {
	mu  sync.Mutex
	got []optionalConfig
}

func (o *Optional) Configure(_ context.Context, cfg optionalConfig) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, cfg)
	return nil
}

func (o *Optional) Ping(context.Context, struct{}) (bool, error) { return true, nil }

// Configure on a plugin that declared no configuration, or on none.
func TestConfigureNotConfigurable(t *testing.T) {
	h := newHost(t, "tcp")
	h.plug(newCalc(), "calc")
	err := h.s.Configure(callCtx(t), "calc", map[string]any{})
	assert.ErrorIs(t, err, socket.ErrNotConfigurable)
	_, err = h.s.PluginConfig("calc")
	assert.ErrorIs(t, err, socket.ErrNotConfigurable)
	assert.ErrorIs(t, h.s.Configure(callCtx(t), "nope", map[string]any{}), socket.ErrNoPlugin)
}

// A configuration WithConfig cannot encode refuses the plugin, saying so.
func TestWithConfigUnencodable(t *testing.T) {
	h := newHost(t, "tcp", socket.WithConfig("db", func() {}))
	err := h.startRefused("tcp", &DB{}, "db")
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.Contains(t, err.Error(), `invalid configuration for "db": encoding the configuration: json: unsupported type: func()`)
}

// rawSchema is the configSchema of the plugins written by hand below.
const rawSchema = `{"type":"object","properties":{"host":{"type":"string"},"port":{"type":"integer","minimum":1}},"required":["host"]}`

func rawConfigHello(t *testing.T, h *host, name, schema string) (*rawPeer, string) {
	t.Helper()
	return rawHello(t, h.addr.String(), `{"name":"`+name+`","protocol":2,"configSchema":`+schema+`}`)
}

// The wire, frame by frame: the refusal names each member; a valid
// configuration follows the answer in $/configure, the plugin is live
// only once it has answered, and async data it sends at once with that
// answer comes after its Connected event.
func TestConfigWire(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{Configs: map[string]json.RawMessage{
		"bad":   json.RawMessage(`{"port":0}`),
		"good":  json.RawMessage(`{"host":"h","port":7}`),
		"fails": json.RawMessage(`{"host":"h"}`),
	}})

	_, ans := rawConfigHello(t, h, "bad", rawSchema)
	var refused rawMsg
	require.NoError(t, json.Unmarshal([]byte(ans), &refused))
	require.NotNil(t, refused.Error, ans)
	assert.Equal(t, int64(envelope.CodeInvalidParams), refused.Error.Code)
	assert.True(t, strings.HasPrefix(refused.Error.Message, `invalid configuration for "bad": `), refused.Error.Message)
	assert.Contains(t, refused.Error.Message, "/port")
	assert.Contains(t, refused.Error.Message, "host")

	p, ans := rawConfigHello(t, h, "good", rawSchema)
	assert.Regexp(t, `^\{"jsonrpc":"2\.0","id":1,"result":\{"name":"good","session":"[0-9a-f-]{36}","protocol":2\}\}$`, ans)
	req := p.body(t)
	assert.Equal(t, `{"jsonrpc":"2.0","id":1,"method":"$/configure","params":{"value":{"host":"h","port":7}}}`, req)
	assert.Empty(t, h.s.Connected(false), "not live before its answer")
	// The answer and the data in one write: the host reads both at once.
	both := envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","id":1,"result":null}`))
	both = envelope.AppendFrame(both, []byte(`{"jsonrpc":"2.0","method":"$/async","params":{"value":"first"}}`))
	_, err := p.nc.Write(both)
	require.NoError(t, err)
	item, err := h.s.Async()
	require.NoError(t, err)
	require.IsType(t, envelope.Connected{}, item.Payload, "Connected comes first")
	assert.Equal(t, "good", item.Name)
	item, err = h.s.Async()
	require.NoError(t, err)
	assert.Equal(t, &envelope.AsyncData{Name: "good", Payload: "first"}, item)
	assert.Contains(t, h.s.Connected(false), "good")

	// A plugin that refuses its configuration is refused and cut off.
	p, _ = rawConfigHello(t, h, "fails", rawSchema)
	assert.Equal(t, `{"jsonrpc":"2.0","id":1,"method":"$/configure","params":{"value":{"host":"h"}}}`, p.body(t))
	require.NoError(t, p.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"no disk"}}`)))
	_ = p.nc.SetReadDeadline(time.Now().Add(rawWait))
	_, err = p.readFrame()
	assert.Error(t, err, "the host hangs up")
	assert.NotContains(t, h.s.Connected(false), "fails")
}

// A protocol 1 plugin's configSchema is ignored: no $/configure, and it
// is live at once.
func TestConfigProtocol1Unaffected(t *testing.T) {
	h := newHost(t, "tcp", socket.WithConfig("old", map[string]any{"port": 0}))
	p, ans := rawHello(t, h.addr.String(), `{"name":"old","configSchema":`+rawSchema+`}`)
	assert.Regexp(t, `^\{"jsonrpc":"2\.0","id":1,"result":\{"name":"old","session":"[0-9a-f-]{36}"\}\}$`, ans)
	require.True(t, h.s.WaitFor("old", rawWait))
	_ = p
}

// A configSchema is bounded like any description, and must compile.
func TestConfigSchemaRefusals(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{MaxFrameSize: 1 << 20})
	many := `{"anyOf":[` + strings.Repeat(`{},`, 5000) + `{}]}`
	for _, tc := range []struct{ name, params, want string }{
		{"twice", `{"name":"a","protocol":2,"configSchema":{},"configSchema":{}}`, `malformed handshake: member "configSchema" appears twice`},
		{"large", `{"name":"a","protocol":2,"configSchema":` + many + `}`, "malformed handshake: configSchema is too large: it holds 5002 JSON objects"},
		{"invalid", `{"name":"a","protocol":2,"configSchema":{"type":5}}`, "malformed handshake: configSchema: "},
		{"outside", `{"name":"a","protocol":2,"configSchema":{"$ref":"https://example.com/s.json"}}`, "malformed handshake: configSchema: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ans := rawHello(t, h.addr.String(), tc.params)
			var m rawMsg
			require.NoError(t, json.Unmarshal([]byte(ans), &m))
			require.NotNil(t, m.Error, ans)
			assert.Equal(t, int64(envelope.CodeInvalidParams), m.Error.Code)
			assert.Contains(t, m.Error.Message, tc.want)
		})
	}
}

// A schema built to make validation exponential costs the host no more
// than the handshake's time: it is refused or answered promptly.
func TestConfigSchemaHostile(t *testing.T) {
	h := newHost(t, "tcp", socket.WithConfig("a", map[string]any{}))
	var defs []string
	for i := range 40 {
		defs = append(defs, fmt.Sprintf(`"d%d":{"allOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, `"d40":{"type":"object"}`)
	schema := `{"$defs":{` + strings.Join(defs, ",") + `},"$ref":"#/$defs/d0"}`
	began := time.Now()
	_, ans := rawHello(t, h.addr.String(), `{"name":"a","protocol":2,"configSchema":`+schema+`}`)
	assert.Less(t, time.Since(began), 2*time.Second, "answered: %s", ans)
	var m rawMsg
	require.NoError(t, json.Unmarshal([]byte(ans), &m))
	require.NotNil(t, m.Error, ans)
	assert.Equal(t, int64(envelope.CodeInvalidParams), m.Error.Code)
	assert.Contains(t, m.Error.Message, "malformed handshake: configSchema: ")
}

// A configSchema has the limits of a function's schema: a huge enum is
// refused by its size, before anything compiles it.
func TestConfigSchemaIsBounded(t *testing.T) {
	_, addr, _ := rawSocket(t)
	c := rawDial(t, addr)
	enum := strings.Repeat("1,", 300000) + "1"
	start := time.Now()
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"big","protocol":2,"configSchema":{"enum":[`+enum+`]}}}`)))
	m := c.mustRead(t)
	require.NotNil(t, m.Error)
	assert.EqualValues(t, envelope.CodeInvalidParams, m.Error.Code)
	assert.Regexp(t, `^malformed handshake: configSchema is \d+ bytes long; at most \d+ allowed`, m.Error.Message)
	assert.Less(t, time.Since(start), time.Second)
}
