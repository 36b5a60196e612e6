package plugin_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/typedesc"
)

// The handshake carries each function's JSON Schemas, which say exactly
// what the plugin decodes and writes.
func TestHandshakeCarriesSchemas(t *testing.T) {
	_, hs := connect(t, newCalc(), nil, nil)
	add := hs.Functions["Add"]
	require.NotEmpty(t, add.InputSchema)
	require.NotEmpty(t, add.OutputSchema)

	in, err := typedesc.CompileSchema(add.InputSchema)
	require.NoError(t, err)
	assert.NoError(t, in.Validate([]byte(`{"a":1,"B":2}`)), "names match case-insensitively, as encoding/json decodes")
	assert.NoError(t, in.Validate([]byte(`{"a":null}`)), "null decodes into anything")
	err = in.Validate([]byte(`{"a":1.5}`))
	require.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.Contains(t, err.Error(), "/a: want integer or null, got 1.5")
	err = in.Validate([]byte(`{"A":1.0}`))
	require.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.Contains(t, err.Error(), "/A: want an integer that fits an int64, written without fraction or exponent, got 1.0",
		"encoding/json refuses 1.0 for an int")

	out, err := typedesc.CompileSchema(add.OutputSchema)
	require.NoError(t, err)
	assert.NoError(t, out.Validate([]byte(`{"sum":3}`)))
	assert.ErrorContains(t, out.Validate([]byte(`{}`)), "/sum: missing, and required")
}

type badTagArgs struct {
	Count int `json:"count" plugsock:"minimun=0"`
}

type badTagged struct{}

func (*badTagged) Do(context.Context, badTagArgs) (int, error) { return 0, nil }

// A struct tag the schemas cannot apply is Start's error, naming the field
// and the option, and it hangs up without a handshake.
func TestStartRefusesAnUnknownTagOption(t *testing.T) {
	r := start(t, &plugin.Plugin{}, &badTagged{}, nil, nil, hostOpts{})
	err := r.wait(t)
	require.ErrorIs(t, err, typedesc.ErrRefinement)
	assert.Contains(t, err.Error(), "field Count")
	assert.Contains(t, err.Error(), `unknown option "minimun"`)
	recv(t, r.host.conn.Done(), "plugin to hang up")
	assert.Empty(t, r.host.hs, "no handshake was sent")
}

// Unknown field names in info.Functions are an error, not silently
// ignored; unknown function names stay a warning.
func TestStartRefusesRefinementsOfUnknownFields(t *testing.T) {
	info := &envelope.PluginInfo{Functions: map[string]typedesc.Function{
		"Add": {Input: &typedesc.Entity{Fields: []typedesc.Entity{{Name: "a"}, {Name: "ghost", Mandatory: true}}}},
	}}
	r := start(t, &plugin.Plugin{}, newCalc(), info, nil, hostOpts{})
	err := r.wait(t)
	require.ErrorIs(t, err, typedesc.ErrRefinement)
	assert.Contains(t, err.Error(), "function Add input")
	assert.Contains(t, err.Error(), `field "ghost"`)
	recv(t, r.host.conn.Done(), "plugin to hang up")
	assert.Empty(t, r.host.hs, "no handshake was sent")
}
