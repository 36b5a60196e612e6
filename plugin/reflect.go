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

// methods finds the callable methods of v (internal/rpc has the rule).
func methods(v any) (rpc.Methods, error) {
	ms, err := rpc.Find(v, hookMethod)
	if err != nil {
		return nil, fmt.Errorf("plugsock: %w", err)
	}
	return ms, nil
}

// describe builds the function descriptions for ms, refined by what the
// author supplied. Reflection decides which functions and fields exist.
func describe(ms rpc.Methods, refined map[string]typedesc.Function) (map[string]typedesc.Function, []string) {
	return ms.Describe("", refined)
}

func methodNames(ms rpc.Methods) string { return ms.Names() }
