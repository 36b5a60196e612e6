// Package msgbuf lets the code that decodes a request's input hand the
// request's buffer back to package envelope's pool of large buffers once
// nothing will read the request's params again, without envelope
// exporting a way to do that to everyone.
package msgbuf

// Release, set by package envelope, gives back the buffer the params of
// m, an *envelope.Envelope, were read into; m's Params are nil
// afterwards. It does nothing for a message that holds no such buffer.
var Release = func(m any) {}
