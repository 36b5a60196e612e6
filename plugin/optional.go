package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"

	"github.com/plugsock/plugsock/envelope"
)

// A plugin value may have methods that are not functions but answer the
// host's own requests: Configure (config.go), Health (health.go),
// Snapshot and Restore (snapshot.go). They share what follows: how they
// are found, how the handshake declares them, and the protections every
// method of a plugin has.

// findOptional returns v as I when it has I's methods, and nil when it
// has none. Methods that only *T has, given a T, are an error: passing
// the value would silently leave them out. methods names them, for that
// error.
func findOptional[I any](v any, methods string) (I, error) {
	var none I
	if i, ok := v.(I); ok {
		return i, nil
	}
	if v == nil {
		return none, nil
	}
	t := reflect.TypeOf(v)
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(reflect.TypeFor[I]()) {
		return none, fmt.Errorf("plugsock: %v has no %s, but *%v does; pass a pointer", t, methods, t)
	}
	return none, nil
}

// declared is the value of a capability a plugin declares by having its
// methods.
var declared = json.RawMessage("true")

// declare adds the capability called name to hs when has.
func declare(hs *envelope.Handshake, name string, has bool) {
	if !has {
		return
	}
	if hs.Capabilities == nil {
		hs.Capabilities = make(map[string]json.RawMessage, 1)
	}
	hs.Capabilities[name] = declared
}

// answerError is the answer to a request whose method returned err: an
// *envelope.Error as it is, the request's own context's end as a
// cancellation, anything else as the method's error.
func answerError(ctx context.Context, method string, err error) *envelope.Error {
	var e *envelope.Error
	switch {
	case errors.As(err, &e):
		return e
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return envelope.Errorf(envelope.CodeRequestCancelled, "%s: %v", method, err)
	}
	return &envelope.Error{Code: envelope.CodeMethodError, Message: err.Error()}
}

// recovered turns a panic of method into an error answer, logged with its
// stack; deferred by whatever runs the method. It returns nil when there
// was none.
func recovered(log *slog.Logger, method, trace string, v any) *envelope.Error {
	if v == nil {
		return nil
	}
	log.Error("plugsock: "+method+" panicked", "trace", trace, "panic", v, "stack", string(debug.Stack()))
	return envelope.Errorf(envelope.CodeInternalError, "panic in %s: %v", method, v)
}
