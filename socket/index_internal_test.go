package socket

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
)

func indexed(x *index, name, version string, p phase) *remote {
	r := &remote{info: &envelope.PluginInfo{Name: name, Version: version}}
	r.state.setPhase(p)
	x.add(r)
	return r
}

// A lookup reads only the family of the name it is given: the other
// plugins' infos are taken away after they are indexed, so that reading
// any of them would panic.
func TestIndexResolveReadsOnlyItsName(t *testing.T) {
	var x index
	for i := range 5000 {
		indexed(&x, fmt.Sprintf("p-%d", i), "1.0.0", phaseLive).info = nil
	}
	calc := indexed(&x, "calc", "1.0.0", phaseLive)
	calc2 := indexed(&x, "calc@2.0.0", "2.0.0", phaseLive)
	calc3 := indexed(&x, "calc@3.0.0-rc.1", "3.0.0-rc.1", phaseNamed) // mid-handshake
	require.Equal(t, 5003, x.len())

	assert.Nil(t, x.resolve("missing"))
	assert.Nil(t, x.resolve("missing@1.0.0"))
	assert.Same(t, calc, x.resolve("calc"), "the plain name reaches its holder")
	assert.Same(t, calc2, x.resolve("calc@2.0.0"))
	assert.Same(t, calc, x.resolve("calc@1.0.0"), "name@version reaches that version whatever its name")
	assert.Nil(t, x.resolve("calc@3.0.0-rc.1"), "not live yet")

	calc.state.setPhase(phaseStopping)
	assert.Same(t, calc, x.resolve("calc"), "its own name still reaches a stopping plugin, for lookup to refuse")
	calc3.state.setPhase(phaseLive)
	assert.Same(t, calc2, x.resolve("calc@2.0.0"))
	assert.Same(t, calc3, x.resolve("calc@3.0.0-rc.1"))

	x.remove(calc)
	assert.Same(t, calc3, x.resolve("calc"), "once the holder has gone, the highest version: 3.0.0-rc.1 > 2.0.0")
	x.remove(calc3)
	assert.Same(t, calc2, x.resolve("calc"))
	assert.Equal(t, 5001, x.len())
}

// A family is never changed once published: a reader that has one keeps
// seeing what it saw while plugins of that name come and go.
func TestIndexFamiliesAreCopiedOnWrite(t *testing.T) {
	var x index
	a := indexed(&x, "calc", "1.0.0", phaseLive)
	b := indexed(&x, "calc@2.0.0", "2.0.0", phaseLive)
	seen := x.family("calc")
	require.Equal(t, []*remote{a, b}, seen)

	c := indexed(&x, "calc@3.0.0", "3.0.0", phaseLive)
	x.remove(a)
	x.remove(a) // a second remove changes nothing
	assert.Equal(t, []*remote{a, b}, seen)
	assert.Equal(t, []*remote{b, c}, x.family("calc"))
	assert.Equal(t, 2, x.len())

	x.remove(b)
	x.remove(c)
	assert.Nil(t, x.family("calc"))
	assert.Zero(t, x.len())
	n := 0
	x.each(func(*remote) bool { n++; return true })
	assert.Zero(t, n)
}

// Calls and the listings take no socket-wide lock: they all finish while
// Socket.mu is held, as it is while a plugin connects or leaves.
func TestCallsAndListingsDoNotWaitForSocketLock(t *testing.T) {
	s := swarmSocket(t)
	connectIdle(t, s, "idle", 50, 2)
	calc := attachCalc(t, s)
	// The handshake's last step takes Socket.mu on calc's read loop, which
	// must then read the answer: a first call proves it has passed.
	_, err := s.Call("", calc, "Add", map[string]int{"A": 1, "B": 1})
	require.NoError(t, err)

	done := make(chan error, 1)
	s.mu.Lock()
	go func() {
		if n := len(s.Connected(true)); n != 51 {
			done <- fmt.Errorf("Connected(true) has %d plugins, want 51", n)
			return
		}
		if n := s.Stats().Plugins; n != 51 {
			done <- fmt.Errorf("Stats has %d plugins, want 51", n)
			return
		}
		if info := s.PluginInfo("idle-7"); info == nil || len(info.Functions) != 2 {
			done <- fmt.Errorf("PluginInfo(idle-7) = %+v, want it with 2 functions", info)
			return
		}
		if _, err := s.lookup("missing"); !assert.ErrorIs(t, err, ErrNoPlugin) {
			done <- err
			return
		}
		got, err := s.Call("", calc, "Add", map[string]int{"A": 2, "B": 3})
		if err == nil && got != float64(5) {
			err = fmt.Errorf("Add(2, 3) = %v, want 5", got)
		}
		done <- err
	}()
	select {
	case err := <-done:
		s.mu.Unlock()
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		s.mu.Unlock()
		t.Fatal("a call or a listing waited for Socket.mu")
	}
}
