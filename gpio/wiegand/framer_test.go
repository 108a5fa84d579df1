package wiegand

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// pulses returns the edges of bits sent from at, one pulse of width every
// interval.
func pulses(bits string, at time.Time, interval, width time.Duration) []Edge {
	var out []Edge
	for i := range len(bits) {
		l := Line(bits[i] - '0')
		start := at.Add(time.Duration(i) * interval)
		out = append(out, Edge{Line: l, Time: start}, Edge{Line: l, Rising: true, Time: start.Add(width)})
	}
	return out
}

// run feeds edges to f, expiring frames as a reader loop would (before each
// edge and once at the end), and returns every frame closed.
func run(f *Framer, edges []Edge, end time.Time) []Frame {
	var out []Frame
	for _, e := range edges {
		if d, ok := f.Deadline(); ok && !e.Time.Before(d) {
			if fr, ok := f.Expire(d); ok {
				out = append(out, fr)
			}
		}
		if fr, ok := f.Edge(e); ok {
			out = append(out, fr)
		}
	}
	if fr, ok := f.Expire(end); ok {
		out = append(out, fr)
	}
	return out
}

func newTestFramer(t testing.TB, cfg FramerConfig, dcfg DecoderConfig) *Framer {
	t.Helper()
	d, err := NewDecoder(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	return NewFramer(cfg, d, t0.Add(-time.Second))
}

// summary is the part of a frame the framer tests compare.
type summary struct {
	Bits   string
	Format string
	Reject Cause
}

func summarize(frames []Frame) []summary {
	var out []summary
	for _, f := range frames {
		out = append(out, summary{f.Bits, f.Format, f.Reject})
	}
	return out
}

const card1 = "10000000100000000000000010" // H10301 1/1

func TestFramer(t *testing.T) {
	ms := time.Millisecond
	us := time.Microsecond
	join := func(parts ...[]Edge) []Edge {
		var out []Edge
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name  string
		edges []Edge
		want  []summary
	}{
		{"one card", pulses(card1, t0, 2*ms, 50*us), []summary{{card1, "H10301", ""}}},
		{"two cards 10 ms apart", join(pulses(card1, t0, 2*ms, 50*us), pulses(card1, t0.Add(60*ms), 2*ms, 50*us)),
			[]summary{{card1, "H10301", ""}, {card1, "H10301", ""}}},
		{"fast reader 250 us", pulses(card1, t0, 250*us, 40*us), []summary{{card1, "H10301", ""}}},
		{"slow reader 6 ms", pulses(card1, t0, 6*ms, 100*us), []summary{{card1, "H10301", ""}}},
		{"keypad bursts 4-bit", join(pulses("0001", t0, 2*ms, 50*us), pulses("1011", t0.Add(300*ms), 2*ms, 50*us)),
			[]summary{{"0001", "KEY4", ""}, {"1011", "KEY4", ""}}},
		{"25 bits", pulses(card1[:25], t0, 2*ms, 50*us), []summary{{card1[:25], "", CauseLength}}},
		{"27 bits", pulses(card1+"1", t0, 2*ms, 50*us), []summary{{card1 + "1", "", CauseLength}}},
		{"noise pulse between cards", join(
			pulses(card1, t0, 2*ms, 50*us),
			pulses("1", t0.Add(80*ms), 0, 5*us),
			pulses(card1, t0.Add(150*ms), 2*ms, 50*us)),
			[]summary{{card1, "H10301", ""}, {"1", "", CauseLength}, {card1, "H10301", ""}}},
		{"bad parity", pulses("00000000100000000000000010", t0, 2*ms, 50*us),
			[]summary{{"00000000100000000000000010", "H10301", CauseParity}}},
		{"both lines low together", join(pulses(card1[:10], t0, 2*ms, 50*us),
			[]Edge{{Line: D0, Time: t0.Add(20 * ms)}, {Line: D1, Time: t0.Add(20*ms + 10*us)}, {Line: D0, Rising: true, Time: t0.Add(20*ms + 50*us)}, {Line: D1, Rising: true, Time: t0.Add(20*ms + 60*us)}},
			pulses(card1[12:], t0.Add(22*ms), 2*ms, 50*us)),
			[]summary{{card1[:10] + "01" + card1[12:], "H10301", CauseBothLow}}},
		{"over 64 bits", pulses(strings.Repeat("10", 40), t0, 2*ms, 50*us), []summary{{strings.Repeat("10", 32), "", CauseLength}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFramer(t, FramerConfig{}, DecoderConfig{})
			got := run(f, tt.edges, t0.Add(time.Hour))
			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("frames mismatch (-want +got):\n%s", diff)
			}
			var c Counters
			for _, fr := range got {
				c.Count(fr.Reject)
			}
			if diff := cmp.Diff(c, f.Counters()); diff != "" {
				t.Errorf("counters mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFramerAdaptiveGap(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		cfg      FramerConfig
		interval time.Duration
		bits     int
		want     time.Duration // deadline after the last bit
	}{
		{"first bit waits MaxGap", FramerConfig{}, 2 * ms, 1, DefaultMaxGap},
		{"2 ms reader: 1.5 x 2 ms, MinGap", FramerConfig{}, 2 * ms, 5, 3 * ms},
		{"4 ms reader: 1.5 x 4 ms", FramerConfig{}, 4 * ms, 5, 6 * ms},
		{"fast reader clamps to MinGap", FramerConfig{}, 500 * time.Microsecond, 5, DefaultMinGap},
		{"20 ms reader clamps to MaxGap", FramerConfig{}, 20 * ms, 5, DefaultMaxGap},
		{"configured factor and bounds", FramerConfig{GapFactor: 5, MinGap: ms, MaxGap: 50 * ms}, 2 * ms, 5, 10 * ms},
		{"MaxGap below MinGap is raised", FramerConfig{MinGap: 8 * ms, MaxGap: 2 * ms}, 2 * ms, 5, 8 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFramer(t, tt.cfg, DecoderConfig{})
			if _, ok := f.Deadline(); ok {
				t.Fatalf("Deadline before any bit: ok true, want false")
			}
			edges := pulses(strings.Repeat("1", tt.bits), t0, tt.interval, 10*time.Microsecond)
			run(f, edges, t0)
			d, ok := f.Deadline()
			last := t0.Add(time.Duration(tt.bits-1) * tt.interval)
			if !ok || d.Sub(last) != tt.want {
				t.Errorf("deadline = last bit + %v (ok %v), want + %v", d.Sub(last), ok, tt.want)
			}
			if _, ok := f.Expire(d.Add(-time.Nanosecond)); ok {
				t.Errorf("Expire just before the deadline closed the frame")
			}
			if _, ok := f.Expire(d); !ok {
				t.Errorf("Expire at the deadline did not close the frame")
			}
		})
	}
}

func TestFramerPartialFirstFrame(t *testing.T) {
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f := NewFramer(FramerConfig{}, d, t0)
	edges := pulses(card1, t0.Add(time.Millisecond), 2*time.Millisecond, 50*time.Microsecond)
	edges = append(edges, pulses(card1, t0.Add(200*time.Millisecond), 2*time.Millisecond, 50*time.Microsecond)...)
	got := summarize(run(f, edges, t0.Add(time.Hour)))
	want := []summary{{card1, "H10301", CausePartial}, {card1, "H10301", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames mismatch (-want +got):\n%s", diff)
	}
	if c := f.Counters(); c.Partial != 1 || c.Accepted != 1 {
		t.Errorf("counters = %+v, want 1 partial and 1 accepted", c)
	}
}

func TestFramerEdgeClosesLateFrame(t *testing.T) {
	f := newTestFramer(t, FramerConfig{}, DecoderConfig{})
	for _, e := range pulses(card1, t0, 2*time.Millisecond, 50*time.Microsecond) {
		if _, ok := f.Edge(e); ok {
			t.Fatalf("a frame closed mid-card at %v", e.Time)
		}
	}
	fr, ok := f.Edge(Edge{Line: D1, Time: t0.Add(time.Second)})
	if !ok || fr.Bits != card1 || !fr.OK() {
		t.Fatalf("late edge closed %+v (ok %v), want the card", fr, ok)
	}
	if want := t0.Add(25 * 2 * time.Millisecond); !fr.End.Equal(want) || !fr.Start.Equal(t0) {
		t.Errorf("frame spans %v..%v, want %v..%v", fr.Start, fr.End, t0, want)
	}
}

func TestFramerLowSince(t *testing.T) {
	f := newTestFramer(t, FramerConfig{}, DecoderConfig{})
	f.SetLevels(true, false, t0)
	if since, low := f.LowSince(D0); !low || !since.Equal(t0) {
		t.Errorf("LowSince(D0) = %v, %v; want %v, true", since, low, t0)
	}
	f.Edge(Edge{Line: D0, Rising: true, Time: t0.Add(time.Second)})
	if _, low := f.LowSince(D0); low {
		t.Errorf("D0 still low after a rising edge")
	}
	f.Edge(Edge{Line: D1, Time: t0.Add(2 * time.Second)})
	if since, low := f.LowSince(D1); !low || !since.Equal(t0.Add(2*time.Second)) {
		t.Errorf("LowSince(D1) = %v, %v; want the falling edge's time", since, low)
	}
}

// pulsesAt returns the edges of bits, bit i falling at t0+starts[i] and
// rising width later.
func pulsesAt(bits string, starts []time.Duration, width time.Duration) []Edge {
	var out []Edge
	for i := range len(bits) {
		l := Line(bits[i] - '0')
		at := t0.Add(starts[i])
		out = append(out, Edge{Line: l, Time: at}, Edge{Line: l, Rising: true, Time: at.Add(width)})
	}
	return out
}

// every returns n bit start times interval apart from from.
func every(n int, from, interval time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = from + time.Duration(i)*interval
	}
	return out
}

// TestFramerEndOfFrame checks the end-of-frame rule at its edges with the
// default config: a frame ends once the lines stay quiet for 1.5 times the
// longest interval between its bits, at least 3 ms and at most 25 ms.
func TestFramerEndOfFrame(t *testing.T) {
	ms := time.Millisecond
	us := time.Microsecond
	card2, err := EncodeCard("H10301", 255, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A 2 ms reader's card whose 14th bit comes late by lateBy.
	late := func(lateBy time.Duration) []time.Duration {
		s := every(26, 0, 2*ms)
		for i := 13; i < 26; i++ {
			s[i] += lateBy
		}
		return s
	}
	lastBit := 25 * 2 * ms // of a 2 ms reader's 26-bit card from t0
	tests := []struct {
		name  string
		edges []Edge
		want  []summary
	}{
		{"slowest legal reader, 20 ms a bit", pulses(card1, t0, 20*ms, 100*us),
			[]summary{{card1, "H10301", ""}}},
		{"20 ms reader starting at 14 ms a bit", pulsesAt(card1, append(every(2, 0, 14*ms), every(24, 34*ms, 20*ms)...), 100*us),
			[]summary{{card1, "H10301", ""}}},
		{"2 ms reader, a bit just under 1.5 intervals after the last", pulsesAt(card1, late(999*us), 50*us),
			[]summary{{card1, "H10301", ""}}},
		{"2 ms reader, a bit 1.5 intervals after the last starts a frame", pulsesAt(card1, late(ms), 50*us),
			[]summary{{card1[:13], "", CauseLength}, {card1[13:], "", CauseLength}}},
		{"6 ms reader, a bit 8.9 ms after the last", pulsesAt(card1, append(every(13, 0, 6*ms), every(13, 72*ms+8900*us, 6*ms)...), 100*us),
			[]summary{{card1, "H10301", ""}}},
		{"two cards back to back, one gap apart", append(pulses(card1, t0, 2*ms, 50*us), pulses(card2, t0.Add(lastBit+3*ms), 2*ms, 50*us)...),
			[]summary{{card1, "H10301", ""}, {card2, "H10301", ""}}},
		{"two cards less than a gap apart are one frame", append(pulses(card1, t0, 2*ms, 50*us), pulses(card2, t0.Add(lastBit+3*ms-time.Nanosecond), 2*ms, 50*us)...),
			[]summary{{card1 + card2, "", CauseLength}}},
		{"a lone glitch waits MaxGap and is its own frame", append(pulses("1", t0, 0, 5*us), pulses(card1, t0.Add(25*ms), 2*ms, 50*us)...),
			[]summary{{"1", "", CauseLength}, {card1, "H10301", ""}}},
		{"a glitch 3 ms after a card's last bit does not touch the card", append(pulses(card1, t0, 2*ms, 50*us), pulses("0", t0.Add(lastBit+3*ms), 0, 5*us)...),
			[]summary{{card1, "H10301", ""}, {"0", "", CauseLength}}},
		{"glitches 1 to 30 ms apart never make a card", pulsesAt("1011001", []time.Duration{0, ms, 31 * ms, 33 * ms, 60 * ms, 61 * ms, 90 * ms}, 10*us),
			[]summary{{"10", "", CauseLength}, {"11", "", CauseLength}, {"00", "", CauseLength}, {"1", "", CauseLength}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFramer(t, FramerConfig{}, DecoderConfig{})
			got := run(f, tt.edges, t0.Add(time.Hour))
			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("frames mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFramerSteadyReaderProperty: whatever a reader's bit interval between
// 0.2 and 20 ms, with each interval up to 15% off it, and whatever its
// frames (1 to 64 bits), frames that follow each other after at least the
// documented gap come out whole, one for one, with the times of their first
// and last bits.
func TestFramerSteadyReaderProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		interval := time.Duration(rapid.Int64Range(int64(200*time.Microsecond), int64(20*time.Millisecond)).Draw(rt, "interval"))
		width := time.Duration(rapid.Int64Range(int64(interval/20), int64(interval/4)).Draw(rt, "width"))
		frames := rapid.SliceOfN(rapid.StringMatching(`[01]{1,64}`), 1, 5).Draw(rt, "frames")

		d, err := NewDecoder(DecoderConfig{PINBuffer: true})
		if err != nil {
			rt.Fatal(err)
		}
		f := NewFramer(FramerConfig{}, d, t0.Add(-time.Hour))
		var edges []Edge
		type span struct{ first, last time.Time }
		var spans []span
		at := t0
		for fi, bits := range frames {
			bit := at
			var longest time.Duration
			for i := range len(bits) {
				if i > 0 {
					pct := rapid.Int64Range(85, 115).Draw(rt, "percent")
					iv := interval * time.Duration(pct) / 100
					longest = max(longest, iv)
					bit = bit.Add(iv)
				}
				l := Line(bits[i] - '0')
				edges = append(edges, Edge{Line: l, Time: bit}, Edge{Line: l, Rising: true, Time: bit.Add(width)})
			}
			spans = append(spans, span{at, bit})
			gap := DefaultMaxGap
			if len(bits) > 1 {
				gap = min(max(time.Duration(DefaultGapFactor*float64(longest)), DefaultMinGap), DefaultMaxGap)
			}
			extra := time.Duration(rapid.Int64Range(0, int64(50*time.Millisecond)).Draw(rt, fmt.Sprintf("extra%d", fi)))
			at = bit.Add(gap + extra)
		}
		got := run(f, edges, at.Add(time.Hour))
		if len(got) != len(frames) {
			rt.Fatalf("sent %d frames, got %d: %+v", len(frames), len(got), summarize(got))
		}
		for i, fr := range got {
			if fr.Bits != frames[i] || fr.Len != len(frames[i]) {
				rt.Errorf("frame %d: got %q (%d bits), want %q", i, fr.Bits, fr.Len, frames[i])
			}
			if !fr.Start.Equal(spans[i].first) || !fr.End.Equal(spans[i].last) {
				rt.Errorf("frame %d spans %v..%v, want %v..%v", i, fr.Start, fr.End, spans[i].first, spans[i].last)
			}
		}
	})
}
