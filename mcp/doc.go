// Package mcp serves the plugins of a socket.Socket to Model Context
// Protocol clients (modelcontextprotocol.io): every function of every
// connected plugin is an MCP tool, and a tool call is a call to the
// plugin. It is built on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk).
//
// A host mounts a Server next to its Socket, and hands it the socket's
// async items, from which it learns of connects:
//
//	var s socket.Socket
//	s.Serve(pluginListener)
//
//	m := mcp.New(&s, mcp.Config{Tools: []string{"calc.*", "kv.Get"}})
//	defer m.Close()
//	go func() {
//		for {
//			item, err := s.Async()
//			if err != nil {
//				return
//			}
//			m.Publish(item) // and admin.Server.Publish, and the host's own use
//		}
//	}()
//	http.Handle("/mcp", m) // behind authentication: see ServeHTTP
//
// or serves one client on its stdin and stdout:
//
//	err := m.ServeStdio(ctx, os.Stdin, os.Stdout)
//
// plugsock serve mounts it at /mcp on the admin address, behind the admin
// token; plugsock mcp relays a stdio client to that.
//
// # Tools
//
// The function Add of the plugin calc is the tool "calc.Add". MCP allows
// only [A-Za-z0-9_.-] in tool names, at most 128 of them: ToolName says
// how other names are written ("calc@2.0.0" is "calc_v2.0.0"). Two
// functions whose names map to one tool name are both left out, and
// logged, so that no plugin can take the place of another's tool (tool
// shadowing). Config.Tools chooses which functions are tools; by default
// all are, except the protocol's own ("$/…").
//
// A tool's inputSchema is its function's input schema when the input is
// an object (the rule by which the socket sends params by name,
// typedesc.Function.ObjectInput), with the top-level type "object". Any
// other input is wrapped: the tool takes {"value": input}, and its schema
// is {"type":"object","properties":{"value": S},"required":["value"]}.
// The outputSchema is the function's output schema when that describes an
// object that is never null; such a tool's result has the output as its
// structuredContent. Every result has the output's JSON as text, and an
// object output as structuredContent; other outputs (numbers, strings,
// arrays, null) are the text alone, since MCP's structuredContent is an
// object.
//
// # Calls
//
// A tool call is Socket.CallContext: checked against the function's
// schema first when the socket validates (socket.Config.Validation), and
// by the plugin otherwise. The method's own error (code -32000, or a code
// of the plugin's) is a result with isError and the method's message, as
// are panics, timeouts and a plugin lost during the call: the model reads
// them. A tool that is gone, and invalid params, are JSON-RPC errors
// (-32602).
//
// A call with a progressToken gets the plugin's progress reports
// (plugin.Progress) as notifications/progress. notifications/cancelled,
// the end of the session, or the HTTP request of the call closing cancels
// the plugin's call: its method's context ends.
//
// When plugins connect or leave, clients are sent
// notifications/tools/list_changed (once for a burst of changes).
//
// # Protocol versions
//
// The SDK negotiates the version: 2024-11-05 to 2025-11-25 with a
// session over HTTP (Mcp-Session-Id), and 2026-07-28, which has none, on
// the same handler. Config.MaxSessions bounds the sessions held; a
// message is at most MaxMessageSize.
package mcp
