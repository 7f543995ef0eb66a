// Package h1 is the HTTP/1.1 server of cairn's client API: a lean path for
// the plain requests that make up almost all of the traffic, and net/http
// for everything else.
//
// Each connection has one goroutine, which reads a request head into a
// 4 KiB buffer, parses it, reads a small body into memory, runs the
// handler and sends the buffered answer with one write. There is no
// per-request goroutine, context, timer or deadline, and no read of the
// connection while the handler runs. On the benchmark box this costs
// about half of net/http's server CPU per request (see
// docs/performance.md).
//
// A request the lean path does not serve is handed, with its connection
// and whatever of it was already read, to an http.Server with the same
// handler, which then serves that connection to its end: methods other
// than GET, PUT, POST and DELETE, versions other than HTTP/1.1, heads that
// do not fit the buffer or have unusual bytes or line endings, bodies over
// 64 KiB, Transfer-Encoding, Expect, Upgrade and Pragma headers, a missing
// or repeated Host, a repeated or malformed Content-Length, and requests
// net/http also
// answers every malformed request, so the errors are exactly its errors.
//
// What a handler sees on the lean path differs from net/http's in two
// ways. The request body is already in memory. The request's context is
// never cancelled, except for the requests that Options.Long picks (cairn's
// watches): for those, as net/http does for every request, the connection
// is read while the handler runs, and the context ends when the client goes
// away.
package h1
