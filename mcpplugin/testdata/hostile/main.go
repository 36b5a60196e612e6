// Command hostile is an MCP server that misbehaves, written by hand over
// newline-delimited JSON so that it can break the rules the SDKs keep.
// Its one argument says how:
//
//	garbage   writes a line that is not JSON first
//	mute      reads everything and answers nothing, initialize included
//	absurd    lists, beside the tool ok, tools no plugin function can be
//	deep      lists a tool whose schema nests 10000 levels of JSON
//	costly    lists a tool whose schema takes 2^12 steps to check
//	many      lists 2000 tools
//	hugeline  answers tools/list with one line of 6 MiB
//	endless   answers every tools/list page with another cursor
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

type request struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

var out = bufio.NewWriter(os.Stdout)

func send(v any) {
	b, _ := json.Marshal(v)
	out.Write(b)
	out.WriteByte('\n')
	out.Flush()
}

func answer(id json.RawMessage, result any) {
	send(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
}

func fail(id json.RawMessage, code int, msg string) {
	send(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}})
}

func tool(name string, schema any) map[string]any {
	return map[string]any{"name": name, "inputSchema": schema}
}

var object = map[string]any{"type": "object"}

// deep nests an object schema n levels: 2n levels of JSON.
func deep(n int) any {
	var s any = object
	for range n {
		s = map[string]any{"type": "object", "properties": map[string]any{"a": s}}
	}
	return s
}

// deepText is deep(n) as JSON text, written by hand: past 10000 levels
// neither encoding/json nor its v2 will marshal it.
func deepText(n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(`{"type":"object","properties":{"a":`)
	}
	b.WriteString(`{"type":"object"}`)
	b.WriteString(strings.Repeat("}}", n))
	return b.String()
}

// costly refers to each level twice from the one above.
func costly(n int) any {
	defs := map[string]any{"a0": object}
	for i := 1; i <= n; i++ {
		ref := map[string]any{"$ref": fmt.Sprintf("#/$defs/a%d", i-1)}
		defs[fmt.Sprintf("a%d", i)] = map[string]any{"allOf": []any{ref, ref}}
	}
	return map[string]any{"type": "object", "$defs": defs, "allOf": []any{map[string]any{"$ref": fmt.Sprintf("#/$defs/a%d", n)}}}
}

func tools(mode string, cursor string) any {
	switch mode {
	case "absurd":
		return map[string]any{"tools": []any{
			tool("ok", object),
			tool("deep", deep(300)), // 600 levels of JSON: past what the socket compiles
			tool("elsewhere", map[string]any{"type": "object", "properties": map[string]any{"x": map[string]any{"$ref": "https://example.invalid/x.json"}}}),
			tool("text", map[string]any{"type": "string"}),
			tool("number", 5),
			tool("$/shutdown", object),
			tool("white space", object),
			tool("ok", object),
		}}
	case "costly":
		return map[string]any{"tools": []any{tool("ok", object), tool("costly", costly(12))}}
	case "many":
		ts := make([]any, 2000)
		for i := range ts {
			ts[i] = tool(fmt.Sprintf("t%d", i), object)
		}
		return map[string]any{"tools": ts}
	case "hugeline":
		t := tool("big", object)
		t["description"] = strings.Repeat("x", 6<<20)
		return map[string]any{"tools": []any{t}}
	case "endless":
		return map[string]any{"tools": []any{}, "nextCursor": cursor + "x"}
	}
	return map[string]any{"tools": []any{}}
}

func main() {
	mode := os.Args[1]
	if mode == "garbage" {
		fmt.Fprintln(os.Stdout, "this is not JSON")
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<20)
	for in.Scan() {
		if mode == "mute" {
			continue
		}
		var r request
		if json.Unmarshal(in.Bytes(), &r) != nil || r.ID == nil {
			continue // a notification, or nothing
		}
		switch r.Method {
		case "initialize":
			var p struct {
				ProtocolVersion string `json:"protocolVersion"`
			}
			_ = json.Unmarshal(r.Params, &p)
			answer(r.ID, map[string]any{"protocolVersion": p.ProtocolVersion,
				"capabilities": map[string]any{"tools": map[string]any{}},
				"serverInfo":   map[string]any{"name": "hostile " + mode, "version": "0.1"}})
		case "tools/list":
			var p struct {
				Cursor string `json:"cursor"`
			}
			_ = json.Unmarshal(r.Params, &p)
			if mode == "deep" {
				// Deeper than any JSON library will marshal (encoding/json
				// refuses 10000 levels): the frame is written as text.
				fmt.Fprintf(out, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"deeper","inputSchema":%s}]}}`+"\n", r.ID, deepText(5000))
				out.Flush()
				continue
			}
			answer(r.ID, tools(mode, p.Cursor))
		case "tools/call":
			answer(r.ID, map[string]any{"content": []any{map[string]any{"type": "text", "text": "ok"}}})
		case "ping":
			answer(r.ID, map[string]any{})
		default:
			fail(r.ID, -32601, "method not found: "+r.Method)
		}
	}
	io.Copy(io.Discard, os.Stdin)
}
