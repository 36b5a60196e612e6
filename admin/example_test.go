package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// Shop is a plugin with one function.
type Shop struct{}

// Total adds up an order.
func (Shop) Total(_ context.Context, o Order) (float64, error) {
	var t float64
	for _, it := range o.Items {
		t += it.Price
	}
	return t, nil
}

// A host serves the admin API beside its socket; a program elsewhere
// calls the plugins through it with a Client.
func Example() {
	var s socket.Socket
	defer s.Shutdown("")
	if _, err := s.Attach(Shop{}, &envelope.PluginInfo{Name: "shop", Version: "1.0.0"}); err != nil {
		panic(err)
	}

	a := admin.New(&s)
	srv := httptest.NewServer(a) // a host would use an http.Server on a loopback address
	defer srv.Close()
	defer a.Close()

	c := &admin.Client{BaseURL: srv.URL}
	ctx := context.Background()
	info, _ := c.Describe(ctx, "shop")
	for _, f := range info.Functions["Total"].Input.Fields {
		fmt.Printf("%s %s mandatory=%v\n", f.Name, f.Type, f.Mandatory)
	}

	total, err := c.Call(ctx, "shop", "Total", json.RawMessage(`{"id":7,"items":[{"name":"tea","price":2.5},{"name":"cake","price":3}]}`))
	fmt.Println(string(total), err)

	_, err = c.Call(ctx, "shop", "Total", json.RawMessage(`{"id":"seven","items":[]}`))
	fmt.Println(err)
	// Output:
	// id int64 mandatory=true
	// items []struct mandatory=true
	// note string mandatory=false
	// 5.5 <nil>
	// invalid params for Total: field "id": expected int64, got string
}
