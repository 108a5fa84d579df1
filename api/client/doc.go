// Package client is a Go client for Lintel's REST API v1, used by the lintel
// CLI and by tests. Every method takes a context; errors the API answered
// are *[Error] values carrying its code and message, so callers can branch
// on the code and print the message as the API stated it.
//
// A Client never sends its token over plain HTTP to a host that is not this
// machine (a loopback address or localhost) unless InsecureToken is set: such
// a request fails with [ErrPlainTextToken] before anything is sent.
//
// A Client is safe for concurrent use.
package client
