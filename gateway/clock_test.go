package gateway

import (
	"testing"
	"time"

	"github.com/lintel-access/lintel/gpio/clock/clocktest"
)

// clockRig is a clock trust on a fake clock and a fake kernel flag, with
// its saves recorded.
type clockRig struct {
	clk    *clocktest.Fake
	synced bool
	asks   int
	saves  []time.Time
	c      *clockTrust
}

func newClockRig(start, last time.Time) *clockRig {
	r := &clockRig{clk: clocktest.New(start)}
	r.c = &clockTrust{now: r.clk.Now, lastTrusted: last, saved: last,
		synced: func(time.Time) bool { r.asks++; return r.synced },
		save:   func(t time.Time) error { r.saves = append(r.saves, t); return nil }}
	return r
}

func (r *clockRig) refresh(t *testing.T) (trusted, changed bool) {
	t.Helper()
	st, changed, err := r.c.refresh()
	if err != nil {
		t.Fatal(err)
	}
	if st.Trusted != r.c.Trusted() {
		t.Fatalf("refresh said %v, Trusted says %v", st.Trusted, r.c.Trusted())
	}
	return st.Trusted, changed
}

var noon = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// TestWrongClockNeverSynchronised: a clock the kernel has not said is
// synchronised is untrusted, and the kernel is asked at most once a second
// until it says so, then not again.
func TestWrongClockNeverSynchronised(t *testing.T) {
	r := newClockRig(noon, time.Time{})
	if trusted, changed := r.refresh(t); trusted || !changed {
		t.Fatalf("first refresh unsynchronised: trusted %v changed %v, want false, true", trusted, changed)
	}
	r.refresh(t)
	r.clk.Advance(500 * time.Millisecond)
	r.refresh(t)
	if r.asks != 1 {
		t.Errorf("asked the kernel %d times within a second, want once", r.asks)
	}
	r.synced = true
	r.clk.Advance(time.Second)
	if trusted, changed := r.refresh(t); !trusted || !changed {
		t.Fatalf("after synchronising: trusted %v changed %v", trusted, changed)
	}
	r.synced = false // the kernel's flag comes and goes; the clock does not
	r.clk.Advance(time.Hour)
	if trusted, _ := r.refresh(t); !trusted || r.asks != 2 {
		t.Errorf("an hour later: trusted %v after %d asks, want true after 2", trusted, r.asks)
	}
}

// TestWrongClockBehindTheLastTrustedTime: a Pi that comes back from a power
// cut at an old time, even one the kernel calls synchronised, is untrusted
// until it has caught up with the time it last knew to be right.
func TestWrongClockBehindTheLastTrustedTime(t *testing.T) {
	last := noon.Add(72 * time.Hour)
	r := newClockRig(noon, last)
	r.synced = true
	if trusted, _ := r.refresh(t); trusted {
		t.Fatalf("a clock three days behind the last trusted time is trusted")
	}
	if st := r.c.state; !st.LastTrusted.Equal(last) {
		t.Errorf("LastTrusted = %v, want the persisted %v", st.LastTrusted, last)
	}
	r.clk.Set(last.Add(-clockBehindSlack + time.Second)) // within the slack of a small NTP step
	if trusted, changed := r.refresh(t); !trusted || !changed {
		t.Errorf("caught up within the slack: trusted %v changed %v", trusted, changed)
	}
}

// TestWrongClockBefore2026: a clock before the floor is never trusted,
// whatever the kernel says.
func TestWrongClockBefore2026(t *testing.T) {
	r := newClockRig(time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC), time.Time{})
	r.synced = true
	if trusted, _ := r.refresh(t); trusted {
		t.Fatal("a clock in 1970 is trusted")
	}
}

// TestClockSavesTheLatestTrustedTimeOnceAMinute: while trusted, the time
// is saved at the first refresh and then at most once a minute.
func TestClockSavesTheLatestTrustedTimeOnceAMinute(t *testing.T) {
	r := newClockRig(noon, time.Time{})
	r.synced = true
	for range 180 {
		r.refresh(t)
		r.clk.Advance(time.Second)
	}
	want := []time.Time{noon, noon.Add(time.Minute), noon.Add(2 * time.Minute)}
	if len(r.saves) != len(want) {
		t.Fatalf("saved %v, want %v", r.saves, want)
	}
	for i := range want {
		if !r.saves[i].Equal(want[i]) {
			t.Errorf("save %d at %v, want %v", i, r.saves[i], want[i])
		}
	}
}
