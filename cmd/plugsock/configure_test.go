package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

func (f *fakeAdmin) Configure(_ context.Context, name string, value json.RawMessage) error {
	f.name, f.payload = name, value
	return f.err
}

func TestConfigureCommand(t *testing.T) {
	f := twoPlugins()
	useFake(t, f)
	code, out, errOut := runCLI(t, "configure", "kv", `{"dir":"/tmp"}`)
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "Configured kv.\n", out)
	assert.Equal(t, "kv", f.name)
	assert.JSONEq(t, `{"dir":"/tmp"}`, string(f.payload))
	assert.Equal(t, 30*time.Second, f.cfg.Timeout, "the API is asked to keep --timeout")

	code, out, _ = runCLI(t, "configure", "kv", `{"dir":"/srv"}`, "--json")
	assert.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"configured":"kv"}`, out)

	useStdin(t, `{"dir":"/var"}`)
	code, _, _ = runCLI(t, "configure", "kv", "-")
	assert.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"dir":"/var"}`, string(f.payload))

	f.err = &admin.APIError{Status: http.StatusBadRequest, Code: envelope.CodeInvalidParams,
		Message: `plugsock: invalid configuration for "kv": /dir: want a string, got 5`}
	code, _, errOut = runCLI(t, "configure", "kv", `{"dir":5}`)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, `plugsock configure: `)
	assert.Contains(t, errOut, `invalid configuration for "kv": /dir: want a string, got 5`)

	code, _, errOut = runCLI(t, "configure")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "too few arguments")
	code, _, errOut = runCLI(t, "configure", "kv", `{dir}`)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "payload is not valid JSON")
}

// dbConfig is the configuration of DB, a configurable plugin.
type dbConfig struct {
	Host string `json:"host" plugsock:"required"`
	Port int    `json:"port" plugsock:"minimum=1"`
}

// DB records the configurations it takes.
type DB struct {
	mu   sync.Mutex
	took []dbConfig
}

func (d *DB) Configure(_ context.Context, cfg dbConfig) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.took = append(d.took, cfg)
	return nil
}

func (d *DB) Ping(context.Context, struct{}) (bool, error) { return true, nil }

func (d *DB) configs() []dbConfig {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]dbConfig(nil), d.took...)
}

// startDB connects a DB to serve at addr as name; it returns the plugin's
// Start result channel.
func startDB(t *testing.T, addr, name string, d *DB) chan error {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- (&plugin.Plugin{Logger: quiet}).Start(d, &envelope.PluginInfo{Name: name}, conn, nil) }()
	return done
}

// serve --config reads YAML and JSON alike: a plugin takes its entry; one
// whose entry does not fit is refused, naming each wrong field; and
// 'plugsock configure' replaces an entry at run time.
func TestServeConfigFile(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"config.yaml", "# plugin configurations\ndb:\n  host: db.local\n  port: 5432\nbroken:\n  port: 0\n"},
		{"config.json", `{"db": {"host": "db.local", "port": 5432}, "broken": {"port": 0}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			require.NoError(t, os.WriteFile(path, []byte(tc.file), 0o600))
			s := startAdminServe(t, "tok", "--admin-token", "tok", "--config", path)
			rec := s.logs.waitFor(t, "plugsock: configurations read", nil)
			assert.Equal(t, []any{"broken", "db"}, rec["plugins"])

			d := &DB{}
			done := startDB(t, s.addr, "db", d)
			s.logs.waitFor(t, "plugsock: connected", map[string]any{"plugin": "db"})
			assert.Equal(t, []dbConfig{{Host: "db.local", Port: 5432}}, d.configs())

			err := <-startDB(t, s.addr, "broken", &DB{})
			require.Error(t, err)
			assert.ErrorIs(t, err, envelope.ErrInvalidParams)
			assert.Contains(t, err.Error(), `invalid configuration for "broken": `)
			assert.Contains(t, err.Error(), "/port")
			assert.Contains(t, err.Error(), "host")

			admin := []string{"--admin", s.url, "--admin-token", "tok"}
			code, out, errOut := runCLI(t, append([]string{"configure", "db", `{"host":"db2.local","port":6543}`}, admin...)...)
			assert.Equal(t, exitOK, code, errOut)
			assert.Equal(t, "Configured db.\n", out)
			assert.Equal(t, []dbConfig{{Host: "db.local", Port: 5432}, {Host: "db2.local", Port: 6543}}, d.configs())

			code, _, errOut = runCLI(t, append([]string{"configure", "db", `{"host":"db3.local","port":0}`}, admin...)...)
			assert.Equal(t, exitFail, code)
			assert.Contains(t, errOut, `invalid configuration for "db": `)
			assert.Contains(t, errOut, "/port")
			assert.Len(t, d.configs(), 2, "an invalid configuration never reaches the plugin")

			assert.Equal(t, exitOK, s.stop())
			assert.NoError(t, <-done)
		})
	}
}

func TestServeConfigFileRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ file, want string }{
		{"- a\n- b\n", "want a map from plugin name to its configuration, got a list"},
		{`"text"`, "want a map from plugin name to its configuration, got a string"},
		{"a/b: {}\n", `"a/b" is not a plugin name`},
		{"a: [\n", "is neither JSON nor YAML"},
	} {
		path := filepath.Join(dir, fmt.Sprintf("c%d.yaml", len(tc.want)))
		require.NoError(t, os.WriteFile(path, []byte(tc.file), 0o600))
		code, _, errOut := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--admin", "off", "--config", path)
		assert.Equal(t, exitFail, code, tc.file)
		assert.Contains(t, errOut, "plugsock serve: --config: ", tc.file)
		assert.Contains(t, errOut, tc.want, tc.file)
	}
	code, _, errOut := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--admin", "off", "--config", filepath.Join(dir, "none.yaml"))
	assert.Equal(t, exitFail, code)
	assert.Contains(t, errOut, "no such file or directory")
}
