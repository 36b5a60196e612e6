// Package msgbuf lets the code that serves a request tell package
// envelope what it is done with, without envelope exporting a way to do
// that to everyone: the request's buffer once nothing will read its
// params again, and the whole request once nothing will read it at all.
package msgbuf

// Release, set by package envelope, gives back the buffer the params of
// m, an *envelope.Envelope, were read into; m's Params are nil
// afterwards. It does nothing for a message that holds no such buffer.
var Release = func(m any) {}

// Spent, set by package envelope, tells the read loop that called the
// Handler with m, an *envelope.Envelope, that nothing will read m again,
// nor anything it points to but its strings, once the Handler returns:
// the read loop may then reuse its memory for a later message. Only the
// Handler may call it, on the goroutine it was called on, and only if no
// goroutine it started still holds m.
var Spent = func(m any) {}
