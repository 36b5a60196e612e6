package plugin

import (
	"fmt"

	"github.com/plugsock/plugsock/internal/rpc"
	"github.com/plugsock/plugsock/typedesc"
)

// ErrNoMethods is what Start's and Run's error wraps for a value without a
// single method a socket could call.
var ErrNoMethods = rpc.ErrNoMethods

// hookMethod is the name of the method through which a plugin receives its
// async channel; it is never offered as a callable function.
const hookMethod = "UseAsyncHook"

// methods finds the callable methods of v (internal/rpc has the rule),
// leaving out the two reserved: the async hook's and Configure
// (config.go).
func methods(v any) (rpc.Methods, error) {
	ms, err := rpc.FindStreams(v, streamKind{}, hookMethod, configMethod)
	if err != nil {
		return nil, fmt.Errorf("plugsock: %w", err)
	}
	return ms, nil
}

// describe builds the function descriptions for ms, with their schemas,
// refined by what the author supplied. Reflection decides which functions
// and fields exist: the functions refined names that ms lacks are
// returned, and a field it names that a function's type lacks is the
// error.
func describe(ms rpc.Methods, refined map[string]typedesc.Function) (map[string]typedesc.Function, []string, error) {
	fns, unknown, err := ms.DescribeRefined("", refined)
	if err != nil {
		return nil, nil, fmt.Errorf("plugsock: info.Functions: %w", err)
	}
	return fns, unknown, nil
}

func methodNames(ms rpc.Methods) string { return ms.Names() }
