// Package rpc turns a Go value's methods into functions a peer can call:
// it finds the methods shaped func(context.Context, In) (Out, error),
// describes them, and runs them for a request, turning what goes wrong
// into the error answer the protocol prescribes. It is the one home of
// that logic for a plugin's methods (package plugin) and the host's
// services (package socket), so the two behave alike.
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/msgbuf"
	"github.com/plugsock/plugsock/typedesc"
)

var (
	ctxType   = reflect.TypeFor[context.Context]()
	errorType = reflect.TypeFor[error]()
)

// ErrNoMethods is what Find's error wraps for a value without a single
// method a peer could call.
var ErrNoMethods = errors.New("no callable methods")

// Method is one callable method.
type Method struct {
	fn     reflect.Value // the method's function; its first argument is recv
	recv   reflect.Value // the value whose method it is
	in     reflect.Type  // nil for a stream method without an input
	out    reflect.Type  // nil for a stream method
	object bool          // the input is a JSON object (typedesc.Entity.IsObject)
	// The JSON Schemas of in and out, made once here so that a struct tag
	// they cannot apply is Find's error.
	inSchema, outSchema json.RawMessage

	// A stream method's stream parameter, its item types (nil for a half
	// it does not use) and their schemas.
	stream                reflect.Type
	kind                  StreamKind
	itemIn, itemOut       reflect.Type
	itemInSch, itemOutSch json.RawMessage
}

// StreamKind tells Find which parameter types are streams, and makes
// them: package plugin's Source, Sink and Stream. A stream method is
// shaped func(ctx context.Context, [in In,] s S) error, with S a type
// Items accepts.
type StreamKind interface {
	// Items returns the types of the items a stream parameter of type t
	// receives and sends, nil for a half it does not use; ok is false
	// when t is not a stream.
	Items(t reflect.Type) (in, out reflect.Type, ok bool)
	// New returns a value of type t bound to s.
	New(t reflect.Type, s *envelope.Stream) reflect.Value
}

// IsStream reports whether m is a stream method.
func (m *Method) IsStream() bool { return m.stream != nil }

// Methods are a value's callable methods, by name.
type Methods map[string]*Method

// Find returns the callable methods of v: exported, shaped
// func(ctx context.Context, in T1) (T2, error), with T1 something JSON can
// decode into and T2 something JSON can encode, except those named in
// skip, which the caller keeps for purposes of its own. Its error also
// names a method whose types have a plugsock or jsonschema struct tag that
// typedesc cannot apply (typedesc.InputSchema), wrapping
// typedesc.ErrRefinement.
func Find(v any, skip ...string) (Methods, error) { return FindStreams(v, nil, skip...) }

// FindStreams is Find that also finds the stream methods whose stream
// parameter kind knows.
func FindStreams(v any, kind StreamKind, skip ...string) (Methods, error) {
	if v == nil {
		return nil, fmt.Errorf("value is nil: %w", ErrNoMethods)
	}
	rv := reflect.ValueOf(v)
	found := suitable(rv.Type(), kind, skip)
	if len(found) == 0 {
		err := fmt.Errorf("type %v has no method shaped func(context.Context, In) (Out, error): %w", rv.Type(), ErrNoMethods)
		if rv.Kind() != reflect.Pointer && len(suitable(reflect.PointerTo(rv.Type()), kind, skip)) > 0 {
			err = fmt.Errorf("type %v has no callable methods, but *%v does; pass a pointer: %w", rv.Type(), rv.Type(), ErrNoMethods)
		}
		return nil, err
	}
	ms := make(Methods, len(found))
	for _, m := range found {
		if st, ok := streamParam(m.Type, kind); ok {
			sm, err := streamMethod(m, rv, st, kind)
			if err != nil {
				return nil, err
			}
			ms[m.Name] = sm
			continue
		}
		// m.Func with the receiver as first argument, rather than the
		// bound method value: calling a bound method through reflection
		// allocates its receiver on every call.
		in, out := m.Type.In(2), m.Type.Out(0)
		inSchema, err := typedesc.InputSchema(in)
		if err != nil {
			return nil, fmt.Errorf("method %s: input %v: %w", m.Name, in, err)
		}
		outSchema, err := typedesc.OutputSchema(out)
		if err != nil {
			return nil, fmt.Errorf("method %s: output %v: %w", m.Name, out, err)
		}
		ms[m.Name] = &Method{
			fn: m.Func, recv: rv, in: in, out: out,
			// The rule the caller goes by, from the description it has.
			object:   (&typedesc.Function{Input: typedesc.ForType(in), InputSchema: inSchema}).ObjectInput(),
			inSchema: inSchema, outSchema: outSchema,
		}
	}
	return ms, nil
}

// TypeName is the name of v's type, pointers removed; "" when it has none.
func TypeName(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	return t.Name()
}

func suitable(t reflect.Type, kind StreamKind, skip []string) []reflect.Method {
	var ms []reflect.Method
	for i := range t.NumMethod() {
		m := t.Method(i)
		if !m.IsExported() || slices.Contains(skip, m.Name) {
			continue
		}
		if _, ok := streamParam(m.Type, kind); ok || callable(m.Type) {
			ms = append(ms, m)
		}
	}
	return ms
}

// callable reports whether a method type (receiver first) has the shape
// the design allows.
func callable(t reflect.Type) bool {
	if t.NumIn() != 3 || t.NumOut() != 2 {
		return false
	}
	if t.In(1) != ctxType || t.Out(1) != errorType {
		return false
	}
	switch in := t.In(2); in.Kind() {
	case reflect.Chan, reflect.Func:
		return false
	case reflect.Interface:
		if in.NumMethod() > 0 {
			return false
		}
	}
	switch t.Out(0).Kind() {
	case reflect.Chan, reflect.Func:
		return false
	}
	return true
}

// Describe builds the function descriptions of ms, each named prefix plus
// its method's name, with the Entities of its input and output and their
// JSON Schemas, refined by what the author supplied (keyed the same way).
// Reflection decides which functions and fields exist: unknown lists the
// names in refined that ms does not have. A refinement that typedesc.Refine
// refuses (a field the type lacks) is left out; DescribeRefined reports it.
func (ms Methods) Describe(prefix string, refined map[string]typedesc.Function) (fns map[string]typedesc.Function, unknown []string) {
	fns, unknown, _ = ms.describe(prefix, refined, false)
	return fns, unknown
}

// DescribeRefined is Describe that stops at the first refinement
// typedesc.Refine refuses, and returns its error, which names the function
// and wraps typedesc.ErrRefinement.
func (ms Methods) DescribeRefined(prefix string, refined map[string]typedesc.Function) (fns map[string]typedesc.Function, unknown []string, err error) {
	return ms.describe(prefix, refined, true)
}

func (ms Methods) describe(prefix string, refined map[string]typedesc.Function, strict bool) (map[string]typedesc.Function, []string, error) {
	fns := make(map[string]typedesc.Function, len(ms))
	names := make([]string, 0, len(ms))
	for name := range ms {
		names = append(names, name)
	}
	sort.Strings(names) // the same error first, whatever the map's order
	for _, name := range names {
		m := ms[name]
		name = prefix + name
		f := typedesc.Function{
			Name:         name,
			InputSchema:  bytes.Clone(m.inSchema),
			OutputSchema: bytes.Clone(m.outSchema),
		}
		if m.in != nil {
			f.Input = typedesc.ForType(m.in)
		}
		if m.out != nil {
			f.Output = typedesc.ForType(m.out)
		}
		if m.stream != nil {
			f.Stream = &typedesc.Stream{InSchema: bytes.Clone(m.itemInSch), OutSchema: bytes.Clone(m.itemOutSch)}
			if m.itemIn != nil {
				f.Stream.In = typedesc.ForType(m.itemIn)
			}
			if m.itemOut != nil {
				f.Stream.Out = typedesc.ForType(m.itemOut)
			}
		}
		if r, ok := refined[name]; ok {
			in, inErr := typedesc.Refine(f.Input, r.Input)
			out, outErr := typedesc.Refine(f.Output, r.Output)
			switch {
			case inErr != nil && strict:
				return nil, nil, fmt.Errorf("function %s input: %w", name, inErr)
			case outErr != nil && strict:
				return nil, nil, fmt.Errorf("function %s output: %w", name, outErr)
			}
			if inErr == nil {
				f.Input = in
			}
			if outErr == nil {
				f.Output = out
			}
		}
		fns[name] = f
	}
	var unknown []string
	for name := range refined {
		if _, ok := fns[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	return fns, unknown, nil
}

// Names lists the methods' names, for messages.
func (ms Methods) Names() string {
	names := make([]string, 0, len(ms))
	for n := range ms {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Invoke decodes the input of request req, runs the method with ctx, and
// returns its result, or the error answer: -32602 for an input that does
// not decode, -32800 for an error that is ctx's own once it has ended,
// the *envelope.Error the method returned as it is, -32603 for a panic
// (logged to log with its stack), and -32000 with the error's text for any
// other error.
func (m *Method) Invoke(ctx context.Context, req *envelope.Envelope, log *slog.Logger, trace string) (result any, rerr *envelope.Error) {
	in := reflect.New(m.in)
	if err := envelope.DecodeInput(req, in.Interface(), m.object); err != nil {
		return nil, InvalidParams(req.Method, err)
	}
	// The input is decoded, and nothing that decoded it keeps a reference
	// to the request's bytes (an Unmarshaler copies what it keeps): a
	// large frame goes back to be read into again.
	msgbuf.Release(req)
	defer func() {
		if v := recover(); v != nil {
			log.Error("plugsock: method panicked", "method", req.Method, "trace", trace, "panic", v, "stack", string(debug.Stack()))
			result, rerr = nil, envelope.Errorf(envelope.CodeInternalError, "panic in %s: %v", req.Method, v)
		}
	}()
	// reflect.ValueOf(&ctx).Elem() has the parameter's own type,
	// context.Context, where reflect.ValueOf(ctx) would have the
	// concrete one and make Call check that it implements the interface.
	out := m.fn.Call([]reflect.Value{m.recv, reflect.ValueOf(&ctx).Elem(), in.Elem()})
	if err, _ := out[1].Interface().(error); err != nil {
		return nil, methodError(ctx, req.Method, err)
	}
	return out[0].Interface(), nil
}

// InvalidParams is the answer to params that do not decode into a
// method's input. It names the method and, where encoding/json says
// which, the field, with the types in the words the function descriptions
// use:
//
//	invalid params for Add: field "b": expected int, got string
func InvalidParams(method string, err error) *envelope.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Type != nil {
		want := te.Type.String()
		if d := typedesc.ForType(te.Type); d != nil && d.Type != "" {
			want = d.Type
		}
		if te.Field == "" {
			return envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: expected %s, got %s", method, want, te.Value)
		}
		return envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: field %q: expected %s, got %s", method, te.Field, want, te.Value)
	}
	msg := err.Error()
	if errors.Is(err, envelope.ErrInvalidParams) {
		// The reader's own complaint about the params' shape; it begins
		// with the sentinel's text, which the answer says already.
		msg = strings.TrimPrefix(msg, envelope.ErrInvalidParams.Error()+": ")
	}
	return envelope.Errorf(envelope.CodeInvalidParams, "invalid params for %s: %s", method, msg)
}

// streamParam returns the stream parameter's type of a method type
// (receiver first) shaped func(ctx, [In,] S) error.
func streamParam(t reflect.Type, kind StreamKind) (reflect.Type, bool) {
	if kind == nil || t.NumOut() != 1 || t.Out(0) != errorType || t.NumIn() < 3 || t.NumIn() > 4 || t.In(1) != ctxType {
		return nil, false
	}
	st := t.In(t.NumIn() - 1)
	if _, _, ok := kind.Items(st); !ok {
		return nil, false
	}
	if t.NumIn() == 4 {
		switch in := t.In(2); in.Kind() {
		case reflect.Chan, reflect.Func:
			return nil, false
		case reflect.Interface:
			if in.NumMethod() > 0 {
				return nil, false
			}
		}
	}
	return st, true
}

func streamMethod(m reflect.Method, recv reflect.Value, st reflect.Type, kind StreamKind) (*Method, error) {
	sm := &Method{fn: m.Func, recv: recv, stream: st, kind: kind}
	if m.Type.NumIn() == 4 {
		sm.in = m.Type.In(2)
		sch, err := typedesc.InputSchema(sm.in)
		if err != nil {
			return nil, fmt.Errorf("method %s: input %v: %w", m.Name, sm.in, err)
		}
		sm.inSchema = sch
		sm.object = (&typedesc.Function{Input: typedesc.ForType(sm.in), InputSchema: sch}).ObjectInput()
	}
	sm.itemIn, sm.itemOut, _ = kind.Items(st)
	var err error
	if sm.itemIn != nil {
		if sm.itemInSch, err = typedesc.InputSchema(sm.itemIn); err != nil {
			return nil, fmt.Errorf("method %s: stream items %v: %w", m.Name, sm.itemIn, err)
		}
	}
	if sm.itemOut != nil {
		if sm.itemOutSch, err = typedesc.OutputSchema(sm.itemOut); err != nil {
			return nil, fmt.Errorf("method %s: stream items %v: %w", m.Name, sm.itemOut, err)
		}
	}
	return sm, nil
}

// InvokeStream runs stream method m for request req on stream s, as
// Invoke runs a call: the same decoding of the input, and the same
// answers for what goes wrong. Its result is always null.
func (m *Method) InvokeStream(ctx context.Context, req *envelope.Envelope, s *envelope.Stream, log *slog.Logger, trace string) (rerr *envelope.Error) {
	args := []reflect.Value{m.recv, reflect.ValueOf(&ctx).Elem()}
	if m.in != nil {
		in := reflect.New(m.in)
		if err := envelope.DecodeInput(req, in.Interface(), m.object); err != nil {
			return InvalidParams(req.Method, err)
		}
		args = append(args, in.Elem())
	}
	args = append(args, m.kind.New(m.stream, s))
	defer func() {
		if v := recover(); v != nil {
			log.Error("plugsock: method panicked", "method", req.Method, "trace", trace, "panic", v, "stack", string(debug.Stack()))
			rerr = envelope.Errorf(envelope.CodeInternalError, "panic in %s: %v", req.Method, v)
		}
	}()
	out := m.fn.Call(args)
	err, _ := out[0].Interface().(error)
	return methodError(ctx, req.Method, err)
}

// methodError is the answer to the error err a method returned: nil for
// none, the *envelope.Error it is, -32800 when it is ctx's own once ctx
// has ended, and -32000 with its text otherwise.
func methodError(ctx context.Context, method string, err error) *envelope.Error {
	if err == nil {
		return nil
	}
	var e *envelope.Error
	switch {
	case errors.As(err, &e):
		return e
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return envelope.Errorf(envelope.CodeRequestCancelled, "%s: %v", method, err)
	}
	return &envelope.Error{Code: envelope.CodeMethodError, Message: err.Error()}
}
