package admin

import (
	"crypto/sha256"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/socket"
)

// settings is what of a Server its Config sets.
type settings struct {
	log       *slog.Logger
	heartbeat time.Duration
	token     []byte
	hosts     []string
}

func settingsOf(a *Server) settings { return settings{a.log, a.heartbeat, a.token, a.hosts} }

// TestConfigZeroValueIsTheDefaults: a Server given Config{} is a Server
// given nothing, and each field sets its setting.
func TestConfigZeroValueIsTheDefaults(t *testing.T) {
	s := new(socket.Socket)
	want := settings{log: slog.Default(), heartbeat: DefaultHeartbeat}
	assert.Equal(t, want, settingsOf(New(s)))
	assert.Equal(t, want, settingsOf(New(s, Config{})))
	assert.Equal(t, want, settingsOf(New(s, Config{Heartbeat: -1})), "a heartbeat of zero or less is the default")

	log := slog.New(slog.DiscardHandler)
	sum := sha256.Sum256([]byte("t0ken"))
	set := Config{Logger: log, Heartbeat: time.Second, Token: "t0ken", Hosts: []string{"Admin.Example:7701", "[fd00::1]", ""}}
	want = settings{log: log, heartbeat: time.Second, token: sum[:], hosts: []string{"admin.example", "fd00::1"}}
	assert.Equal(t, want, settingsOf(New(s, set)))
	assert.Equal(t, want, settingsOf(New(s, set, Config{})), "a later zero Config keeps what an earlier one set")
	want.hosts = append(want.hosts, "more.example")
	assert.Equal(t, want, settingsOf(New(s, set, Config{Hosts: []string{"more.example"}})), "Hosts add up")
}
