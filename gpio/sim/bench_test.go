package sim_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gpio/door"
	"github.com/lintel-access/lintel/gpio/reader"
	"github.com/lintel-access/lintel/gpio/sim"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// BenchmarkLastBitToUnlock swipes H10301 cards on a simulated reader at
// standard timing (50 µs pulses every 2 ms) and measures, from the start of
// the card's last bit, when the reader delivers the frame and when the
// door's relay is driven to unlock. Run it with -benchtime=200x or more for
// stable percentiles; the budget is p99 ≤ 10 ms to unlock.
func BenchmarkLastBitToUnlock(b *testing.B) {
	for _, tm := range []struct {
		name   string
		timing sim.Timing
	}{
		{"50us-2ms", sim.Timing{}},
		{"50us-2ms-jitter200us", sim.Timing{Jitter: 200 * time.Microsecond}},
	} {
		b.Run(tm.name, func(b *testing.B) {
			benchLatency(b, tm.timing)
		})
	}
}

func benchLatency(b *testing.B, timing sim.Timing) {
	relay := sim.NewOutput("relay")
	d, err := door.New(door.Config{Name: "front", Relay: relay})
	if err != nil {
		b.Fatal(err)
	}
	unlocks := relay.Watch()
	s, err := sim.NewReader(sim.ReaderConfig{Timing: timing, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	r, err := reader.New(reader.Config{Name: "front"}, s.Lines())
	if err != nil {
		b.Fatal(err)
	}
	frames := make(chan time.Duration, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, func(f wiegand.Frame) {
			frames <- time.Since(f.End)
			if err := d.Grant(); err != nil {
				b.Errorf("grant: %v", err)
			}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("reader: %v", err)
		}
	}()
	<-r.Ready()
	var frameLat, unlockLat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		if err := s.SendCard(ctx, "H10301", 1, uint64(i%65536)); err != nil {
			b.Fatal(err)
		}
		last := s.LastBit()
		select {
		case lat := <-frames:
			frameLat = append(frameLat, lat)
		case <-time.After(10 * time.Second):
			b.Fatalf("no frame; reader status %+v", r.Status())
		}
		select {
		case c := <-unlocks:
			if !c.High {
				b.Fatalf("relay change %+v is not an unlock", c)
			}
			unlockLat = append(unlockLat, c.Time.Sub(last))
		case <-time.After(10 * time.Second):
			b.Fatalf("no unlock")
		}
		if err := d.Secure(); err != nil {
			b.Fatal(err)
		}
		<-unlocks // the relock
	}
	b.StopTimer()
	report(b, "frame", frameLat)
	report(b, "unlock", unlockLat)
}

func report(b *testing.B, what string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := min(int(p*float64(len(lat))), len(lat)-1)
		return float64(lat[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), what+"-p50-ms")
	b.ReportMetric(pct(0.99), what+"-p99-ms")
}
