package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExitsAreListed(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := e.c.Exits(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.JSONEq(t, `{"exits":[]}`, string(e.do("GET", "/api/exits", "").body))
}
