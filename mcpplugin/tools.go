package mcpplugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/internal/names"
	"github.com/plugsock/plugsock/typedesc"
)

// toolSet is what a server's tools/list became: the plugin's functions, as
// its handshake describes them, by tool name.
type toolSet map[string]typedesc.Function

// describe turns a server's tools into functions. A tool that cannot be a
// function is left out, with a warning that says why: a name that is not
// one (the plugin name rules, which keep it usable in a URL and on a
// command line, and away from the protocol's "$/" methods), a second
// tool of the same name, or a schema that is not a JSON object, does not
// compile, or whose input is not an object (MCP's arguments always are).
// What is left the socket checks again against its limits.
func describe(tools []*mcp.Tool, log *slog.Logger) toolSet {
	fns := make(toolSet, len(tools))
	for _, t := range tools {
		fn, err := function(t)
		if err == nil {
			if _, dup := fns[t.Name]; dup {
				err = errors.New("a second tool of that name")
			}
		}
		if err != nil {
			log.Warn("plugsock: MCP tool left out", "tool", clip(t.Name), "reason", err)
			continue
		}
		fns[t.Name] = fn
	}
	return fns
}

// function is the description of one tool: its inputSchema and
// outputSchema as they are, but for the tool's description, which becomes
// the input schema's description when it has none, so that those who read
// the function (plugsock describe, the console, OpenRPC) read it too.
func function(t *mcp.Tool) (typedesc.Function, error) {
	if err := names.Check(t.Name); err != nil {
		return typedesc.Function{}, fmt.Errorf("not a function name: %w", err)
	}
	in, err := schema(t.InputSchema, t.Description)
	if err != nil {
		return typedesc.Function{}, fmt.Errorf("inputSchema: %w", err)
	}
	if in == nil {
		in = json.RawMessage(`{"type":"object"}`)
	}
	fn := typedesc.Function{Name: t.Name, InputSchema: in}
	if !fn.ObjectInput() {
		return typedesc.Function{}, errors.New(`inputSchema: its "type" is not "object"`)
	}
	fn.InputSchema = nullable(in)
	if fn.OutputSchema, err = schema(t.OutputSchema, ""); err != nil {
		return typedesc.Function{}, fmt.Errorf("outputSchema: %w", err)
	}
	for _, raw := range []json.RawMessage{fn.InputSchema, fn.OutputSchema} {
		if raw == nil {
			continue
		}
		if _, err := typedesc.CompileSchema(raw); err != nil {
			return typedesc.Function{}, err
		}
	}
	return fn, nil
}

// schema encodes a schema as the go-sdk decoded it, with description added
// when it has none; nil for none.
func schema(v any, description string) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %T", v)
	}
	c := make(map[string]any, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	if _, has := c["description"]; !has && description != "" {
		c["description"] = description
	}
	return json.Marshal(c)
}

// nullable makes an input schema of "type" "object" take null too: a call
// without a payload is a tools/call without arguments ({}), as a Go
// plugin's schema takes null for an input it decodes as the zero value.
func nullable(raw json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	var one string
	var many []string
	switch {
	case json.Unmarshal(m["type"], &one) == nil && one == "object":
		many = []string{"object", "null"}
	case json.Unmarshal(m["type"], &many) == nil && slices.Contains(many, "object") && !slices.Contains(many, "null"):
		many = append(many, "null")
	default:
		return raw
	}
	m["type"], _ = json.Marshal(many)
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

// equal reports whether two tool sets describe the same functions.
func (a toolSet) equal(b toolSet) bool {
	if len(a) != len(b) {
		return false
	}
	for name, fa := range a {
		fb, ok := b[name]
		if !ok || string(fa.InputSchema) != string(fb.InputSchema) || string(fa.OutputSchema) != string(fb.OutputSchema) {
			return false
		}
	}
	return true
}

// result turns a tools/call result into a function's: structuredContent
// when there is some, else the text of the text content (one text as it
// is, several joined by newlines), else the content as MCP has it, a list
// of content objects (an image, a resource). isError is the function's
// own error (-32000) with the text, and the structuredContent, if any, as
// its data.
func result(res *mcp.CallToolResult) (any, *envelope.Error) {
	if res.IsError {
		e := &envelope.Error{Code: envelope.CodeMethodError, Message: text(res.Content)}
		if e.Message == "" {
			e.Message = "the tool reported an error"
		}
		if res.StructuredContent != nil {
			if data, err := json.Marshal(res.StructuredContent); err == nil {
				e.Data = data
			}
		}
		return nil, e
	}
	if res.StructuredContent != nil {
		return res.StructuredContent, nil
	}
	if len(res.Content) == 0 {
		return nil, nil
	}
	for _, c := range res.Content {
		if _, ok := c.(*mcp.TextContent); !ok {
			return res.Content, nil
		}
	}
	return text(res.Content), nil
}

// text is the text of the text content in content, joined by newlines.
func text(content []mcp.Content) string {
	var b strings.Builder
	for _, c := range content {
		if t, ok := c.(*mcp.TextContent); ok {
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

// callError is the answer to a tools/call that failed without a result:
// the server's JSON-RPC error with its code when it is one of JSON-RPC's
// own (-32601 for an unknown tool, -32602 for arguments it refuses,
// -32603), and -32000 with its message otherwise, since MCP's codes and
// plugsock's overlap with other meanings (-32001 is a timeout to MCP's
// TypeScript SDK, a taken name to plugsock). Any other failure is the
// server's connection's, -32603.
func callError(tool string, err error) *envelope.Error {
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		code := we.Code
		switch code {
		case jsonrpc.CodeMethodNotFound, jsonrpc.CodeInvalidParams, jsonrpc.CodeInternalError:
		default:
			code = envelope.CodeMethodError
		}
		return &envelope.Error{Code: code, Message: we.Message, Data: we.Data}
	}
	return envelope.Errorf(envelope.CodeInternalError, "%s: MCP server: %v", tool, err)
}

// clip shortens what a server sent for a log line.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
