package eventlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plugsock/plugsock/eventlog"
)

func Example() {
	ctx := context.Background()
	s := eventlog.NewMemory()
	defer s.Close()

	for _, action := range []string{"create", "pay", "ship"} {
		e := eventlog.Event{Topic: "orders", Type: "order", Action: action, Key: "42",
			Data: json.RawMessage(`{"id":42}`)}
		if err := s.Append(ctx, &e); err != nil {
			panic(err)
		}
		fmt.Println("appended", e.Action, "at offset", e.Offset)
	}

	// A subscription that wants payments, going on after its last commit.
	f := eventlog.Filter{Topic: "orders*", Action: "pay"}
	done, _ := s.Committed(ctx, "billing")
	events, _ := s.Read(ctx, "orders", done+1, 100)
	for _, e := range events {
		if f.Match(&e) {
			fmt.Println("billing gets", e.Action, e.Key)
		}
		s.Commit(ctx, "billing", e.Offset)
	}
	done, _ = s.Committed(ctx, "billing")
	fmt.Println("billing is done up to", done)

	// Keep the latest two.
	eventlog.Retain(ctx, s, "orders", 24*time.Hour, 2)
	first, last, _ := s.Bounds(ctx, "orders")
	fmt.Println("kept", first, "to", last)
	// Output:
	// appended create at offset 1
	// appended pay at offset 2
	// appended ship at offset 3
	// billing gets pay 42
	// billing is done up to 3
	// kept 2 to 3
}
