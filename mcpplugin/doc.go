// Package mcpplugin plugs Model Context Protocol servers into a plugsock
// socket as plugins: a server's tools become a plugin's functions, which
// Socket.Call, Broadcast, the admin API, plugsock call and the console
// call like any other.
//
// A server that runs as a program, speaking MCP over its standard input
// and output, is launched by the socket like a plugin executable, with
// the Launch option; one reached by URL, over MCP's Streamable HTTP
// transport, is plugged in with Dial:
//
//	name, err := s.Launch(ctx, exec.Command("npx", "-y", "@modelcontextprotocol/server-everything"),
//		mcpplugin.Launch(mcpplugin.Config{Name: "everything"}),
//		socket.LaunchConfig{RestartLimit: 3})
//
//	r, err := mcpplugin.Dial(ctx, s, "https://mcp.example.com/mcp", mcpplugin.Config{Name: "remote"})
//
// The MCP client is the official Go SDK's (github.com/modelcontextprotocol/go-sdk).
//
// # The mapping
//
// Each tool is a function of the same name. Its inputSchema is the
// function's inputSchema, with the tool's description as its description
// when it has none, and its outputSchema, when it has one, the function's
// outputSchema: the socket compiles both, and with Config.Validation checks
// every call's arguments against the input schema before they reach the
// server. A tool that cannot be a function is left out, with a warning in
// the log: its name breaks the plugin name rules (docs/protocol.md; MCP's
// own recommended names all keep them), another tool has the same name, or
// a schema does not compile or its input is not an object.
//
// A call is a tools/call with the function's input as the arguments
// (null as {}; anything but an object is refused with -32602). Its
// result is the tool's structuredContent when it has some, else the text
// of its text content (several texts joined by newlines), else its content
// as MCP has it, a list of content objects. A result with isError is the
// function's own error, -32000, whose message is the text and whose data
// is the structuredContent, if any. A JSON-RPC error from the server keeps
// its code when it is one of JSON-RPC's own (-32601, -32602, -32603) and is
// -32000 otherwise; a lost server is -32603. A call the host cancels (its
// caller gave up, or its deadline passed) is cancelled on the server with
// notifications/cancelled; a call made with socket.WithProgress asks the
// server for progress (a progressToken), and its notifications/progress
// reach the caller.
//
// The plugin's name is Config.Name, or else the server's own
// (serverInfo.name); its version Config.Version, or else the server's.
//
// # Changes to the tools
//
// A plugin describes its functions once, in its handshake, and the socket
// has no other way to learn new ones. So when the server sends
// notifications/tools/list_changed, the bridge lists the tools again and,
// when they differ, leaves the socket in good order (the calls in flight
// finish, within Config.LeaveTimeout) and handshakes again, at once, with
// the new list: the socket reports a graceful disconnect and a connect,
// and the plugin keeps its name and, for Launch, its process.
//
// # Limits
//
// A server's messages are bounded (Config.MaxMessageSize), and so are
// the tools taken from it (Config.MaxTools) and the time it has to answer
// initialize and tools/list (Config.Timeout); a server past any of them
// fails with an error that names the limit, and a launched one is killed.
// The socket's own limits on descriptions apply on top (docs/protocol.md,
// "Limits on descriptions"). docs/mcp.md, "MCP servers as plugins", has the whole story.
package mcpplugin
