package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/typedesc"
)

// storeConfig is the configuration of the test plugin below.
type storeConfig struct {
	Host string `json:"host" plugsock:"required"`
	Port int    `json:"port"`
}

// Store is a plugin that takes a configuration and records, in order,
// what it was asked to do.
type Store struct {
	mu   sync.Mutex
	cfg  storeConfig
	log  []string
	fail error  // what Configure returns
	boom string // what Configure panics with, when not empty
}

func (s *Store) Configure(_ context.Context, cfg storeConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, "configure "+cfg.Host)
	if s.boom != "" {
		panic(s.boom)
	}
	if s.fail != nil {
		return s.fail
	}
	s.cfg = cfg
	return nil
}

// Where answers the configuration it runs with.
func (s *Store) Where(context.Context, struct{}) (storeConfig, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, "call Where")
	return s.cfg, nil
}

func (s *Store) events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

const proto2Answer = `{"name":"prober","session":"s","protocol":2}`

// The handshake carries C's input schema as configSchema, and Configure
// is no function.
func TestConfigureDeclaredInHandshake(t *testing.T) {
	h := startFrameHost(t, tcpPair, &Store{})
	var hello struct {
		Params struct {
			ConfigSchema json.RawMessage              `json:"configSchema"`
			Functions    map[string]typedesc.Function `json:"functions"`
		} `json:"params"`
	}
	require.NoError(t, json.Unmarshal([]byte(h.hello), &hello))
	want, err := typedesc.InputSchema(reflect.TypeFor[storeConfig]())
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(hello.Params.ConfigSchema))
	assert.Contains(t, hello.Params.Functions, "Where")
	assert.NotContains(t, hello.Params.Functions, "Configure", "Configure is reserved, not a function")
	h.connect(proto2Answer)
}

// A plugin without Configure sends no configSchema.
func TestNoConfigureNoSchema(t *testing.T) {
	h := startFrameHost(t, tcpPair, &Prober{})
	assert.NotContains(t, h.hello, "configSchema")
	h.connect(proto2Answer)
}

// $/configure decodes its value into C and runs Configure; calls after it
// see the configuration.
func TestConfigureRuns(t *testing.T) {
	st := &Store{}
	h := startFrameHost(t, tcpPair, st)
	h.connect(proto2Answer)
	h.exchange(`{"jsonrpc":"2.0","id":1,"method":"$/configure","params":{"value":{"host":"db","port":5432}}}`,
		`{"jsonrpc":"2.0","id":1,"result":null}`)
	h.exchange(`{"jsonrpc":"2.0","id":2,"method":"Where","params":{}}`,
		`{"jsonrpc":"2.0","id":2,"result":{"host":"db","port":5432}}`)
	// At run time too; a failure then is only an answer.
	st.mu.Lock()
	st.fail = errors.New("cannot reach db2")
	st.mu.Unlock()
	h.exchange(`{"jsonrpc":"2.0","id":3,"method":"$/configure","params":{"value":{"host":"db2"}}}`,
		`{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"cannot reach db2"}}`)
	h.exchange(`{"jsonrpc":"2.0","id":4,"method":"Where","params":{}}`,
		`{"jsonrpc":"2.0","id":4,"result":{"host":"db","port":5432}}`)
	assert.Equal(t, []string{"configure db", "call Where", "configure db2", "call Where"}, st.events())
}

// When the first configuration fails, the plugin answers why, hangs up,
// and Start returns the failure.
func TestConfigureFirstFailure(t *testing.T) {
	refused := errors.New("port 0 is not allowed")
	for _, tc := range []struct {
		name, params, answer, start string
		st                          *Store
		is                          error
	}{
		{
			name: "error", st: &Store{fail: refused}, is: refused,
			params: `{"value":{"host":"db"}}`,
			answer: `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"port 0 is not allowed"}}`,
			start:  `plugsock: plugin "prober": configure: port 0 is not allowed`,
		},
		{
			name: "undecodable", st: &Store{}, is: envelope.ErrInvalidParams,
			params: `{"value":{"host":"db","port":"5432"}}`,
			answer: `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"invalid params for $/configure: field \"port\": expected int, got string"}}`,
			start:  `plugsock: plugin "prober": configure: invalid params for $/configure: field "port": expected int, got string`,
		},
		{
			name: "panic", st: &Store{boom: "no disk"},
			params: `{"value":{"host":"db"}}`,
			answer: `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"panic in Configure: no disk"}}`,
			start:  `plugsock: plugin "prober": configure: panic in Configure: no disk`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startFrameHost(t, tcpPair, tc.st)
			h.connect(proto2Answer)
			h.exchange(`{"jsonrpc":"2.0","id":1,"method":"$/configure","params":`+tc.params+`}`, tc.answer)
			err := recv(t, h.done, "Start to return")
			require.EqualError(t, err, tc.start)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			h.done <- err // for the cleanup
		})
	}
}

// A protocol 1 host has no configurations: $/configure is no method there.
func TestConfigureNotInProtocol1(t *testing.T) {
	st := &Store{}
	h := startFrameHost(t, tcpPair, st)
	h.connect(`{"name":"prober","session":"s"}`)
	h.exchange(`{"jsonrpc":"2.0","id":1,"method":"$/configure","params":{"value":{"host":"db"}}}`,
		`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found: $/configure"}}`)
	assert.Empty(t, st.events())
}

type wrongShape struct{}

func (wrongShape) Configure(context.Context, storeConfig) (bool, error) { return true, nil }
func (wrongShape) Ping(context.Context, struct{}) (bool, error)         { return true, nil }

type chanConfig struct{}

func (chanConfig) Configure(context.Context, chan int) error    { return nil }
func (chanConfig) Ping(context.Context, struct{}) (bool, error) { return true, nil }

type pointerConfig struct{}

func (*pointerConfig) Configure(context.Context, storeConfig) error { return nil }
func (pointerConfig) Ping(context.Context, struct{}) (bool, error)  { return true, nil }

// Configure is reserved: one of another shape is refused at Start, not
// offered as a function.
func TestConfigureWrongShape(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{wrongShape{}, "plugsock: method Configure of plugin_test.wrongShape takes the plugin's configuration and must be shaped func(ctx context.Context, cfg C) error, with C something JSON decodes into; it is func(plugin_test.wrongShape, context.Context, plugin_test.storeConfig) (bool, error)"},
		{chanConfig{}, "it is func(plugin_test.chanConfig, context.Context, chan int) error"},
		{pointerConfig{}, "plugsock: plugin_test.pointerConfig has no method Configure, but *plugin_test.pointerConfig does; pass a pointer"},
	} {
		pluginEnd, hostEnd := pipePair(t)
		err := (&plugin.Plugin{Logger: quiet}).Start(tc.v, nil, pluginEnd, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
		_ = hostEnd.Close()
	}
}
