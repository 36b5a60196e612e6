package envelope_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/plugsock/plugsock/envelope"
)

// Two Conns over an in-memory pipe: one serves a method, the other calls
// it. Over TCP or a Unix socket it is the same code.
func ExampleConn() {
	hostSide, pluginSide := net.Pipe()

	type greeting struct {
		Name string `json:"name"`
	}
	// The handler runs on the read loop, so the work, and the Reply,
	// happen on a goroutine of their own.
	plugin := envelope.NewConn(pluginSide, envelope.ConnOptions{
		Handler: func(c *envelope.Conn, m *envelope.Envelope) {
			if !m.IsRequest() {
				return
			}
			go func() {
				if m.Method != "Greet" {
					_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", m.Method))
					return
				}
				var in greeting
				if err := envelope.DecodeParams(m, &in); err != nil {
					_ = c.ReplyError(m.ID, envelope.Errorf(envelope.CodeInvalidParams, "invalid params for Greet: %v", err))
					return
				}
				_ = c.Reply(m.ID, "Hello, "+in.Name+"!")
			}()
		},
	})
	host := envelope.NewConn(hostSide, envelope.ConnOptions{})
	plugin.Start()
	host.Start()

	var answer string
	if err := host.Call(context.Background(), "Greet", greeting{Name: "gopher"}, &answer); err != nil {
		fmt.Println("call failed:", err)
	}
	fmt.Println(answer)

	err := host.Call(context.Background(), "Shout", nil, nil)
	fmt.Println(errors.Is(err, envelope.ErrMethodNotFound), err)

	host.Close()
	<-host.Done()
	<-plugin.Done()
	fmt.Println("plugin saw:", plugin.Err())
	// Output:
	// Hello, gopher!
	// true method not found: Shout
	// plugin saw: EOF
}

// A Handler that detaches its message may take its time over it: the work
// starts at once on the goroutine that read the request, and if it is not
// done within a moment another goroutine goes on reading. Here "Slow"
// waits for a later message, which could never arrive if the Handler held
// the read loop.
func ExampleConn_Detach() {
	a, b := net.Pipe()
	release := make(chan struct{})
	server := envelope.NewConn(a, envelope.ConnOptions{
		Handler: func(c *envelope.Conn, m *envelope.Envelope) {
			switch m.Method {
			case "Slow":
				c.Detach(m)
				<-release
				_ = c.Reply(m.ID, "done")
			case "Release":
				close(release)
			}
		},
	})
	client := envelope.NewConn(b, envelope.ConnOptions{})
	server.Start()
	client.Start()

	answer := make(chan string)
	go func() {
		var s string
		_ = client.Call(context.Background(), "Slow", nil, &s)
		answer <- s
	}()
	_ = client.Notify("Release", nil)
	fmt.Println(<-answer)

	client.Close()
	server.Wait() // the connection has ended, and so has every Handler
	// Output:
	// done
}

// A trace id put in the caller's context travels in the request's meta,
// where the other side reads it back.
func ExampleWithTrace() {
	ctx := envelope.WithTrace(context.Background(), "req-42")
	fmt.Println(envelope.TraceFrom(ctx))
	fmt.Printf("%q\n", envelope.TraceFrom(context.Background()))

	a, b := net.Pipe()
	server := envelope.NewConn(a, envelope.ConnOptions{
		Handler: func(c *envelope.Conn, m *envelope.Envelope) {
			go func() { _ = c.Reply(m.ID, "plugin saw trace "+m.Trace()) }()
		},
	})
	client := envelope.NewConn(b, envelope.ConnOptions{})
	server.Start()
	client.Start()
	defer func() { client.Close(); <-client.Done(); <-server.Done() }()

	var seen string
	_ = client.Call(ctx, "Anything", nil, &seen)
	fmt.Println(seen)
	// Output:
	// req-42
	// ""
	// plugin saw trace req-42
}

// Error answers keep their code, and errors.Is maps the codes plugsock
// gives meaning to onto sentinel errors.
func ExampleError_Is() {
	var err error = envelope.Errorf(envelope.CodeMethodNotFound, "method not found: %s", "Frobnicate")
	err = fmt.Errorf("calling calc: %w", err)

	fmt.Println(errors.Is(err, envelope.ErrMethodNotFound))
	fmt.Println(errors.Is(err, envelope.ErrShutdown))
	var e *envelope.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Message)
	}
	// Output:
	// true
	// false
	// -32601 method not found: Frobnicate
}

// Every message on the wire is a Content-Length header, a blank line and
// the JSON body.
func ExampleAppendFrame() {
	stream := envelope.AppendFrame(nil, []byte(`{"jsonrpc":"2.0","method":"$/async","params":1}`))
	fmt.Printf("%q\n", stream)

	fr := envelope.NewFrameReader(bytes.NewReader(stream), 0)
	body, _ := fr.ReadFrame()
	fmt.Println(string(body))
	_, err := fr.ReadFrame()
	fmt.Println(err == io.EOF)
	// Output:
	// "Content-Length: 47\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"$/async\",\"params\":1}"
	// {"jsonrpc":"2.0","method":"$/async","params":1}
	// true
}

func ExampleDecode() {
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"Add","params":{"a":1},"meta":{"trace":"t-9"}}`,
		`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}`,
		`{"jsonrpc":"2.0","id":1,"result":2}`,
		`[{"jsonrpc":"2.0","method":"batch"}]`,
	} {
		m, err := envelope.Decode([]byte(body))
		switch {
		case err != nil:
			fmt.Println("refused:", errors.Is(err, envelope.ErrProtocol))
		case m.IsRequest():
			fmt.Println("request", m.ID, m.Method, string(m.Params), m.Trace())
		case m.IsNotification():
			fmt.Println("notification", m.Method, string(m.Params))
		case m.IsResponse():
			fmt.Println("response", m.ID, string(m.Result))
		}
	}
	// Output:
	// request 1 Add {"a":1} t-9
	// notification $/cancelRequest {"id":1}
	// response 1 2
	// refused: true
}
