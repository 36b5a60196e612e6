package socket_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// Versioned answers with its own version, so a test sees which it reached.
type Versioned struct{ v string }

func (v *Versioned) Version(context.Context, struct{}) (string, error) { return v.v, nil }

// plugVersion attaches a plugin called name with version v and
// returns the name it was assigned, or the error that refused it.
func (h *host) plugVersion(name, v string) (string, error) {
	h.t.Helper()
	n, err := h.s.Attach(&Versioned{v: v}, &envelope.PluginInfo{Name: name, Version: v})
	return n, err
}

func reaches(t *testing.T, s *socket.Socket, addr string) string {
	t.Helper()
	var v string
	require.NoError(t, s.CallContext(t.Context(), addr, "Version", nil, &v), "calling %s", addr)
	return v
}

func TestVersionsSideBySide(t *testing.T) {
	h := newHost(t, "tcp")
	gone := h.callbacks()

	n1, err := h.plugVersion("calc", "1.0.0")
	require.NoError(t, err)
	n2, err := h.plugVersion("calc", "2.0.0")
	require.NoError(t, err)
	n3, err := h.plugVersion("calc", "1.5.0")
	require.NoError(t, err)
	assert.Equal(t, "calc", n1)
	assert.Equal(t, "calc@2.0.0", n2)
	assert.Equal(t, "calc@1.5.0", n3)

	connected := h.s.Connected(false)
	assert.Len(t, connected, 3, "keyed by assigned name, which is unique")
	assert.Equal(t, "2.0.0", connected["calc@2.0.0"].Version)
	assert.Equal(t, "calc@2.0.0", connected["calc@2.0.0"].Name)

	assert.Equal(t, "1.0.0", reaches(t, h.s, "calc"), "the plain name reaches the plugin holding it")
	assert.Equal(t, "1.0.0", reaches(t, h.s, "calc@1.0.0"), "name@version reaches the holder too")
	assert.Equal(t, "2.0.0", reaches(t, h.s, "calc@2.0.0"))
	assert.Equal(t, "1.5.0", reaches(t, h.s, "calc@1.5.0"))
	_, err = h.s.Call("", "calc@3.0.0", "Version", nil)
	assert.ErrorIs(t, err, socket.ErrNoPlugin)

	assert.True(t, h.s.WaitFor("calc@1.5.0", 0))
	assert.Equal(t, "1.5.0", h.s.PluginInfo("calc@1.5.0").Version)
	assert.Equal(t, "1.0.0", h.s.PluginInfo("calc").Version)
	results, errs := h.s.Broadcast("", "Version", nil)
	assert.Empty(t, errs)
	assert.Equal(t, map[string]any{"calc": "1.0.0", "calc@2.0.0": "2.0.0", "calc@1.5.0": "1.5.0"}, results)

	// The same version again is a duplicate, refused as ever.
	_, err = h.plugVersion("calc", "2.0.0")
	assert.ErrorIs(t, err, envelope.ErrNameTaken)
	_, err = h.plugVersion("calc", "1.0.0")
	assert.ErrorIs(t, err, envelope.ErrNameTaken)

	// Once the holder leaves, the plain name reaches the highest version.
	h.s.Unplug("", "calc")
	assert.Equal(t, "calc graceful=true", recv(t, gone.ch, "unplug"))
	assert.Equal(t, "2.0.0", reaches(t, h.s, "calc"))
	assert.True(t, h.s.WaitFor("calc", 0))
	assert.Equal(t, "2.0.0", h.s.PluginInfo("calc").Version)

	// Unplugging by the plain name unplugs what it reaches.
	h.s.Unplug("", "calc")
	assert.Equal(t, "calc@2.0.0 graceful=true", recv(t, gone.ch, "unplug"))
	assert.Equal(t, "1.5.0", reaches(t, h.s, "calc"))

	// A plugin that connects while the plain name is free takes it, and
	// with it the plain name's calls.
	n, err := h.plugVersion("calc", "0.1.0")
	require.NoError(t, err)
	assert.Equal(t, "calc", n)
	assert.Equal(t, "0.1.0", reaches(t, h.s, "calc"))
	assert.Equal(t, "1.5.0", reaches(t, h.s, "calc@1.5.0"))
}

func TestVersionsNeedAUsableVersion(t *testing.T) {
	h := newHost(t, "tcp")
	_, err := h.plugVersion("calc", "1.0.0")
	require.NoError(t, err)
	for _, v := range []string{"", "1.0 beta", "1@2", "a/b"} {
		_, err := h.plugVersion("calc", v)
		assert.ErrorIs(t, err, envelope.ErrNameTaken, "version %q", v)
	}
}

func TestVersionsAndKeySequencer(t *testing.T) {
	h := newHost(t, "tcp", socket.WithKeySequencer(func(name string) string { return name + "-2" }, 1))
	names := make([]string, 0, 3)
	for _, v := range []string{"1.0.0", "1.0.0", "2.0.0"} {
		n, err := h.plugVersion("calc", v)
		require.NoError(t, err)
		names = append(names, n)
	}
	assert.Equal(t, []string{"calc", "calc-2", "calc@2.0.0"}, names,
		"a duplicate is sequenced; another version is admitted as name@version")
	assert.Equal(t, "2.0.0", reaches(t, h.s, "calc@2.0.0"))
	assert.Equal(t, "1.0.0", reaches(t, h.s, "calc-2"))
}

func ExampleSocket_CallContext_versions() {
	var s socket.Socket
	s.Serve(mustListen())
	defer s.Shutdown("")
	for _, v := range []string{"1.4.0", "2.0.0"} {
		name, _ := s.Attach(&Versioned{v: v}, &envelope.PluginInfo{Name: "calc", Version: v})
		fmt.Println("assigned", name)
	}
	for _, addr := range []string{"calc", "calc@2.0.0", "calc@1.4.0"} {
		var v string
		_ = s.CallContext(context.Background(), addr, "Version", nil, &v)
		fmt.Println(addr, "reaches", v)
	}
	// Output:
	// assigned calc
	// assigned calc@2.0.0
	// calc reaches 1.4.0
	// calc@2.0.0 reaches 2.0.0
	// calc@1.4.0 reaches 1.4.0
}
