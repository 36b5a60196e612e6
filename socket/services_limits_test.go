package socket_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/socket"
)

// Big is a host service with a large answer.
type Big struct{}

func (Big) Get(context.Context, struct{}) (string, error) { return strings.Repeat("x", 16<<10), nil }

// A plugin that sends service requests and never reads the answers is
// read no further once MaxInFlight answers wait to be written: the host
// holds no more of them, and no goroutine per request.
func TestServiceFloodWithoutReading(t *testing.T) {
	const limit = 2
	s, addr, _ := rawSocket(t, socket.Config{MaxInFlight: limit})
	require.NoError(t, s.Register(Big{}))
	c := rawDial(t, addr)
	require.NoError(t, c.nc.(*net.TCPConn).SetReadBuffer(4096))
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"flood","protocol":2}}`)))
	require.Nil(t, c.mustRead(t).Error)
	base := runtime.NumGoroutine()
	go func() {
		for i := 2; i < 3000; i++ {
			if c.writeFrame(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"Big.Get","params":{}}`, i)) != nil {
				return
			}
		}
	}()
	peak := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && peak <= 100; runtime.Gosched() {
		peak = max(peak, runtime.NumGoroutine()-base)
	}
	require.LessOrEqual(t, peak, limit+16, "goroutines held for one plugin's unread answers, MaxInFlight %d", limit)
}

// Reporter reports progress as fast as it can.
type Reporter struct{ started chan struct{} }

func (r *Reporter) Work(ctx context.Context, _ struct{}) (string, error) {
	close(r.started)
	msg := strings.Repeat("p", 32<<10)
	for i := range 2000 {
		if ctx.Err() != nil {
			break
		}
		plugin.Progress(ctx, float64(i), 2000, msg)
	}
	return "done", nil
}

func (*Reporter) Quick(context.Context, struct{}) (string, error) { return "quick", nil }

// A plugin that asks another for progress through $/call and then stops
// reading must not stall the other plugin's connection: the reports are
// relayed from a goroutine of their own, never from the callee's read
// loop.
func TestProgressRelayDoesNotStallCallee(t *testing.T) {
	h := newHost(t, "tcp", socket.WithPluginCalls(func(string, string, string) bool { return true }))
	rep := &Reporter{started: make(chan struct{})}
	h.plug(rep, "reporter")
	nc, err := net.Dial("tcp", h.addr.String())
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.(*net.TCPConn).SetReadBuffer(4096))
	c := &rawConn{nc: nc, br: bufio.NewReader(nc)}
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"greedy","protocol":2}}`)))
	require.Nil(t, c.mustRead(t).Error)
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":2,"method":"$/call","params":{"plugin":"reporter","method":"Work","params":{},"_meta":{"progressToken":"t"}}}`)))
	recv(t, rep.started, "Work to start")
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		// A stall is for good; 5 s leaves room for a loaded machine, where
		// the answer queues behind the reports' 32 KiB frames.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var out string
		err := h.s.CallContext(ctx, "reporter", "Quick", struct{}{}, &out)
		cancel()
		require.NoError(t, err, "an innocent plugin's call while another plugin stalls its progress")
		require.Equal(t, "quick", out)
	}
}

// A $/cancelRequest sent as a request is answered as protocol 1 always
// answered it, -32601, to a protocol 1 plugin; null in protocol 2.
func TestCancelRequestAsARequest(t *testing.T) {
	_, addr, _ := rawSocket(t)
	c := rawDial(t, addr)
	require.Nil(t, c.handshake(t, "1", "old").Error)
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":2,"method":"$/cancelRequest","params":{"id":1}}`)))
	m := c.mustRead(t)
	require.NotNil(t, m.Error, "answer: %s", m.Result)
	require.EqualValues(t, envelope.CodeMethodNotFound, m.Error.Code)

	c2 := rawDial(t, addr)
	require.NoError(t, c2.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"new","protocol":2}}`)))
	require.Nil(t, c2.mustRead(t).Error)
	require.NoError(t, c2.writeFrame([]byte(`{"jsonrpc":"2.0","id":2,"method":"$/cancelRequest","params":{"id":1}}`)))
	m = c2.mustRead(t)
	require.Nil(t, m.Error)
	require.Equal(t, "null", string(m.Result))
}

// "protocol": null is no offer: the answer is protocol 1's, byte for byte.
func TestProtocolNullAnswer(t *testing.T) {
	_, addr, _ := rawSocket(t)
	c := rawDial(t, addr)
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"nul","protocol":null}}`)))
	body, err := c.readFrame()
	require.NoError(t, err)
	require.NotContains(t, string(body), `"protocol"`)
}

// A $/call's input may not carry a _meta of its own: the callee would
// read it as the host's.
func TestPluginCallRefusesAMetaInTheInput(t *testing.T) {
	h := newHost(t, "tcp", socket.WithPluginCalls(func(string, string, string) bool { return true }))
	h.plug(&Reporter{started: make(chan struct{})}, "reporter")
	c := rawDial(t, h.addr.String())
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":1,"method":"$/handshake","params":{"name":"sly","protocol":2}}`)))
	require.Nil(t, c.mustRead(t).Error)
	require.NoError(t, c.writeFrame([]byte(`{"jsonrpc":"2.0","id":2,"method":"$/call","params":{"plugin":"reporter","method":"Quick","params":{"_meta":{"trace":"forged"}}}}`)))
	m := c.mustRead(t)
	require.NotNil(t, m.Error)
	require.EqualValues(t, envelope.CodeInvalidParams, m.Error.Code)
	require.Contains(t, m.Error.Message, "params.params has a _meta member")
}
