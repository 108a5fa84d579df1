package wiegand

import (
	"testing"
	"time"
)

// BenchmarkDecode measures decoding alone, per format.
func BenchmarkDecode(b *testing.B) {
	for _, v := range []vector{
		{format: "H10301", bits: "10111011000000110010000110"},
		{format: "C1k48", bits: "010000000000000001110110000000000000110010000110"},
		{format: "KEY8", bits: "10100101"},
	} {
		b.Run(v.format, func(b *testing.B) {
			d := decoderFor(b, v)
			for b.Loop() {
				if fr := d.Decode(v.bits); !fr.OK() {
					b.Fatalf("Decode(%s) rejected: %s", v.bits, fr.Reject)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkFramer measures a whole frame through the framer: 26 bits of
// falling and rising edges, then the end-of-frame decision and decode.
func BenchmarkFramer(b *testing.B) {
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	f := NewFramer(FramerConfig{}, d, t0.Add(-time.Hour))
	edges := pulses(card1, t0, 2*time.Millisecond, 50*time.Microsecond)
	span := time.Second
	i := 0
	for b.Loop() {
		shift := time.Duration(i) * span
		for _, e := range edges {
			e.Time = e.Time.Add(shift)
			f.Edge(e)
		}
		dl, _ := f.Deadline()
		if fr, ok := f.Expire(dl); !ok || !fr.OK() {
			b.Fatalf("frame %d not decoded: %+v", i, fr)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
