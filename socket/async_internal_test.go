package socket

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAsyncUndecodableItemIsCountedAndLogged: the read loop checks every
// frame is valid JSON, and decodeAsync takes every valid value, so an item
// Async cannot decode cannot arrive; should one, it is counted as dropped
// and logged, and Async goes on to the next item.
func TestAsyncUndecodableItemIsCountedAndLogged(t *testing.T) {
	var logs bytes.Buffer
	cfg := defaults()
	cfg.log = slog.New(slog.NewTextHandler(&logs, nil))
	var q asyncQueue
	var src asyncSource
	q.addData(&src, "p", []byte(`{"broken"`), &cfg)
	q.addData(&src, "p", []byte(`"next"`), &cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	it, err := q.pop(ctx, cfg.log)
	require.NoError(t, err)
	assert.Equal(t, "next", it.Payload)
	queued, _, dropped := q.stats()
	assert.Zero(t, queued)
	assert.EqualValues(t, 1, dropped)
	assert.Contains(t, logs.String(), `msg="plugsock: async item could not be decoded; dropped" plugin=p bytes=9`)
}

func TestDecodeAsyncKeepsWhatFloat64CannotHold(t *testing.T) {
	v, err := decodeAsync([]byte(`{"a":[1e400,-2,{"b":1e-400}],"c":12345678901234567890123}`))
	require.NoError(t, err)
	// 1e-400 underflows to 0 without an error in encoding/json, as here.
	assert.Equal(t, map[string]any{"a": []any{json.Number("1e400"), -2.0, map[string]any{"b": 0.0}}, "c": 1.2345678901234568e22}, v)
}
