package socket_test

import (
	"context"
	"encoding/json"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
	"github.com/plugsock/plugsock/typedesc"
)

// Line is one line of an Order.
type Line struct {
	SKU   string  `json:"sku"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
	Note  string  `json:"note,omitempty"`
}

// Order is the input of Shop.Total.
type Order struct {
	ID    int64             `json:"id"`
	Lines []Line            `json:"lines"`
	Tags  map[string]string `json:"tags,omitempty"`
}

// Shop counts the calls that reach it.
type Shop struct{ calls atomic.Int64 }

func (s *Shop) Total(_ context.Context, o Order) (float64, error) {
	s.calls.Add(1)
	var t float64
	for _, l := range o.Lines {
		t += float64(l.Qty) * l.Price
	}
	return t, nil
}

func (s *Shop) Note(_ context.Context, text string) (string, error) {
	s.calls.Add(1)
	return text, nil
}

func TestValidationRefusesBadPayloadsBeforeSending(t *testing.T) {
	h := newHost(t, "tcp", socket.Config{Validation: true})
	shop := &Shop{}
	h.plug(shop, "shop")
	info := h.s.PluginInfo("shop")
	require.NotNil(t, info.Functions["Total"].InputSchema, "a Go plugin sends its input's schema")

	// Checked against the schema, which says what encoding/json decodes:
	// a wrong type is refused, naming the member by its JSON pointer.
	for _, tc := range []struct {
		payload any
		want    string
	}{
		{map[string]any{"id": "x", "lines": []any{}}, `/id: `},
		{map[string]any{"id": 1, "lines": []any{map[string]any{"sku": "a", "qty": 1.5, "price": 1}}}, `/lines/0/qty: `},
		{json.RawMessage(`{"id":1,"lines":[],"tags":{"k":3}}`), `/tags/k: `},
		{map[string]any{"ID": "x"}, `/ID: `}, // encoding/json matches member names without regard to case
		{"an order", `object`},
	} {
		_, err := h.s.Call("", "shop", "Total", tc.payload)
		assert.ErrorIs(t, err, typedesc.ErrInvalid, "%v", tc.payload)
		assert.ErrorIs(t, err, envelope.ErrInvalidParams, "%v", tc.payload)
		assert.ErrorContains(t, err, "plugsock: call shop.Total: invalid params: ")
		assert.ErrorContains(t, err, tc.want)
	}
	_, err := h.s.Call("", "shop", "Note", 12)
	assert.ErrorIs(t, err, typedesc.ErrInvalid)
	assert.ErrorContains(t, err, "string")
	assert.Zero(t, shop.calls.Load(), "no refused payload reached the plugin")

	// What encoding/json decodes goes through: a member left out is its
	// zero value, and null is no payload at all.
	var total float64
	require.NoError(t, h.s.CallContext(context.Background(), "shop", "Total",
		Order{ID: 1, Lines: []Line{{SKU: "a", Qty: 2, Price: 1.25}}}, &total))
	assert.Equal(t, 2.5, total)
	require.NoError(t, h.s.CallContext(context.Background(), "shop", "Total",
		json.RawMessage(`{"id":2,"lines":[{"sku":"b","qty":1,"price":3}]}`), &total))
	assert.Equal(t, 3.0, total)
	require.NoError(t, h.s.CallContext(context.Background(), "shop", "Total",
		map[string]any{"lines": []any{map[string]any{"price": 2}}}, &total), "no member is required")
	assert.Equal(t, 0.0, total)
	require.NoError(t, h.s.CallContext(context.Background(), "shop", "Total", nil, &total))
	assert.Equal(t, 0.0, total)
	_, err = h.s.Call("", "shop", "Undescribed", nil)
	assert.ErrorIs(t, err, envelope.ErrMethodNotFound, "undescribed methods go out unchecked")
	assert.EqualValues(t, 4, shop.calls.Load())
}

// A function described by its Entity alone, as a plugin in another
// language may describe it, is checked against that, more strictly than
// encoding/json decodes: a mandatory field must be there.
func TestValidationByEntity(t *testing.T) {
	s, addr, _ := rawSocket(t, socket.Config{Validation: true})
	entity, err := json.Marshal(typedesc.TypeDescription(Order{}))
	require.NoError(t, err)
	p := startSchemaPlugin(t, addr, "shop", `{"Total":{"input":`+string(entity)+`}}`, map[string]string{"Total": "7"})

	for _, tc := range []struct {
		payload any
		want    string
	}{
		{map[string]any{"id": "x", "lines": []any{}}, `field "id": expected int64, got string`},
		{map[string]any{"id": 1, "lines": []any{map[string]any{"sku": "a", "qty": 1.5, "price": 1}}}, `field "lines[0].qty": expected int, got number 1.5`},
		{map[string]any{"id": 1}, `field "lines": mandatory field is missing`},
		{map[string]any{"id": 1, "lines": []any{map[string]any{"sku": "a", "price": 1}}}, `field "lines[0].qty": mandatory field is missing`},
		{json.RawMessage(`{"id":1,"lines":[],"tags":{"k":3}}`), `field "tags.k": expected string, got number`},
		{nil, `field "id": mandatory field is missing`},
		{"an order", `expected struct, got string`},
	} {
		_, err := s.Call("", "shop", "Total", tc.payload)
		assert.ErrorIs(t, err, typedesc.ErrInvalid, "%v", tc.payload)
		assert.ErrorIs(t, err, envelope.ErrInvalidParams, "%v", tc.payload)
		assert.ErrorContains(t, err, "plugsock: call shop.Total: invalid params: ")
		assert.ErrorContains(t, err, tc.want)
	}
	assert.Empty(t, p.called, "no refused payload reached the plugin")

	got, err := s.Call("", "shop", "Total", Order{ID: 1, Lines: []Line{{SKU: "a", Qty: 2, Price: 1.25}}})
	require.NoError(t, err)
	assert.Equal(t, 7.0, got)
	assert.Equal(t, "Total", rawRecv(t, p.called, "the call"))
}

func TestValidationIsOffByDefault(t *testing.T) {
	h := newHost(t, "tcp")
	shop := &Shop{}
	h.plug(shop, "shop")

	// A missing mandatory field is the zero value to encoding/json.
	got, err := h.s.Call("", "shop", "Total", map[string]any{"lines": []any{map[string]any{"qty": 2, "price": 2}}})
	require.NoError(t, err)
	assert.Equal(t, float64(4), got)

	// A wrong type is refused by the plugin, naming method and field.
	_, err = h.s.Call("", "shop", "Total", map[string]any{"id": "x"})
	assert.ErrorIs(t, err, envelope.ErrInvalidParams)
	assert.NotErrorIs(t, err, typedesc.ErrInvalid)
	assert.EqualError(t, err, `invalid params for Total: field "id": expected int64, got string`)
	assert.EqualValues(t, 1, shop.calls.Load(), "the refused call reached the plugin but not the method")
}

// BenchmarkCallValidation measures what Config.Validation adds to a call
// over loopback TCP with a typical small struct payload.
func BenchmarkCallValidation(b *testing.B) {
	order := Order{ID: 7, Lines: []Line{{"a", 1, 2.5, ""}, {"b", 3, 1.25, "gift"}, {"c", 2, 10, ""}}, Tags: map[string]string{"channel": "web"}}
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			s := new(socket.Socket)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(b, err)
			s.Serve(ln, socket.Config{Logger: quiet, Validation: on})
			defer s.Shutdown("")
			conn, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(b, err)
			done := make(chan error, 1)
			go func() { done <- startPlugin(&Shop{}, "shop", conn) }()
			require.True(b, s.WaitFor("shop", rawWait))
			ctx := context.Background()
			var total float64
			b.ReportAllocs()
			for b.Loop() {
				if err := s.CallContext(ctx, "shop", "Total", order, &total); err != nil {
					b.Fatal(err)
				}
			}
			_ = s.Shutdown("")
			<-done
		})
	}
}

// BenchmarkValidate isolates the check itself: the marshal the socket
// does once and the scan of the bytes.
func BenchmarkValidate(b *testing.B) {
	order := Order{ID: 7, Lines: []Line{{"a", 1, 2.5, ""}, {"b", 3, 1.25, "gift"}, {"c", 2, 10, ""}}, Tags: map[string]string{"channel": "web"}}
	in := typedesc.TypeDescription(order)
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(order); err != nil {
				b.Fatal(err)
			}
		}
	})
	raw, err := json.Marshal(order)
	require.NoError(b, err)
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := in.Validate(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
