package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/rpc"
	"net/rpc/jsonrpc"
	"os"
	"os/exec"
	"sync"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Small is the workload: a small struct, echoed back.
type Small struct {
	A int    `json:"a"`
	S string `json:"s"`
}

var payload = Small{A: 42, S: "hello"}

// client is one system's caller side, safe for concurrent use.
type client interface {
	// call sends in and waits for the echo in out.
	call(in, out *Small) error
	// close stops the client and whatever server it started.
	close() error
}

// system is one RPC system under comparison.
type system struct {
	name string
	note string // footnote for the table
	// start brings up the server side (in this process, or in a child
	// process when child is true and the system supports it) and returns
	// a connected client.
	start func(child bool) (client, error)
	// parallel is false for systems that cannot multiplex calls on one
	// connection.
	parallel bool
}

var quiet = slog.New(slog.DiscardHandler)

func systems() []system {
	return []system{
		{name: "plugsock", start: startPlugsock, parallel: true},
		{name: "plugsock Call (any)", start: startPlugsockAny, parallel: true,
			note: "Socket.Call: result decoded into any, as encoding/json does"},
		{name: "net/rpc gob", start: startNetRPC(false), parallel: true},
		{name: "net/rpc JSON", start: startNetRPC(true), parallel: true},
		{name: "hashicorp/go-plugin", start: startGoPlugin, parallel: true,
			note: "net/rpc (gob) over yamux; always a child process, over a unix socket (its only transport on Linux)"},
		{name: "sourcegraph/jsonrpc2", start: startJSONRPC2, parallel: true,
			note: "jsonrpc2.Conn with AsyncHandler, VSCodeObjectCodec (the same framing)"},
		{name: "bare TCP ping-pong", start: startPingPong, parallel: false,
			note: "one write and one read of a request-sized message per call: the floor"},
		{name: "ping-pong, one hand-off", start: startPingHandoff, parallel: false,
			note: "the bare ping-pong with its answers read by a goroutine of their own and handed to the caller through a channel: the floor of a client whose reader serves many callers"},
	}
}

// ---- plugsock ----

// Echoer is the plugsock plugin.
type Echoer struct{}

// Echo returns its input.
func (Echoer) Echo(_ context.Context, in Small) (Small, error) { return in, nil }

type plugsockClient struct {
	s    *socket.Socket
	any  bool
	stop func()
}

func (c *plugsockClient) call(in, out *Small) error {
	if c.any {
		v, err := c.s.Call("", "echo", "Echo", in)
		if err != nil {
			return err
		}
		m, _ := v.(map[string]any)
		if m == nil {
			return fmt.Errorf("unexpected result %v", v)
		}
		a, _ := m["a"].(float64)
		s, _ := m["s"].(string)
		out.A, out.S = int(a), s
		return nil
	}
	return c.s.CallContext(context.Background(), "echo", "Echo", in, out)
}

func (c *plugsockClient) close() error {
	err := c.s.Shutdown("")
	c.stop()
	return err
}

func startPlugsockAny(child bool) (client, error) {
	c, err := startPlugsock(child)
	if err != nil {
		return nil, err
	}
	c.(*plugsockClient).any = true
	return c, nil
}

func startPlugsock(child bool) (client, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := new(socket.Socket)
	s.Serve(l, socket.Config{Logger: quiet})
	c := &plugsockClient{s: s}
	if child {
		cmd, _, err := spawn("plugsock", l.Addr().String())
		if err != nil {
			_ = s.Shutdown("")
			return nil, err
		}
		c.stop = func() { _ = cmd.Wait() }
	} else {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			_ = s.Shutdown("")
			return nil, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			p := &plugin.Plugin{Logger: quiet}
			_ = p.Start(Echoer{}, &envelope.PluginInfo{Name: "echo"}, conn, nil)
		}()
		c.stop = func() { <-done }
	}
	if !s.WaitFor("echo", timeout) {
		_ = c.close()
		return nil, errors.New("plugin did not connect")
	}
	return c, nil
}

// runPlugsockPlugin is the child side: dial the host and serve until it
// lets go.
func runPlugsockPlugin(addr string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	p := &plugin.Plugin{Logger: quiet}
	return p.Start(Echoer{}, &envelope.PluginInfo{Name: "echo"}, conn, nil)
}

// ---- net/rpc ----

// EchoService is the net/rpc service.
type EchoService struct{}

// Echo returns its input.
func (EchoService) Echo(in Small, out *Small) error { *out = in; return nil }

type rpcClient struct {
	c    *rpc.Client
	stop func()
}

func (c *rpcClient) call(in, out *Small) error { return c.c.Call("Echo.Echo", in, out) }

func (c *rpcClient) close() error {
	err := c.c.Close()
	c.stop()
	return err
}

// serveNetRPC serves EchoService on l until l is closed; the returned
// function closes l and every connection and waits for them.
func serveNetRPC(l net.Listener, json bool) func() {
	srv := rpc.NewServer()
	if err := srv.RegisterName("Echo", EchoService{}); err != nil {
		panic(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() {
				if json {
					srv.ServeCodec(jsonrpc.NewServerCodec(conn))
				} else {
					srv.ServeConn(conn)
				}
			})
		}
	})
	return func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

func startNetRPC(useJSON bool) func(child bool) (client, error) {
	role := "gob"
	if useJSON {
		role = "json"
	}
	return func(child bool) (client, error) {
		var (
			addr string
			stop func()
		)
		if child {
			cmd, a, err := spawn(role, "")
			if err != nil {
				return nil, err
			}
			addr = a
			stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			addr = l.Addr().String()
			stop = serveNetRPC(l, useJSON)
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			stop()
			return nil, err
		}
		var c *rpc.Client
		if useJSON {
			c = jsonrpc.NewClient(conn)
		} else {
			c = rpc.NewClient(conn)
		}
		return &rpcClient{c: c, stop: stop}, nil
	}
}

// ---- hashicorp/go-plugin ----

var goPluginHandshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PLUGSOCK_BENCH_PLUGIN",
	MagicCookieValue: "echo",
}

// echoPlugin is a go-plugin net/rpc plugin whose client side is the
// *rpc.Client itself.
type echoPlugin struct{}

func (echoPlugin) Server(*goplugin.MuxBroker) (any, error) { return EchoService{}, nil }

func (echoPlugin) Client(_ *goplugin.MuxBroker, c *rpc.Client) (any, error) { return c, nil }

type goPluginClient struct {
	pc *goplugin.Client
	c  *rpc.Client
}

func (c *goPluginClient) call(in, out *Small) error { return c.c.Call("Plugin.Echo", in, out) }

func (c *goPluginClient) close() error {
	c.pc.Kill()
	return nil
}

func startGoPlugin(bool) (client, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pc := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  goPluginHandshake,
		Plugins:          map[string]goplugin.Plugin{"echo": echoPlugin{}},
		Cmd:              exec.Command(exe, "-child=goplugin"),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolNetRPC},
		Logger:           hclog.NewNullLogger(),
	})
	rc, err := pc.Client()
	if err != nil {
		pc.Kill()
		return nil, err
	}
	raw, err := rc.Dispense("echo")
	if err != nil {
		pc.Kill()
		return nil, err
	}
	return &goPluginClient{pc: pc, c: raw.(*rpc.Client)}, nil
}

func runGoPlugin() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: goPluginHandshake,
		Plugins:         map[string]goplugin.Plugin{"echo": echoPlugin{}},
		Logger:          hclog.NewNullLogger(),
	})
}

// ---- sourcegraph/jsonrpc2 ----

type jsonrpc2Client struct {
	c    *jsonrpc2.Conn
	stop func()
}

func (c *jsonrpc2Client) call(in, out *Small) error {
	return c.c.Call(context.Background(), "Echo", in, out)
}

func (c *jsonrpc2Client) close() error {
	err := c.c.Close()
	c.stop()
	return err
}

func jsonrpc2Handler() jsonrpc2.Handler {
	return jsonrpc2.AsyncHandler(jsonrpc2.HandlerWithError(func(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
		var in Small
		if req.Params == nil {
			return nil, errors.New("no params")
		}
		if err := json.Unmarshal(*req.Params, &in); err != nil {
			return nil, err
		}
		return in, nil
	}))
}

// serveJSONRPC2 serves echo on l; the returned function stops it.
func serveJSONRPC2(l net.Listener) func() {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []*jsonrpc2.Conn
	)
	wg.Go(func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			c := jsonrpc2.NewConn(context.Background(), jsonrpc2.NewBufferedStream(nc, jsonrpc2.VSCodeObjectCodec{}), jsonrpc2Handler())
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { <-c.DisconnectNotify() })
		}
	})
	return func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

func startJSONRPC2(child bool) (client, error) {
	var (
		addr string
		stop func()
	)
	if child {
		cmd, a, err := spawn("jsonrpc2", "")
		if err != nil {
			return nil, err
		}
		addr = a
		stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr = l.Addr().String()
		stop = serveJSONRPC2(l)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		stop()
		return nil, err
	}
	c := jsonrpc2.NewConn(context.Background(), jsonrpc2.NewBufferedStream(nc, jsonrpc2.VSCodeObjectCodec{}), nil)
	return &jsonrpc2Client{c: c, stop: stop}, nil
}

// ---- bare TCP ping-pong ----

// pingSize is the size of plugsock's request frame for the workload, so
// the floor moves as many bytes as a call does.
var pingSize = func() int {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"Echo","params":{"a":42,"s":"hello"},"meta":{"trace":"%s"}}`, "3d1f7c2a-95b4-4e0f-8a61-2c7d9e4b1f03")
	return len(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body))
}()

type pingClient struct {
	mu   sync.Mutex
	conn net.Conn
	buf  []byte
	stop func()
}

func (c *pingClient) call(_, _ *Small) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.conn.Write(c.buf); err != nil {
		return err
	}
	_, err := io.ReadFull(c.conn, c.buf)
	return err
}

func (c *pingClient) close() error {
	err := c.conn.Close()
	c.stop()
	return err
}

// servePingPong echoes fixed-size messages on l.
func servePingPong(l net.Listener) func() {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				buf := make([]byte, pingSize)
				for {
					if _, err := io.ReadFull(conn, buf); err != nil {
						return
					}
					if _, err := conn.Write(buf); err != nil {
						return
					}
				}
			})
		}
	})
	return func() {
		_ = l.Close()
		wg.Wait()
	}
}

func startPingPong(child bool) (client, error) {
	var (
		addr string
		stop func()
	)
	if child {
		cmd, a, err := spawn("pingpong", "")
		if err != nil {
			return nil, err
		}
		addr = a
		stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr = l.Addr().String()
		stop = servePingPong(l)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		stop()
		return nil, err
	}
	return &pingClient{conn: conn, buf: make([]byte, pingSize), stop: stop}, nil
}

// pingHandoffClient is pingClient with a reader goroutine between the
// connection and the caller, as every multiplexing client has.
type pingHandoffClient struct {
	*pingClient
	// answers has room for the reader's last send, the error that ends
	// it, which no call may be waiting for.
	answers chan error
	done    chan struct{}
}

func (c *pingHandoffClient) read() {
	defer close(c.done)
	buf := make([]byte, pingSize)
	for {
		_, err := io.ReadFull(c.conn, buf)
		c.answers <- err
		if err != nil {
			return
		}
	}
}

func (c *pingHandoffClient) call(_, _ *Small) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.conn.Write(c.buf); err != nil {
		return err
	}
	return <-c.answers
}

func (c *pingHandoffClient) close() error {
	err := c.pingClient.close()
	<-c.done
	return err
}

func startPingHandoff(child bool) (client, error) {
	cl, err := startPingPong(child)
	if err != nil {
		return nil, err
	}
	c := &pingHandoffClient{pingClient: cl.(*pingClient), answers: make(chan error, 1), done: make(chan struct{})}
	go c.read()
	return c, nil
}

// ---- child processes ----

// spawn runs this binary as a child in role; the child prints the address
// it listens on (if any) as its first line.
func spawn(role, addr string) (*exec.Cmd, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(exe, "-child="+role, "-addr="+addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("child %s: %w", role, err)
	}
	return cmd, line[:len(line)-1], nil
}

// runChild is main for a child process.
func runChild(role, addr string) error {
	listen := func() (net.Listener, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		fmt.Println(l.Addr().String())
		return l, nil
	}
	switch role {
	case "goplugin":
		runGoPlugin()
		return nil
	case "plugsock":
		fmt.Println("ready")
		return runPlugsockPlugin(addr)
	case "swarm":
		return runSwarm(addr)
	case "host10":
		return runHost10()
	case "streams":
		fmt.Println("ready")
		return runRecordsPlugin(addr)
	case "gob", "json", "jsonrpc2", "pingpong", "grpc":
		l, err := listen()
		if err != nil {
			return err
		}
		switch role {
		case "gob":
			serveNetRPC(l, false)
		case "json":
			serveNetRPC(l, true)
		case "jsonrpc2":
			serveJSONRPC2(l)
		case "pingpong":
			servePingPong(l)
		case "grpc":
			serveGRPC(l)
		}
		// The parent kills the child when done.
		select {}
	}
	return fmt.Errorf("unknown child role %q", role)
}
