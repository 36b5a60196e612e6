package socket

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// is records what every query says of a state.
type is struct{ named, live, callable, stopping, graceful, cutOff bool }

func query(st *connState) is {
	return is{st.named(), st.live(), st.callable(), st.stopping(), st.leftGracefully(), st.cutOff()}
}

// The life of a connection as Socket.disconnected and the API see it,
// transition by transition.
func TestConnStateTransitions(t *testing.T) {
	var st connState
	assert.Equal(t, is{}, query(&st), "a new connection is nothing yet")
	st.goLive()
	assert.Equal(t, is{}, query(&st), "no phase is skipped: live only after named")

	st.reserve()
	assert.Equal(t, is{named: true}, query(&st))
	st.goLive()
	assert.Equal(t, is{named: true, live: true, callable: true}, query(&st))

	assert.Nil(t, st.stopDecided(), "no verdict to wait for without a stop")
	require.True(t, st.beginStop(), "the first stop asks the plugin to leave")
	assert.False(t, st.beginStop(), "a second only waits")
	assert.Equal(t, is{named: true, live: true, stopping: true}, query(&st), "still reported, no longer called")
	decided := st.stopDecided()
	require.NotNil(t, decided)
	st.decide(true, false)
	assert.Equal(t, is{named: true, live: true, stopping: true, graceful: true}, query(&st))
	select {
	case <-decided:
	default:
		t.Fatal("decide did not close decided")
	}
	st.reserve()
	assert.True(t, st.stopping(), "a connection never moves back")
}

func TestConnStateVerdicts(t *testing.T) {
	live := func() *connState {
		st := &connState{}
		st.reserve()
		st.goLive()
		return st
	}
	for _, tc := range []struct {
		name string
		run  func(st *connState)
		want is
	}{
		{"the plugin says goodbye", func(st *connState) { st.goodbye() },
			is{named: true, live: true, stopping: true, graceful: true}},
		{"a stop is answered", func(st *connState) { st.beginStop(); st.decide(true, false) },
			is{named: true, live: true, stopping: true, graceful: true}},
		{"a stop times out", func(st *connState) { st.beginStop(); st.decide(false, true) },
			is{named: true, live: true, stopping: true, cutOff: true}},
		{"a goodbye, then cut off anyway", func(st *connState) { st.goodbye(); st.beginStop(); st.decide(false, true) },
			is{named: true, live: true, stopping: true, cutOff: true}},
		{"the connection is lost during a stop", func(st *connState) { st.beginStop(); st.decide(false, false) },
			is{named: true, live: true, stopping: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := live()
			tc.run(st)
			assert.Equal(t, tc.want, query(st))
		})
	}

	// A goodbye before the handshake's answer went out (Shutdown overtook
	// it) sets the verdict only: stopping would make it look live.
	var st connState
	st.reserve()
	st.goodbye()
	assert.Equal(t, is{named: true, graceful: true}, query(&st))
}
