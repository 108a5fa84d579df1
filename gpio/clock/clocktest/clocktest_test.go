package clocktest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFakeFiresInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(start)
	var got []string
	c.AfterFunc(3*time.Second, func() { got = append(got, "3s") })
	stopped := c.AfterFunc(2*time.Second, func() { got = append(got, "2s stopped") })
	c.AfterFunc(time.Second, func() {
		got = append(got, "1s")
		c.AfterFunc(500*time.Millisecond, func() { got = append(got, "1.5s at "+c.Now().Sub(start).String()) })
	})
	if !stopped.Stop() {
		t.Fatalf("Stop of a pending timer = false")
	}
	if stopped.Stop() {
		t.Fatalf("second Stop = true")
	}
	c.Advance(2 * time.Second)
	if diff := cmp.Diff([]string{"1s", "1.5s at 1.5s"}, got); diff != "" {
		t.Errorf("fired mismatch (-want +got):\n%s", diff)
	}
	if c.Pending() != 1 {
		t.Errorf("Pending = %d, want 1", c.Pending())
	}
	c.Advance(time.Second)
	if len(got) != 3 || got[2] != "3s" {
		t.Errorf("after 3s got %v", got)
	}
	if want := start.Add(3 * time.Second); !c.Now().Equal(want) {
		t.Errorf("Now = %v, want %v", c.Now(), want)
	}
}
