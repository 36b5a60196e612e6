package plugin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/plugsock/plugsock/typedesc"
)

var (
	ctxType   = reflect.TypeFor[context.Context]()
	errorType = reflect.TypeFor[error]()
)

// ErrNoMethods is what Start's and Run's error wraps for a value without a
// single method a socket could call.
var ErrNoMethods = errors.New("no callable methods")

// method is one callable function of a plugin.
type method struct {
	fn   reflect.Value // the method's function; its first argument is recv
	recv reflect.Value // the plugin value
	in   reflect.Type
	out  reflect.Type
}

// hookMethod is the name of the method through which a plugin receives its
// async channel; it is never offered as a callable function.
const hookMethod = "UseAsyncHook"

// methods finds the callable methods of v: exported, shaped
// func(ctx context.Context, in T1) (T2, error), with T1 something JSON can
// decode into and T2 something JSON can encode.
func methods(v any) (map[string]*method, error) {
	if v == nil {
		return nil, fmt.Errorf("plugsock: plugin value is nil: %w", ErrNoMethods)
	}
	rv := reflect.ValueOf(v)
	found := suitable(rv.Type())
	if len(found) == 0 {
		err := fmt.Errorf("plugsock: type %v has no method shaped func(context.Context, In) (Out, error): %w", rv.Type(), ErrNoMethods)
		if rv.Kind() != reflect.Pointer && len(suitable(reflect.PointerTo(rv.Type()))) > 0 {
			err = fmt.Errorf("plugsock: type %v has no callable methods, but *%v does; pass a pointer: %w", rv.Type(), rv.Type(), ErrNoMethods)
		}
		return nil, err
	}
	ms := make(map[string]*method, len(found))
	for _, m := range found {
		// m.Func with the receiver as first argument, rather than the
		// bound method value: calling a bound method through reflection
		// allocates its receiver on every call.
		ms[m.Name] = &method{fn: m.Func, recv: rv, in: m.Type.In(2), out: m.Type.Out(0)}
	}
	return ms, nil
}

func suitable(t reflect.Type) []reflect.Method {
	var ms []reflect.Method
	for i := range t.NumMethod() {
		m := t.Method(i)
		if m.IsExported() && m.Name != hookMethod && callable(m.Type) {
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

// describe builds the function descriptions for ms, refined by what the
// author supplied. Reflection decides which functions and fields exist.
func describe(ms map[string]*method, refined map[string]typedesc.Function) (map[string]typedesc.Function, []string) {
	fns := make(map[string]typedesc.Function, len(ms))
	for name, m := range ms {
		f := typedesc.Function{Name: name, Input: typedesc.ForType(m.in), Output: typedesc.ForType(m.out)}
		if r, ok := refined[name]; ok {
			f.Input = typedesc.Refine(f.Input, r.Input)
			f.Output = typedesc.Refine(f.Output, r.Output)
		}
		fns[name] = f
	}
	var unknown []string
	for name := range refined {
		if _, ok := ms[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	return fns, unknown
}

// methodNames lists names for messages.
func methodNames(ms map[string]*method) string {
	names := make([]string, 0, len(ms))
	for n := range ms {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
