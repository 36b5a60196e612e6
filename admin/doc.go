// Package admin serves an HTTP admin API and a web console for a
// socket.Socket, and is a client of that API.
//
// A host mounts a Server next to its Socket:
//
//	var s socket.Socket
//	s.Serve(pluginListener)
//
//	a := admin.New(&s, admin.Config{Token: token})
//	go a.Forward(ctx) // or call a.Publish for each item of s.Async()
//	srv := a.HTTPServer() // timeouts and limits; closes event streams on Shutdown
//	go srv.Serve(admin.LimitListener(adminListener, admin.DefaultMaxConns)) // e.g. net.Listen("tcp", "127.0.0.1:7701")
//
// The console at / lists plugins as they come and go, shows each
// function's input and output, calls functions with a JSON payload and
// streams events. The API under /api/ does the same for programs:
//
//	GET    /api/health                         {"plugins": n, ...}
//	GET    /api/plugins                        {"plugins": [{"name", "version"}, ...]}
//	GET    /api/plugins/{name}                 the plugin's info with its functions
//	GET    /api/plugins/{name}/openrpc         an OpenRPC 1.3 document of its functions
//	POST   /api/plugins/{name}/call/{method}   body: payload -> {"result": ...}
//	POST   /api/broadcast/{method}             body: payload -> {"results": {name: ...}}
//	DELETE /api/plugins/{name}                 unplug it -> 204
//	GET    /api/events                         server-sent events
//	GET    /api/streams                        {"streams": [{"plugin", "method", "sent", ...}, ...]}
//	GET    /api/exits                          {"exits": [{"plugin", "pid", "status", "stderr", ...}, ...]}
//
// Every error is answered with {"error": {"code": C, "message": M}}: C is
// the JSON-RPC code when the error came from a plugin or the wire (-32000
// for a method's own error, whose message is passed on unchanged) and 0
// otherwise; the HTTP status tells the kind (404 unknown plugin or
// function, 400 invalid params, 422 a method's error whatever its code,
// 500 a panic, 504 timeout, ...).
// docs/admin-api.md lists every route, status and body.
//
// Calls honour the request: a client that hangs up cancels the call in
// the plugin, and ?timeout=5s bounds it. Calls go through the socket
// (Socket.CallContext) and are checked as it checks them: against the
// function's schema before they are sent when it validates
// (socket.Config.Validation), and by the plugin otherwise. Bodies are
// capped at MaxBodySize.
//
// # Events
//
// The Socket has one Async queue and one reader: the host. The Server
// never reads it; the host passes each item to Publish, or runs Forward
// when it has no other use for the queue. Publish never blocks: a stream
// that falls behind loses events and is told how many with a comment
// line. Streams end when the client goes away or on Close.
//
// # Safety
//
// The API can call, broadcast to and unplug any plugin. Every request is
// checked before it reaches a route: its Host must name the server
// (loopback names and addresses, the address it was accepted on, and
// Config.Hosts), which stops DNS rebinding; a browser request from
// another site is refused (net/http.CrossOriginProtection, GETs included
// under /api/); and with Config.Token every API route wants
// "Authorization: Bearer <token>". Methods starting with "$/" are the
// protocol's own and are refused. Server.HTTPServer and LimitListener
// bound what slow, idle and numerous clients can hold. The console loads
// nothing from elsewhere, runs under a strict Content-Security-Policy,
// and keeps the token it was opened with (?token=) for its tab only.
//
// Client speaks the API from Go; its errors are *APIError values that
// errors.Is matches against the envelope sentinels.
package admin
