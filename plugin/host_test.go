package plugin_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
	"github.com/plugsock/plugsock/typedesc"
)

// services2 is the services a protocol 2 host played by hand offers.
const services2 = `{` +
	`"Svc.Sum":{"name":"Svc.Sum","input":{"name":"Args","type":"struct","fields":[{"name":"a","type":"int","mandatory":true},{"name":"b","type":"int","mandatory":true}]},"output":{"name":"int","type":"int"}},` +
	`"Svc.Echo":{"name":"Svc.Echo","input":{"name":"string","type":"string"},"output":{"name":"string","type":"string"}},` +
	`"Svc.Tally":{"name":"Svc.Tally","input":{"type":"map[string]int"},"output":{"type":"int"}}}`

// answer2 is a protocol 2 host's answer to the handshake.
const answer2 = `{"name":"prober","session":"s-2","protocol":2,"services":` + services2 + `}`

// connect2 starts a Prober against a protocol 2 host played by hand.
func connect2(t *testing.T, over connPair) (*frameHost, *Prober, *plugin.Host) {
	t.Helper()
	v := &Prober{}
	h := startFrameHost(t, over, v)
	host := h.connect(answer2)
	require.NotNil(t, host, "Host in OnConnect")
	require.Equal(t, envelope.Protocol2, host.Protocol())
	return h, v, host
}

// outcome is what a call the plugin made returned.
type outcome struct {
	err    error
	result string
}

// callHost runs call on its own goroutine, while the test plays the host,
// and returns where its outcome arrives.
func callHost(call func(result *json.RawMessage) error) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		var r json.RawMessage
		err := call(&r)
		ch <- outcome{err, string(r)}
	}()
	return ch
}

// TestHostOutsideStart: no Host outside Start, and a nil Host's calls
// fail rather than panic.
func TestHostOutsideStart(t *testing.T) {
	var p plugin.Plugin
	assert.Nil(t, p.Host())
	assert.Nil(t, plugin.HostFrom(context.Background()))
	var h *plugin.Host
	assert.Zero(t, h.Protocol())
	assert.NotNil(t, h.Services())
	assert.Empty(t, h.Services())
	assert.ErrorIs(t, h.Call(context.Background(), "Svc.Sum", nil, nil), envelope.ErrShutdown)
	assert.ErrorIs(t, h.CallPlugin(context.Background(), "calc", "Add", nil, nil), envelope.ErrShutdown)
}

// TestHostCalls: what a plugin's calls to a protocol 2 host look like on
// the wire, byte for byte, and what it makes of the answers.
func TestHostCalls(t *testing.T) {
	for name, over := range ends {
		t.Run(name, func(t *testing.T) {
			h, _, host := connect2(t, over)

			var want map[string]typedesc.Function
			require.NoError(t, json.Unmarshal([]byte(services2), &want))
			assert.Equal(t, want, host.Services())
			got := host.Services()
			got["Svc.Sum"].Input.Fields[0].Name = "changed"
			delete(got, "Svc.Echo")
			assert.Equal(t, want, host.Services(), "Services returns the caller's own copy")

			// An object input by name, with the trace id and the deadline
			// last.
			deadline := time.Now().Add(time.Hour)
			ctx, cancel := context.WithDeadline(envelope.WithTrace(context.Background(), "t-1"), deadline)
			defer cancel()
			d := deadline.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
			res := callHost(func(r *json.RawMessage) error { return host.Call(ctx, "Svc.Sum", pair{A: 1, B: 2}, r) })
			assert.Equal(t, `{"jsonrpc":"2.0","id":2,"method":"Svc.Sum","params":{"a":1,"b":2,"_meta":{"trace":"t-1","deadline":"`+d+`"}}}`, h.next())
			h.send(`{"jsonrpc":"2.0","id":2,"result":3}`)
			o := recv(t, res, "Svc.Sum to return")
			require.NoError(t, o.err)
			assert.Equal(t, "3", o.result)

			// Any other input in {"value": ...}; without trace or deadline,
			// no _meta.
			for _, tc := range []struct {
				method  string
				payload any
				params  string
			}{
				{"Svc.Echo", "hi", `{"value":"hi"}`},
				{"Svc.Echo", nil, `{"value":null}`},
				{"Svc.Sum", nil, `{}`},
				{"Svc.Tally", map[string]int{"x": 1}, `{"x":1}`},
			} {
				res := callHost(func(r *json.RawMessage) error { return host.Call(context.Background(), tc.method, tc.payload, r) })
				var m struct {
					ID json.RawMessage `json:"id"`
				}
				body := h.next()
				require.NoError(t, json.Unmarshal([]byte(body), &m))
				assert.Equal(t, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"method":"`+tc.method+`","params":`+tc.params+`}`, body)
				h.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":"ok"}`)
				require.NoError(t, recv(t, res, tc.method+" to return").err)
			}

			// $/call carries the callee's input as it is, and the host's
			// refusal comes back as ErrForbidden.
			tctx := envelope.WithTrace(context.Background(), "t-7")
			res = callHost(func(r *json.RawMessage) error { return host.CallPlugin(tctx, "calc", "Add", pair{A: 1, B: 2}, r) })
			assert.Equal(t, `{"jsonrpc":"2.0","id":7,"method":"$/call","params":{"plugin":"calc","method":"Add","params":{"a":1,"b":2},"_meta":{"trace":"t-7"}}}`, h.next())
			h.send(`{"jsonrpc":"2.0","id":7,"error":{"code":-32005,"message":"plugin \"prober\" may not call \"calc.Add\""}}`)
			o = recv(t, res, "CallPlugin to return")
			assert.ErrorIs(t, o.err, envelope.ErrForbidden)
			assert.EqualError(t, o.err, `plugin "prober" may not call "calc.Add"`)
			res = callHost(func(r *json.RawMessage) error { return host.CallPlugin(tctx, "calc", "Echo", "hi", r) })
			assert.Equal(t, `{"jsonrpc":"2.0","id":8,"method":"$/call","params":{"plugin":"calc","method":"Echo","params":"hi","_meta":{"trace":"t-7"}}}`, h.next())
			h.send(`{"jsonrpc":"2.0","id":8,"error":{"code":-32601,"message":"no plugin named \"calc\"","data":{"x":1}}}`)
			o = recv(t, res, "CallPlugin to return")
			assert.ErrorIs(t, o.err, envelope.ErrMethodNotFound)
			assert.JSONEq(t, `{"x":1}`, string(rpcError(t, o.err).Data))

			// The protocol's own methods are refused before anything is
			// sent: the next frame is the next call's.
			err := host.Call(context.Background(), "$/ping", nil, nil)
			assert.ErrorIs(t, err, envelope.ErrMethodNotFound)

			// Cancelled: the host is told, and a late answer is dropped.
			cctx, ccancel := context.WithCancel(context.Background())
			res = callHost(func(r *json.RawMessage) error { return host.Call(cctx, "Svc.Echo", "wait", r) })
			assert.Equal(t, `{"jsonrpc":"2.0","id":9,"method":"Svc.Echo","params":{"value":"wait"}}`, h.next())
			ccancel()
			assert.Equal(t, `{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":9}}`, h.next())
			assert.ErrorIs(t, recv(t, res, "the cancelled call to return").err, context.Canceled)
			h.send(`{"jsonrpc":"2.0","id":9,"result":"late"}`)

			// Progress: the request's id is its token; reports for other
			// tokens, and after the answer, go nowhere.
			var mu sync.Mutex
			var reports []string
			pctx := envelope.WithProgress(context.Background(), func(progress, total float64, message string) {
				mu.Lock()
				defer mu.Unlock()
				reports = append(reports, fmtReport(progress, total, message))
			})
			res = callHost(func(r *json.RawMessage) error { return host.Call(pctx, "Svc.Echo", "p", r) })
			assert.Equal(t, `{"jsonrpc":"2.0","id":10,"method":"Svc.Echo","params":{"value":"p","_meta":{"progressToken":10}}}`, h.next())
			h.send(`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":10,"progress":1,"total":2,"message":"half"}}`)
			h.send(`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":999,"progress":1}}`)
			h.send(`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":"10","progress":1}}`)
			h.send(`{"jsonrpc":"2.0","method":"$/progress","params":"junk"}`)
			h.send(`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":10,"progress":2}}`)
			h.send(`{"jsonrpc":"2.0","id":10,"result":"done"}`)
			h.send(`{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":10,"progress":3}}`)
			o = recv(t, res, "the call with progress to return")
			require.NoError(t, o.err)
			// The plugin reads in order: once it answers this, it has read
			// the late report too.
			h.exchange(`{"jsonrpc":"2.0","id":1,"method":"Echo","params":{"value":"sync"}}`, `{"jsonrpc":"2.0","id":1,"result":"sync"}`)
			mu.Lock()
			assert.Equal(t, []string{"1/2 half", "2/0 "}, reports)
			mu.Unlock()
		})
	}
}

func fmtReport(progress, total float64, message string) string {
	b, _ := json.Marshal(progress)
	c, _ := json.Marshal(total)
	return string(b) + "/" + string(c) + " " + message
}

// TestHostMethods: a protocol 2 host's calls to the plugin: params objects
// with _meta, which the method's context has, and which go on with the
// method's own calls to the host; hostile _meta is refused naming what is
// wrong.
func TestHostMethods(t *testing.T) {
	for name, over := range ends {
		t.Run(name, func(t *testing.T) {
			h, v, _ := connect2(t, over)
			const d = "2099-01-01T00:00:00.123Z"

			h.exchange(`{"jsonrpc":"2.0","id":1,"method":"Look","params":{"_meta":{"trace":"t-h","deadline":"`+d+`"}}}`,
				`{"jsonrpc":"2.0","id":1,"result":{"trace":"t-h","host":2,"deadline":"`+d+`","has":true,"progress":false}}`)
			h.exchange(`{"jsonrpc":"2.0","id":2,"method":"Echo","params":{"value":"hi","other":1,"_meta":{}}}`, `{"jsonrpc":"2.0","id":2,"result":"hi"}`)
			h.exchange(`{"jsonrpc":"2.0","id":3,"method":"Echo","params":["hi"]}`, `{"jsonrpc":"2.0","id":3,"result":"hi"}`)
			h.exchange(`{"jsonrpc":"2.0","id":4,"method":"Add","params":{"_meta":{"trace":"x"},"a":1,"b":2}}`, `{"jsonrpc":"2.0","id":4,"result":3}`)
			h.exchange(`{"jsonrpc":"2.0","id":5,"method":"Add","params":[{"a":1,"b":2}]}`, `{"jsonrpc":"2.0","id":5,"result":3}`)
			h.exchange(`{"jsonrpc":"2.0","id":6,"method":"Add","params":{}}`, `{"jsonrpc":"2.0","id":6,"result":0}`)

			for i, tc := range []struct{ method, params, message string }{
				{"Echo", `"hi"`, `invalid params for Echo: protocol 2 params must be an object or an array, got a string`},
				{"Add", `{"a":1,"_meta":"x"}`, `invalid params for Add: _meta: want an object, got a string`},
				{"Add", `{"a":1,"_meta":{"deadline":"tomorrow"}}`, `invalid params for Add: _meta.deadline: want an RFC 3339 time, got \"tomorrow\"`},
				{"Add", `{"a":1,"_meta":{},"_meta":{}}`, `invalid params for Add: params have two _meta members`},
				{"Add", `{"a":1,"_meta":{"trace":1}}`, `invalid params for Add: _meta.trace: want a string, got a number`},
				{"Echo", `{"value":5}`, `invalid params for Echo: expected string, got number`},
			} {
				id := 100 + i
				h.exchange(`{"jsonrpc":"2.0","id":`+strconv.Itoa(id)+`,"method":"`+tc.method+`","params":`+tc.params+`}`,
					`{"jsonrpc":"2.0","id":`+strconv.Itoa(id)+`,"error":{"code":-32602,"message":"`+tc.message+`"}}`)
			}

			// The method's trace id and deadline go on with its call to the
			// host.
			h.send(`{"jsonrpc":"2.0","id":10,"method":"Ask","params":{"a":1,"b":2,"_meta":{"trace":"t-ask","deadline":"` + d + `"}}}`)
			assert.Equal(t, `{"jsonrpc":"2.0","id":2,"method":"Svc.Sum","params":{"a":1,"b":2,"_meta":{"trace":"t-ask","deadline":"`+d+`"}}}`, h.next())
			h.send(`{"jsonrpc":"2.0","id":2,"result":3}`)
			assert.Equal(t, `{"jsonrpc":"2.0","id":10,"result":3}`, h.next())

			// Progress for a token of either kind, in order, before the
			// answer.
			for _, token := range []string{`"tok"`, `42`} {
				h.send(`{"jsonrpc":"2.0","id":11,"method":"Count","params":{"value":2,"_meta":{"progressToken":` + token + `}}}`)
				for i := 1; i <= 2; i++ {
					assert.Equal(t, `{"jsonrpc":"2.0","method":"$/progress","params":{"progressToken":`+token+`,"progress":`+strconv.Itoa(i)+`,"total":2,"message":"step `+strconv.Itoa(i)+` of 2"}}`, h.next())
				}
				assert.Equal(t, `{"jsonrpc":"2.0","id":11,"result":2}`, h.next())
			}
			// A notification has no one to report to.
			h.send(`{"jsonrpc":"2.0","method":"Count","params":{"value":2,"_meta":{"progressToken":"n"}}}`)

			v.hook <- "x"
			assert.Equal(t, `{"jsonrpc":"2.0","method":"$/async","params":{"value":"x"}}`, h.next())
			v.hook <- nil
			assert.Equal(t, `{"jsonrpc":"2.0","method":"$/async","params":{"value":null}}`, h.next())

			h.exchange(`{"jsonrpc":"2.0","id":20,"method":"$/shutdown"}`, `{"jsonrpc":"2.0","id":20,"result":null}`)
			require.NoError(t, recv(t, h.done, "Start to return"))
			h.done <- nil // for the cleanup
		})
	}
}

// TestHostPinged: the plugin's pings carry no params in protocol 2.
func TestHostPinged(t *testing.T) {
	h := startFrameHost(t, pipePair, &Prober{}, func(p *plugin.Plugin) { p.HeartbeatInterval = 20 * time.Millisecond })
	h.connect(answer2)
	assert.Equal(t, `{"jsonrpc":"2.0","id":2,"method":"$/ping"}`, h.next())
	h.send(`{"jsonrpc":"2.0","id":2,"result":null}`)
	// The host's ping is answered; more of the plugin's own may come first.
	h.send(`{"jsonrpc":"2.0","id":1,"method":"$/ping"}`)
	for {
		body := h.next()
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &m))
		if m.Method == "" {
			assert.Equal(t, `{"jsonrpc":"2.0","id":1,"result":null}`, body)
			return
		}
		assert.Equal(t, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"method":"$/ping"}`, body)
		h.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":null}`)
	}
}
