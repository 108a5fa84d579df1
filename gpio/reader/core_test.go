package reader

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lintel-access/lintel/gpio/wiegand"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const card1 = "10000000100000000000000010" // H10301 1/1

func newTestCore(t *testing.T) *core {
	t.Helper()
	dec, err := wiegand.NewDecoder(wiegand.DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: "front", StuckLow: DefaultStuckLow, RejectBurst: 3, RejectWindow: 10 * time.Second}
	return newCore(cfg, dec, t0.Add(-time.Hour))
}

// send feeds a frame's pulses at 2 ms per bit from at and expires it.
func send(c *core, bits string, at time.Time) time.Time {
	for i := range len(bits) {
		l := wiegand.Line(bits[i] - '0')
		tb := at.Add(time.Duration(i) * 2 * time.Millisecond)
		c.edge(wiegand.Edge{Line: l, Time: tb})
		c.edge(wiegand.Edge{Line: l, Rising: true, Time: tb.Add(50 * time.Microsecond)})
	}
	end := at.Add(time.Duration(len(bits)) * 2 * time.Millisecond).Add(10 * time.Millisecond)
	c.tick(end)
	return end
}

func eventKinds(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+" "+e.Cause)
	}
	return out
}

func TestCoreRejectBurst(t *testing.T) {
	c := newTestCore(t)
	at := t0
	for range 2 {
		at = send(c, "101", at.Add(time.Second))
	}
	if len(c.events) != 0 {
		t.Fatalf("fault after 2 rejects: %v", eventKinds(c.events))
	}
	at = send(c, "101", at.Add(time.Second))
	if diff := cmp.Diff([]string{"reader.fault reject_burst"}, eventKinds(c.events)); diff != "" {
		t.Fatalf("events mismatch (-want +got):\n%s", diff)
	}
	if got := c.events[0]; got.Name != NameFault || got.Detail != "3 rejected frames within 10s, last: length" {
		t.Errorf("fault event = %+v", got)
	}
	c.events = nil
	send(c, card1, at.Add(time.Second))
	if diff := cmp.Diff([]string{"reader.fault_cleared reject_burst"}, eventKinds(c.events)); diff != "" {
		t.Fatalf("an accepted frame should clear the fault (-want +got):\n%s", diff)
	}
	if len(c.frames) != 4 || !c.frames[3].OK() {
		t.Errorf("frames = %d, last %+v; want 4 with an accepted card last", len(c.frames), c.frames[len(c.frames)-1])
	}
}

func TestCoreRejectsSpreadOut(t *testing.T) {
	c := newTestCore(t)
	at := t0
	for range 5 {
		at = send(c, "101", at.Add(6*time.Second))
	}
	if len(c.events) != 0 {
		t.Fatalf("rejects 6 s apart with a 10 s window of 3 raised %v", eventKinds(c.events))
	}
}

func TestCoreRejectBurstClearsAfterWindow(t *testing.T) {
	c := newTestCore(t)
	at := t0
	for range 3 {
		at = send(c, "11", at.Add(time.Second))
	}
	c.tick(at.Add(9 * time.Second))
	if len(c.activeFaults()) != 1 {
		t.Fatalf("fault cleared before the window passed")
	}
	c.tick(at.Add(11 * time.Second))
	if diff := cmp.Diff([]string{"reader.fault reject_burst", "reader.fault_cleared reject_burst"}, eventKinds(c.events)); diff != "" {
		t.Fatalf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestCoreStuckLine(t *testing.T) {
	c := newTestCore(t)
	c.edge(wiegand.Edge{Line: wiegand.D1, Time: t0})
	c.tick(t0.Add(DefaultStuckLow - time.Millisecond))
	if len(c.events) != 0 {
		t.Fatalf("fault before StuckLow: %v", eventKinds(c.events))
	}
	c.tick(t0.Add(DefaultStuckLow + 100*time.Millisecond))
	c.tick(t0.Add(DefaultStuckLow + 200*time.Millisecond))
	want := []Fault{{Cause: CauseD1StuckLow, Detail: "D1 held low for 600ms", Since: t0.Add(DefaultStuckLow + 100*time.Millisecond)}}
	if diff := cmp.Diff(want, c.activeFaults()); diff != "" {
		t.Fatalf("faults mismatch (-want +got):\n%s", diff)
	}
	c.edge(wiegand.Edge{Line: wiegand.D1, Rising: true, Time: t0.Add(time.Second)})
	if diff := cmp.Diff([]string{"reader.fault d1_stuck_low", "reader.fault_cleared d1_stuck_low"}, eventKinds(c.events)); diff != "" {
		t.Fatalf("events mismatch (-want +got):\n%s", diff)
	}
	if len(c.activeFaults()) != 0 {
		t.Errorf("faults after release: %v", c.activeFaults())
	}
}

func TestCoreStuckAtStartClearsOnLevelRead(t *testing.T) {
	c := newTestCore(t)
	c.framer.SetLevels(true, false, t0)
	now := t0.Add(time.Second)
	if !c.lineLowLong(now) {
		t.Fatalf("lineLowLong = false with D0 low for 1 s")
	}
	c.tick(now)
	c.framer.SetLevels(false, false, now)
	c.tick(now.Add(time.Millisecond))
	if diff := cmp.Diff([]string{"reader.fault d0_stuck_low", "reader.fault_cleared d0_stuck_low"}, eventKinds(c.events)); diff != "" {
		t.Fatalf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestFrameInfoRedactsKeys(t *testing.T) {
	dec, err := wiegand.NewDecoder(wiegand.DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	key := dec.Decode("10100101")
	key.End = t0
	got := frameInfo(key)
	want := FrameInfo{Time: t0, Bits: "xxxxxxxx", Length: 8, ParityOK: true, Format: "KEY8", Kind: "key"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frameInfo mismatch (-want +got):\n%s", diff)
	}
	card := frameInfo(dec.Decode(card1))
	if diff := cmp.Diff(FrameInfo{Bits: card1, Length: 26, ParityOK: true, Format: "H10301", Kind: "card", Facility: 1, Number: 1}, card, cmpopts.IgnoreFields(FrameInfo{}, "Time")); diff != "" {
		t.Errorf("frameInfo card mismatch (-want +got):\n%s", diff)
	}
}
