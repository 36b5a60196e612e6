package plugintest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// TestConfigZeroValueIsTheDefaults: Config{} leaves New's defaults, and
// each field sets its setting.
func TestConfigZeroValueIsTheDefaults(t *testing.T) {
	apply := func(cfgs ...Config) options {
		o := options{timeout: DefaultCallTimeout}
		for _, c := range cfgs {
			c.apply(&o)
		}
		return o
	}
	// The zero socket.Config passed on changes nothing (see package
	// socket's TestConfigZeroValueIsTheDefaults).
	assert.Equal(t, options{timeout: DefaultCallTimeout, sockets: []socket.Options{socket.Config{}}}, apply(Config{}))
	assert.Equal(t, DefaultCallTimeout, apply(Config{CallTimeout: -1}).timeout, "zero or less is the default")

	info := &envelope.PluginInfo{Name: "p"}
	type key struct{}
	set := Config{Info: info, TCP: true, CallTimeout: time.Second, Socket: socket.Config{MaxFrameSize: 1 << 10}, ContextKey: key{}}
	want := options{info: info, tcp: true, timeout: time.Second, sockets: []socket.Options{set.Socket}, ctxKey: key{}}
	assert.Equal(t, want, apply(set))
	want.sockets = append(want.sockets, socket.Config{})
	assert.Equal(t, want, apply(set, Config{}), "a later zero Config keeps what an earlier one set")
}

// TestCheckConfigZeroValueIsTheDefaults: CheckConfig{} leaves Check's
// defaults, and each field sets its setting.
func TestCheckConfigZeroValueIsTheDefaults(t *testing.T) {
	apply := func(cfgs ...CheckConfig) checkConfig {
		c := checkConfig{callTimeout: DefaultCheckCallTimeout, skip: make(map[string]bool)}
		for _, o := range cfgs {
			o.applyCheck(&c)
		}
		return c
	}
	zero := checkConfig{callTimeout: DefaultCheckCallTimeout, skip: map[string]bool{}}
	assert.Equal(t, zero, apply(CheckConfig{}))
	assert.Equal(t, zero, apply(CheckConfig{CallTimeout: -1}), "zero or less is the default")
	assert.Equal(t, checkConfig{callTimeout: time.Second, skip: map[string]bool{"A": true, "B": true, "C": true}},
		apply(CheckConfig{CallTimeout: time.Second, SkipFunctions: []string{"A", "B"}}, CheckConfig{SkipFunctions: []string{"C"}}),
		"a later CheckConfig keeps the timeout and adds to the functions skipped")
}
