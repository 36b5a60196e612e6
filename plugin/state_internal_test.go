package plugin

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Every event in every phase: where the session goes and what the caller
// is told to do. The stops a transition begins are counted, so the test
// ends each one the way stop's deferred Done would.
func TestSessionTransitions(t *testing.T) {
	phases := []sessionPhase{sessionHandshaking, sessionServing, sessionStopping, sessionCut, sessionEnded}
	names := map[sessionPhase]string{
		sessionHandshaking: "handshaking", sessionServing: "serving", sessionStopping: "stopping",
		sessionCut: "cut", sessionEnded: "ended",
	}
	type outcome struct {
		to         sessionPhase
		a, b       bool // the transition's two results
		stopsBegun int
	}
	events := []struct {
		name string
		do   func(s *session) (a, b bool)
		want map[sessionPhase]outcome
	}{
		{"handshake accepted", func(s *session) (bool, bool) { return s.answered(nil) }, map[sessionPhase]outcome{
			// connected, cut
			sessionHandshaking: {sessionServing, true, false, 0},
			sessionServing:     {sessionServing, true, false, 0},
			sessionStopping:    {sessionStopping, true, false, 0}, // a $/shutdown during the handshake
			sessionCut:         {sessionCut, false, true, 0},
		}},
		{"handshake failed", func(s *session) (bool, bool) { return s.answered(errors.New("refused")) }, map[sessionPhase]outcome{
			sessionHandshaking: {sessionHandshaking, false, false, 0},
			sessionStopping:    {sessionStopping, false, false, 0},
			sessionCut:         {sessionCut, false, true, 0},
		}},
		{"Close", func(s *session) (bool, bool) { return s.leave() }, map[sessionPhase]outcome{
			// cut, goodbye
			sessionHandshaking: {sessionCut, true, false, 0},
			sessionServing:     {sessionStopping, false, true, 1},
			sessionStopping:    {sessionStopping, false, false, 0},
			sessionCut:         {sessionCut, false, false, 0},
			sessionEnded:       {sessionEnded, false, false, 0},
		}},
		{"$/shutdown", func(s *session) (bool, bool) { return s.shutdownAsked() }, map[sessionPhase]outcome{
			// stop, first
			sessionHandshaking: {sessionStopping, true, true, 1},
			sessionServing:     {sessionStopping, true, true, 1},
			sessionStopping:    {sessionStopping, true, false, 1}, // answered too, after the calls
			sessionCut:         {sessionCut, true, false, 1},
			sessionEnded:       {sessionEnded, false, false, 0},
		}},
		{"end", func(s *session) (bool, bool) { return s.end(), false }, map[sessionPhase]outcome{
			// graceful
			sessionHandshaking: {sessionEnded, false, false, 0},
			sessionServing:     {sessionEnded, false, false, 0},
			sessionStopping:    {sessionEnded, true, false, 0},
			sessionCut:         {sessionEnded, true, false, 0},
			sessionEnded:       {sessionEnded, false, false, 0},
		}},
	}
	for _, ev := range events {
		for _, from := range phases {
			want, ok := ev.want[from]
			if !ok {
				continue // the event does not happen in that phase
			}
			s := &session{phase: from}
			a, b := ev.do(s)
			what := ev.name + " while " + names[from]
			assert.Equal(t, names[want.to], names[s.phase], what)
			assert.Equal(t, [2]bool{want.a, want.b}, [2]bool{a, b}, what)
			for range want.stopsBegun {
				s.stops.Done() // panics if the transition did not count it
			}
			waited := make(chan struct{})
			go func() { s.stops.Wait(); close(waited) }()
			select {
			case <-waited:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: began more stops than %d", what, want.stopsBegun)
			}
		}
	}
}

// Only the phases before a stop take calls.
func TestSessionTakesCallsUntilAStop(t *testing.T) {
	for phase, takes := range map[sessionPhase]bool{
		sessionHandshaking: true, sessionServing: true,
		sessionStopping: false, sessionCut: false, sessionEnded: false,
	} {
		s := &session{phase: phase}
		assert.Equal(t, takes, s.takesCalls(), "phase %d", phase)
	}
}
