package typedesc_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/typedesc"
)

func BenchmarkSchemaValidate(b *testing.B) {
	raw, err := typedesc.InputSchema(reflect.TypeFor[fzTricky]())
	require.NoError(b, err)
	s, err := typedesc.CompileSchema(raw)
	require.NoError(b, err)
	payload := []byte(`{"id":1,"created_at":"2024-01-01T00:00:00Z","thumbnail":"aGk=","tree":{"name":"a","kids":[{"name":"b"}]},"int_keys":{"1":"x"},"quoted":{"N":"5"},"any":[1,"x",{"y":null}]}`)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Validate(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileSchema(b *testing.B) {
	raw, err := typedesc.InputSchema(reflect.TypeFor[fzTricky]())
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := typedesc.CompileSchema(raw); err != nil {
			b.Fatal(err)
		}
	}
}
