package wiegand

import (
	"strings"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary strings to a decoder of every format: it must
// never panic, and whatever it accepts must encode back to the same bits.
func FuzzDecode(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.bits)
	}
	f.Add("")
	f.Add("10x1")
	f.Add(strings.Repeat("1", 70))
	decoders := map[string]*Decoder{}
	for _, info := range Formats() {
		cfg := DecoderConfig{Formats: []string{info.Name}}
		if info.Name == "PIN26" {
			cfg = DecoderConfig{Formats: []string{"H10301"}, PINBuffer: true}
		}
		d, err := NewDecoder(cfg)
		if err != nil {
			f.Fatal(err)
		}
		decoders[info.Name] = d
	}
	f.Fuzz(func(t *testing.T, bits string) {
		for name, d := range decoders {
			fr := d.Decode(bits)
			if !fr.OK() {
				continue
			}
			var again string
			var err error
			if fr.Kind == KindKey {
				var bursts []string
				bursts, err = EncodeKeys(fr.Format, string(fr.Key))
				again = strings.Join(bursts, "")
			} else {
				again, err = EncodeCard(fr.Format, fr.Facility, fr.Number)
			}
			if err != nil {
				t.Fatalf("%s accepted %q as %+v but cannot encode it: %v", name, bits, fr, err)
			}
			if again != bits {
				t.Fatalf("%s: %q decoded to %+v which encodes to %q", name, bits, fr, again)
			}
		}
	})
}

// FuzzEncodeCard checks every format's encoder against its decoder for any
// facility and number the encoder accepts.
func FuzzEncodeCard(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.format, v.facility, v.number)
	}
	f.Fuzz(func(t *testing.T, format string, facility uint32, number uint64) {
		bits, err := EncodeCard(format, facility, number)
		if err != nil {
			return
		}
		canon, _ := CanonicalFormat(format)
		cfg := DecoderConfig{Formats: []string{canon}}
		if canon == "PIN26" {
			cfg = DecoderConfig{PINBuffer: true}
		}
		d, err := NewDecoder(cfg)
		if err != nil {
			t.Fatal(err)
		}
		fr := d.Decode(bits)
		if !fr.OK() || fr.Format != canon || fr.Facility != facility || fr.Number != number {
			t.Fatalf("EncodeCard(%s, %d, %d) = %s decodes to %+v", format, facility, number, bits, fr)
		}
	})
}

// FuzzFramer drives the framer with arbitrary edge sequences, each byte one
// edge: bit 0 the line, bit 1 rising, the rest the delay since the last edge
// in 100 µs steps. It must never panic, every bit must land in exactly one
// frame, and the counters must match the frames returned.
func FuzzFramer(f *testing.F) {
	f.Add(encodeEdges(pulses(card1, t0, 2*time.Millisecond, 50*time.Microsecond)))
	f.Add(encodeEdges(pulses("0001", t0, 2*time.Millisecond, 50*time.Microsecond)))
	f.Add([]byte{0, 1, 0, 1, 255, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := NewDecoder(DecoderConfig{PINBuffer: true})
		if err != nil {
			t.Fatal(err)
		}
		fr := NewFramer(FramerConfig{}, d, t0)
		now := t0
		var edges []Edge
		falling := 0
		for _, b := range data {
			now = now.Add(time.Duration(b>>2) * 100 * time.Microsecond)
			e := Edge{Line: Line(b & 1), Rising: b&2 != 0, Time: now}
			edges = append(edges, e)
			if !e.Rising {
				falling++
			}
		}
		frames := run(fr, edges, now.Add(time.Hour))
		bits := 0
		var c Counters
		for _, frame := range frames {
			bits += frame.Len
			c.Count(frame.Reject)
			if frame.OK() && frame.Reject != "" {
				t.Fatalf("frame %+v is OK with a reject cause", frame)
			}
		}
		if bits != falling {
			t.Fatalf("frames hold %d bits, fed %d falling edges", bits, falling)
		}
		if c != fr.Counters() {
			t.Fatalf("counters %+v, frames say %+v", fr.Counters(), c)
		}
	})
}

func encodeEdges(edges []Edge) []byte {
	var out []byte
	last := edges[0].Time
	for _, e := range edges {
		b := byte(e.Line)
		if e.Rising {
			b |= 2
		}
		steps := e.Time.Sub(last) / (100 * time.Microsecond)
		out = append(out, b|byte(min(steps, 63))<<2)
		last = e.Time
	}
	return out
}

// FuzzParseBits checks ParseBits never panics and accepts exactly the
// strings of 1 to 64 '0'/'1' characters.
func FuzzParseBits(f *testing.F) {
	f.Add("1011")
	f.Add("")
	f.Add("10 1")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseBits(s)
		valid := len(s) >= 1 && len(s) <= MaxBits && strings.Trim(s, "01") == ""
		if valid != (err == nil) || (err == nil && got != s) {
			t.Fatalf("ParseBits(%q) = %q, %v; valid %v", s, got, err, valid)
		}
	})
}
