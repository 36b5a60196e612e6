// Command brokenstreams is a protocol 2 plugin written on the raw wire,
// with one stream of each shape: Feed, an endless source of {"n": k};
// Save, a sink of them; Echo, a processor that sends each back. As it
// is, it keeps section 19's rules; BROKEN_STREAMS breaks one of them on
// purpose, for the conformance battery to catch:
//
//   - overrun: Feed sends 10 items whatever credit it has;
//   - gaps: Feed's third item has seq 4;
//   - nosettle: Save never settles an item;
//   - nogrant: Save and Echo grant no credit;
//   - lenient: the plugin takes items sent without credit;
//   - call: a stream function called without _meta.stream answers null;
//   - stray: it grants credit on a stream never opened, and sends an ack
//     as a request;
//   - descriptions: it also declares Bad, a stream with neither half and
//     an output, and Save's inSchema does not compile;
//   - protocol1: its handshake offers no protocol, so it speaks 1.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/plugsock/plugsock/envelope"
)

var mode = os.Getenv("BROKEN_STREAMS")

// window is the credit the plugin grants each stream it receives on.
const window = 8

const item = `{"type":"struct","fields":[{"name":"n","type":"int","mandatory":true}]}`

const functions = `{
"Feed":{"name":"Feed","stream":{"out":` + item + `}},
"Save":{"name":"Save","stream":{"in":` + item + `}},
"Echo":{"name":"Echo","stream":{"in":` + item + `,"out":` + item + `}}}`

// message is what the plugin reads.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// stream is one stream the host opened.
type stream struct {
	id      json.RawMessage
	method  string
	credit  int64 // what the host granted, less what the plugin sent
	sent    int64
	granted int64 // what the plugin granted
	recvd   int64
	queue   []json.RawMessage // Echo's items waiting for credit
	closing bool              // the host closed its half
}

var (
	wmu sync.Mutex
	nc  net.Conn
)

func write(v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	wmu.Lock()
	defer wmu.Unlock()
	if _, err := nc.Write(envelope.AppendFrame(nil, body)); err != nil {
		os.Exit(0) // the battery has gone
	}
}

func notify(method string, params any) {
	write(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

func reply(id json.RawMessage, result any) {
	write(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result"`
	}{"2.0", id, result})
}

func replyError(id json.RawMessage, code int, msg string) {
	write(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}})
}

func main() {
	network, addr, err := envelope.ParseAddr(os.Getenv(envelope.EnvAddr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "brokenstreams:", err)
		os.Exit(1)
	}
	if nc, err = net.Dial(network, addr); err != nil {
		fmt.Fprintln(os.Stderr, "brokenstreams:", err)
		os.Exit(1)
	}
	fns := functions
	if mode == "descriptions" {
		fns = strings.Replace(fns, `"in":`, `"inSchema":{"type":"nonsense"},"in":`, 1)
		fns = strings.TrimSuffix(fns, "}") + `,"Bad":{"name":"Bad","output":{"type":"int"},"stream":{}}}`
	}
	hs := map[string]any{"name": "brokenstreams", "version": "0.0.1", "protocol": 2, "launch": os.Getenv(envelope.EnvLaunch),
		"functions": json.RawMessage(fns)}
	if mode == "protocol1" {
		delete(hs, "protocol")
	}
	write(map[string]any{"jsonrpc": "2.0", "id": 0, "method": "$/handshake", "params": hs})
	streams := make(map[string]*stream)
	fr := envelope.NewFrameReader(nc, 0)
	for {
		body, err := fr.ReadFrame()
		if err != nil {
			os.Exit(0)
		}
		var m message
		if json.Unmarshal(body, &m) != nil || m.Method == "" {
			continue // the handshake's answer
		}
		var p map[string]json.RawMessage
		_ = json.Unmarshal(m.Params, &p)
		switch m.Method {
		case "$/ping":
			reply(m.ID, nil)
		case "$/shutdown":
			reply(m.ID, nil)
			_ = nc.Close()
			os.Exit(0)
		case "Feed", "Save", "Echo":
			open(streams, m, p)
		case envelope.MethodStreamItem, envelope.MethodStreamCredit, envelope.MethodStreamAck,
			envelope.MethodStreamClose, envelope.MethodStreamCancel:
			if st := streams[string(p["stream"])]; st != nil {
				if streamMessage(st, m.Method, p) {
					delete(streams, string(st.id))
				}
			}
		default:
			if len(m.ID) > 0 {
				replyError(m.ID, -32601, "method not found: "+m.Method)
			}
		}
	}
}

func open(streams map[string]*stream, m message, p map[string]json.RawMessage) {
	var meta struct {
		Stream *struct {
			Window int64 `json:"window"`
		} `json:"stream"`
	}
	_ = json.Unmarshal(p["_meta"], &meta)
	if meta.Stream == nil {
		if mode == "call" {
			reply(m.ID, nil)
			return
		}
		replyError(m.ID, -32602, fmt.Sprintf("invalid params for %s: %s is a stream; open it with params._meta.stream", m.Method, m.Method))
		return
	}
	st := &stream{id: m.ID, method: m.Method, credit: meta.Stream.Window}
	streams[string(m.ID)] = st
	if mode == "stray" {
		notify(envelope.MethodStreamCredit, map[string]any{"stream": 999999, "credit": 1})
		write(map[string]any{"jsonrpc": "2.0", "id": "ack", "method": envelope.MethodStreamAck, "params": map[string]any{"stream": st.id, "through": 1}})
	}
	if m.Method != "Feed" && mode != "nogrant" || m.Method == "Feed" {
		grant(st, window)
	}
	if m.Method == "Feed" {
		if mode == "overrun" {
			for range 10 {
				send(st, map[string]int64{"n": st.sent + 1})
			}
			return
		}
		feed(st)
	}
}

func grant(st *stream, n int64) {
	st.granted += n
	notify(envelope.MethodStreamCredit, map[string]any{"stream": st.id, "credit": n})
}

func send(st *stream, v any) {
	st.sent++
	st.credit--
	seq := st.sent
	if mode == "gaps" && seq >= 3 {
		seq++
	}
	notify(envelope.MethodStreamItem, map[string]any{"stream": st.id, "item": v, "seq": seq})
}

func feed(st *stream) {
	for st.credit > 0 {
		send(st, map[string]int64{"n": st.sent + 1})
	}
}

// streamMessage takes a stream message; true when the stream has ended.
func streamMessage(st *stream, method string, p map[string]json.RawMessage) bool {
	switch method {
	case envelope.MethodStreamCredit:
		n, _ := strconv.ParseInt(string(p["credit"]), 10, 64)
		st.credit += n
		switch {
		case st.method == "Feed" && mode != "overrun":
			feed(st)
		case st.method == "Echo":
			for len(st.queue) > 0 && st.credit > 0 {
				send(st, st.queue[0])
				st.queue = st.queue[1:]
			}
			if st.closing && len(st.queue) == 0 {
				reply(st.id, nil)
				return true
			}
		}
	case envelope.MethodStreamItem:
		st.recvd++
		if st.recvd > st.granted && mode != "lenient" {
			why := fmt.Sprintf("$/stream/item: item %d sent without credit: %d granted", st.recvd, st.granted)
			notify(envelope.MethodStreamCancel, map[string]any{"stream": st.id, "reason": why, "error": map[string]any{"code": -32600, "message": why}})
			replyError(st.id, -32600, why)
			return true
		}
		switch st.method {
		case "Save":
			if mode == "nosettle" {
				return false
			}
		case "Echo":
			if st.credit > 0 && len(st.queue) == 0 {
				send(st, p["item"])
			} else if len(st.queue) < 4096 {
				st.queue = append(st.queue, p["item"])
			}
		case "Feed":
			return false // a source reads nothing
		}
		notify(envelope.MethodStreamAck, map[string]any{"stream": st.id, "seq": st.recvd})
		grant(st, 1)
	case envelope.MethodStreamClose:
		st.closing = true
		if len(st.queue) == 0 {
			reply(st.id, nil)
			return true
		}
	case envelope.MethodStreamCancel:
		replyError(st.id, -32800, "request cancelled")
		return true
	}
	return false
}
