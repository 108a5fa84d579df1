//go:build !linux

package uplink

import "testing"

// TestQuickAckIsANoOpOffLinux: without TCP_QUICKACK, a TCP connection is
// returned as it is.
func TestQuickAckIsANoOpOffLinux(t *testing.T) {
	client, _ := tcpPair(t)
	if got := quickAck(client); got != client {
		t.Errorf("quickAck(%T) = %T, want the connection itself", client, got)
	}
}
