package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// handler calls t's function for tools/call.
//
// What the plugin answers becomes the tool's result; what went wrong
// before the function could run is a JSON-RPC error:
//
//   - invalid params (arguments that are not an object, a wrapped input
//     without its "value", or a payload the function's schema or the
//     plugin refuses, -32602), and a tool whose plugin or function is gone
//     (-32602, as MCP answers an unknown tool), are JSON-RPC errors;
//   - everything the function did is a result: its output, or, with
//     isError set, its error's message (code -32000 or one of the
//     plugin's own), a panic, a timeout, a plugin that was overloaded or
//     lost during the call.
func (s *Server) handler(t *tool) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		payload, err := t.payload(req.Params.Arguments)
		if err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %s: %v", t.name, err)}
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if req.Extra != nil {
			if hctx := s.streamContext(req.Extra.Header); hctx != nil {
				defer context.AfterFunc(hctx, cancel)()
			}
		}
		var fwd *progressForwarder
		if token := req.Params.GetProgressToken(); token != nil && req.Session != nil {
			fwd = startProgress(ctx, req.Session, token)
			ctx = socket.WithProgress(ctx, fwd.report)
		}
		var out json.RawMessage
		err = s.s.CallContext(ctx, t.plugin, t.function, payload, &out)
		// No report may follow the answer.
		fwd.stop()
		if err != nil && ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
			// The client cancelled, or its request went away: nobody
			// reads an answer.
			return nil, ctx.Err()
		}
		return t.result(out, err)
	}
}

// payload is the input to send for a call's arguments: the arguments
// themselves for an object input, their "value" for a wrapped one; nil
// (no params) when there are none.
func (t *tool) payload(args json.RawMessage) (any, error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		if t.wrapped {
			return nil, errors.New(`missing argument "value": this tool takes its input as {"value": ...}`)
		}
		return nil, nil
	}
	if args[0] != '{' {
		return nil, fmt.Errorf("arguments must be a JSON object, not %s", kind(args[0]))
	}
	if !t.wrapped {
		return args, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(args, &m); err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	v, ok := m["value"]
	if !ok {
		return nil, errors.New(`missing argument "value": this tool takes its input as {"value": ...}`)
	}
	for k := range m {
		if k != "value" {
			return nil, fmt.Errorf(`unknown argument %s: this tool takes its input as {"value": ...} alone`, clipQuote(k))
		}
	}
	return v, nil
}

// kind names the JSON value that starts with c.
func kind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// clipQuote quotes a client's text for a message, cut to a readable
// length.
func clipQuote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// result is the tool result for the plugin's answer.
func (t *tool) result(out json.RawMessage, err error) (*sdk.CallToolResult, error) {
	if err != nil {
		var rpc *envelope.Error
		switch {
		case errors.As(err, &rpc) && rpc.Code == envelope.CodeInvalidParams,
			!errors.As(err, &rpc) && errors.Is(err, envelope.ErrInvalidParams):
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
		case errors.Is(err, socket.ErrNoPlugin),
			errors.As(err, &rpc) && rpc.Code == envelope.CodeMethodNotFound,
			!errors.As(err, &rpc) && errors.Is(err, envelope.ErrMethodNotFound):
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q: %v", t.name, err)}
		}
		return errorResult(err.Error()), nil
	}
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	res := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(out)}}}
	object := out[0] == '{'
	if t.objectOut && !object {
		return errorResult(fmt.Sprintf("%s.%s answered %s, which is not the object its outputSchema describes", t.plugin, t.function, clip(out))), nil
	}
	if object {
		res.StructuredContent = out
	}
	return res, nil
}

func errorResult(msg string) *sdk.CallToolResult {
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: msg}}}
}

// clip shortens JSON quoted in a message.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// progressForwarder passes a plugin's progress reports on a call to the
// MCP client. The socket hands reports over on the plugin's read loop,
// which must not wait for a client; so report keeps only the latest
// report and a goroutine of the call's sends it. Reports that arrive
// faster than the client takes them are merged into the latest, which
// is all a progress bar shows. The goroutine ends with stop, which the
// call runs before it answers.
type progressForwarder struct {
	mu      sync.Mutex
	params  sdk.ProgressNotificationParams
	pending bool
	stopped bool
	wake    chan struct{} // one token: a report is pending
	quit    chan struct{}
	done    chan struct{}
}

func startProgress(ctx context.Context, ss *sdk.ServerSession, token any) *progressForwarder {
	f := &progressForwarder{wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	f.params.ProgressToken = token
	go func() {
		defer close(f.done)
		for {
			select {
			case <-f.quit:
				return
			case <-f.wake:
			}
			f.mu.Lock()
			if f.stopped || !f.pending {
				f.mu.Unlock()
				continue
			}
			p := f.params
			f.pending = false
			f.mu.Unlock()
			_ = ss.NotifyProgress(ctx, &p)
		}
	}()
	return f
}

func (f *progressForwarder) report(progress, total float64, message string) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	f.params.Progress, f.params.Total, f.params.Message = progress, total, message
	f.pending = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stop ends the forwarding and waits for a report being sent; nil does
// nothing.
func (f *progressForwarder) stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	already := f.stopped
	f.stopped = true
	f.mu.Unlock()
	if !already {
		close(f.quit)
	}
	<-f.done
}
