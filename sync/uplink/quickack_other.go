//go:build !linux

package uplink

import "net"

// quickAck returns c unchanged: TCP_QUICKACK is Linux's, the system Lintel
// runs on; a build for another system (a developer's laptop) keeps that
// system's delayed ACKs. See quickack_linux.go for why Linux sets it.
func quickAck(c net.Conn) net.Conn { return c }
