package envelope

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestConnStateOnlyMovesForward(t *testing.T) {
	errWrite, errLater := errors.New("write: broken pipe"), errors.New("later")
	var s connState
	assert.True(t, s.open())

	from, recorded := s.advance(connDraining, errWrite)
	assert.Equal(t, connOpen, from)
	assert.True(t, recorded)
	assert.False(t, s.open(), "a draining connection takes no new calls")

	from, recorded = s.advance(connDraining, errLater)
	assert.Equal(t, connDraining, from, "draining starts once")
	assert.False(t, recorded)

	s.advance(connClosing, errLater)
	from, _ = s.advance(connDraining, nil)
	assert.Equal(t, connClosing, from)
	assert.Equal(t, connClosing, s.phase, "never back from closing to draining")

	s.advance(connEnded, errLater)
	s.advance(connClosing, nil)
	assert.Equal(t, connEnded, s.phase)
	assert.Same(t, errWrite, s.reason, "the first reason is kept")
}

func TestConnStateKeepsTheFirstNonNilReason(t *testing.T) {
	var s connState
	_, recorded := s.advance(connClosing, nil) // CloseWithError(nil)
	assert.False(t, recorded)
	assert.NoError(t, s.reason)
	_, recorded = s.advance(connEnded, ErrProtocol)
	assert.True(t, recorded, "a nil reason does not stop a later one")
	assert.Same(t, ErrProtocol, s.reason)
}
