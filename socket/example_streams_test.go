package socket_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Shouter is a processor: every word it receives comes back in capitals.
type Shouter struct{}

func (Shouter) Shout(ctx context.Context, s *plugin.Stream[string, string]) error {
	for {
		it, err := s.Recv(ctx)
		if err == io.EOF {
			return s.Drain(ctx) // every word sent back acknowledged
		}
		if err != nil {
			return err
		}
		if _, err := s.Send(ctx, strings.ToUpper(it.Value)); err != nil {
			return err
		}
		if err := s.Ack(it.Seq); err != nil {
			return err
		}
	}
}

func ExampleSocket_OpenStream() {
	var s socket.Socket
	s.Serve(mustListen(), socket.Config{Logger: quiet})
	defer s.Shutdown("")
	if _, err := s.Attach(Shouter{}, &envelope.PluginInfo{Name: "shouter"}); err != nil {
		panic(err)
	}
	fmt.Println(s.PluginInfo("shouter").Functions["Shout"].Stream.Shape())

	ctx := context.Background()
	st, err := s.OpenStream(ctx, "shouter", "Shout", nil)
	if err != nil {
		panic(err)
	}
	go func() {
		for _, w := range []string{"streams", "keep", "order"} {
			if _, err := st.Send(ctx, w); err != nil {
				return
			}
		}
		_ = st.CloseSend()
	}()
	for {
		it, err := st.Recv(ctx)
		if err != nil {
			fmt.Println(err, st.Err(), len(st.Unacked()), "unacknowledged")
			break
		}
		var w string
		_ = it.Decode(&w)
		fmt.Println(it.Seq, w)
		_ = st.Ack(it.Seq)
	}
	// Output:
	// processor
	// 1 STREAMS
	// 2 KEEP
	// 3 ORDER
	// EOF <nil> 0 unacknowledged
}
