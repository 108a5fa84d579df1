package gateway

import "testing"

func TestClockTrustIsCachedAndRechecked(t *testing.T) {
	var c clockTrust
	first := c.Trusted()
	if got := c.Trusted(); got != first {
		t.Fatalf("Trusted changed from %v to %v within a second with nothing checked", first, got)
	}
	c.trusted.Store(true)
	if !c.Trusted() {
		t.Fatal("a clock once trusted must stay trusted without asking the kernel")
	}
}
