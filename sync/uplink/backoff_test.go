package uplink

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const lo, hi = 500 * time.Millisecond, 60 * time.Second
	tests := []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0, 250 * time.Millisecond},
		{1, 0.999999, 499999750 * time.Nanosecond},
		{2, 0, 500 * time.Millisecond},
		{2, 0.5, 750 * time.Millisecond},
		{3, 0, time.Second},
		{7, 0, 16 * time.Second},
		{8, 0, 30 * time.Second}, // 64 s ceiling capped at 60 s
		{9, 0.5, 45 * time.Second},
		{1000, 0.999999, 59999970 * time.Microsecond},
		{0, 0, 250 * time.Millisecond},  // treated as the first failure
		{-5, 0, 250 * time.Millisecond}, // likewise
	}
	for _, tc := range tests {
		got := backoff(tc.attempt, lo, hi, tc.r)
		if got != tc.want {
			t.Errorf("backoff(%d, %v, %v, %v) = %v, want %v", tc.attempt, lo, hi, tc.r, got, tc.want)
		}
	}
}

// TestBackoffBounds checks every wait lies within half the ceiling and the
// ceiling, and that the ceiling never passes hi, for any attempt count.
func TestBackoffBounds(t *testing.T) {
	for _, lim := range []struct{ lo, hi time.Duration }{
		{time.Millisecond, time.Second},
		{time.Second, time.Second},
		{3 * time.Nanosecond, 7 * time.Nanosecond},
		{DefaultBackoffMin, DefaultBackoffMax},
	} {
		for attempt := 1; attempt < 200; attempt++ {
			for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
				got := backoff(attempt, lim.lo, lim.hi, r)
				if got < lim.lo/2 || got > lim.hi {
					t.Fatalf("backoff(%d, %v, %v, %v) = %v: outside [%v, %v]", attempt, lim.lo, lim.hi, r, got, lim.lo/2, lim.hi)
				}
			}
		}
	}
}
